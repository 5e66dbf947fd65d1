"""Errors that carry a message meant for the person using the product.

In the web app no message may show where things are on the server: inside
`shown_on_the_web(data_dir)` (dashboard.py wraps every script run in it) str(error) gives
the error's `web` line when it has one, and otherwise its line with absolute paths
replaced — the data directory by "the data directory", a path inside it by its name there,
any other path by its file name. Outside (CLI, scripts, logs) the full line is kept.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_WEB_ROOTS: ContextVar[tuple[str, ...] | None] = ContextVar("cx_web_roots", default=None)
# An absolute POSIX path (not the "//host/db" of a URL, not "and/or" or "1/2"), or a
# Windows drive path; it ends at whitespace, quotes or punctuation that does not occur in
# the paths this product makes.
_ABSOLUTE = re.compile(
    r"(?<![\w.:/~@-])/[^\s\"'`,;:()<>\[\]{}]+|(?<![\w])[A-Za-z]:\\[^\s\"'`,;()<>\[\]{}]+"
)


class CxError(Exception):
    """Base class: str(error) is one clear line for the user.

    `web` is the line to show in the web app instead, when the message names server paths
    the web form can say better than by dropping them (see the module docstring)."""

    def __init__(self, *args: object, web: str | None = None) -> None:
        super().__init__(*args)
        self.web = web

    def __str__(self) -> str:
        text = super().__str__()
        roots = _WEB_ROOTS.get()
        if roots is None:
            return text
        return without_paths(self.web if self.web is not None else text, roots)


class NoData(CxError):
    """The store has no such dataset yet."""


class UnknownName(CxError):
    """A dimension, metric or option that does not exist; names the allowed ones."""

    def __init__(self, kind: str, name: str, allowed: Iterable[str]) -> None:
        self.kind, self.name, self.allowed = kind, name, sorted(allowed)
        super().__init__(f"unknown {kind} {name!r}; allowed: {', '.join(self.allowed) or 'none'}")


class StoreBusy(CxError):
    """Another process holds the embedded database for writing."""


class StoreDamaged(CxError):
    """The embedded database file cannot be read (truncated, overwritten, corrupt)."""


@contextmanager
def shown_on_the_web(*data_dirs: str | Path) -> Iterator[None]:
    """Within the block (one web script run), error messages carry no server paths."""
    roots = {str(p) for d in data_dirs for p in (Path(d).absolute(), Path(d).resolve())}
    token = _WEB_ROOTS.set(tuple(sorted(roots, key=len, reverse=True)))
    try:
        yield
    finally:
        _WEB_ROOTS.reset(token)


def display_text(exc: BaseException) -> str:
    """What to show of any exception: str(exc), without server paths in the web app (a
    CxError does that itself; this also covers e.g. a ValueError naming a file)."""
    text = str(exc)
    roots = _WEB_ROOTS.get()
    return text if roots is None else without_paths(text, roots)


def without_paths(text: str, roots: Iterable[str] = ()) -> str:
    """`text` with absolute paths replaced: a path in `roots` (data directories) by "the
    data directory", a path inside one by "NAME in the data directory", any other path by
    its file name."""
    roots = tuple(sorted((r.rstrip("/\\") for r in roots), key=len, reverse=True))

    def replace(match: re.Match[str]) -> str:
        path = match.group(0)
        tail = ""
        while path and path[-1] in ".!?":
            path, tail = path[:-1], path[-1] + tail
        for root in roots:
            if path.rstrip("/\\") == root:
                return "the data directory" + tail
            if path.startswith((root + "/", root + "\\")):
                return f"{path[len(root) + 1 :]} in the data directory{tail}"
        name = re.split(r"[/\\]", path.rstrip("/\\"))[-1]
        return (name or "a server path") + tail

    return _ABSOLUTE.sub(replace, text)


def did_you_mean(key: str, allowed: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for the closest of `allowed` to a mistyped `key`, else ''."""
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_key(raw: Mapping[str, object], allowed: Sequence[str], where: str) -> str | None:
    """The message for the first key of a configuration table `raw` not in `allowed`
    ("<where>: unknown key 'x' (did you mean 'y'?); allowed: …"), None when all are known.
    Each configuration file raises it as its own error (fail closed)."""
    for key in raw:
        if key not in allowed:
            return (f"{where}: unknown key {key!r}{did_you_mean(key, allowed)}; "
                    f"allowed: {', '.join(allowed)}")
    return None
