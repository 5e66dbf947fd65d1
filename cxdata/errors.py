"""Errors that carry a message meant for the person using the product."""

from __future__ import annotations

from collections.abc import Iterable


class CxError(Exception):
    """Base class: str(error) is one clear line for the user."""


class NoData(CxError):
    """The store has no such dataset yet."""


class UnknownName(CxError):
    """A dimension, metric or option that does not exist; names the allowed ones."""

    def __init__(self, kind: str, name: str, allowed: Iterable[str]) -> None:
        self.kind, self.name, self.allowed = kind, name, sorted(allowed)
        super().__init__(f"unknown {kind} {name!r}; allowed: {', '.join(self.allowed) or 'none'}")


class StoreBusy(CxError):
    """Another process holds the embedded database for writing."""
