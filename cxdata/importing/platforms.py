"""Which survey platform or review site wrote an export, from its headers (platforms.toml),
and the profile that comes with it: id column, response-time column and its day/month
order, metadata columns to leave out."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cxdata.importing.names import tokens

PLATFORMS_FILE = Path(__file__).with_name("platforms.toml")


@dataclass(frozen=True)
class Platform:
    """One platform's fingerprint and profile (headers as `header_key` gives them)."""

    key: str
    label: str
    fingerprint: frozenset[str]
    min_hits: int
    requires: frozenset[str] = frozenset()
    first_header: str | None = None
    id: tuple[str, ...] = ()
    id_scope: str | None = None
    date: tuple[str, ...] = ()
    date_order: str | None = None
    leave_out: frozenset[str] = frozenset()
    customer: tuple[str, ...] = ()
    long_score: str | None = None
    long_type: str | None = None

    def hits(self, keys: list[str]) -> int:
        """How many fingerprint headers `keys` holds; 0 when a required one is missing."""
        present = set(keys)
        if not self.requires <= present:
            return 0
        if self.first_header is not None and (not keys or keys[0] != self.first_header):
            return 0
        return len(self.fingerprint & present)

    def first(self, candidates: tuple[str, ...], headers: list[str]) -> str | None:
        """The first header, in the profile's order of preference, among `candidates`."""
        by_key = {header_key(h): h for h in reversed(headers)}
        return next((by_key[c] for c in candidates if c in by_key), None)


def header_key(header: str) -> str:
    """A header as the platform file writes it: folded words joined by _ ('#' stays '#')."""
    return "_".join(tokens(header)) or header.strip()


@cache
def platforms() -> tuple[Platform, ...]:
    """Every platform of platforms.toml, in file order."""
    with PLATFORMS_FILE.open("rb") as f:
        data = tomllib.load(f)
    out = []
    for key, entry in data.items():
        out.append(
            Platform(
                key=key,
                label=entry["label"],
                fingerprint=frozenset(entry["fingerprint"]),
                min_hits=int(entry["min_hits"]),
                requires=frozenset(entry.get("requires", [])),
                first_header=entry.get("first_header"),
                id=tuple(entry.get("id", [])),
                id_scope=entry.get("id_scope"),
                date=tuple(entry.get("date", [])),
                date_order=entry.get("date_order"),
                leave_out=frozenset(entry.get("leave_out", [])),
                customer=tuple(entry.get("customer", [])),
                long_score=entry.get("long_score"),
                long_type=entry.get("long_type"),
            )
        )
    return tuple(out)


def recognise(headers: list[str]) -> Platform | None:
    """The platform whose fingerprint `headers` match best (at least its `min_hits`
    headers), or None."""
    keys = [header_key(h) for h in headers]
    scored = [(p.hits(keys), -i, p) for i, p in enumerate(platforms())]
    best = max(((h, i, p) for h, i, p in scored if h >= p.min_hits), default=None)
    return best[2] if best else None


def by_key(key: str | None) -> Platform | None:
    """The platform with this key (as stored in a mapping), or None."""
    return next((p for p in platforms() if p.key == key), None)


def platform_label(key: str | None) -> str | None:
    """The display name of a platform key ("surveymonkey" → "SurveyMonkey"), or None."""
    platform = by_key(key)
    return platform.label if platform else None
