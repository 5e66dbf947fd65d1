"""Which canonical field or segment name a header gives: alias matches (vocabulary.toml),
known segment names, and safe identifiers for the rest."""

from __future__ import annotations

import re

from cxdata import schema
from cxdata.importing.mapping import FIELDS, RATING, SPLIT, TEXT, VALUE
from cxdata.importing.names import identifier, tokens
from cxdata.importing.vocab import Aliases, vocabulary


def candidates(header: str, aliases: dict[str, Aliases]) -> list[str]:
    """The fields whose aliases match the header, whole-header matches first."""
    words = tokens(header)
    scored = [(a.match(words), i, name) for i, (name, a) in enumerate(aliases.items())]
    return [name for score, _, name in sorted(scored, key=lambda s: (-s[0], s[1])) if score]


def known_segment(header: str) -> str | None:
    """The canonical segment a header names ("Regija" → region), or None."""
    words = tokens(last_part(header))
    return next((n for n, a in vocabulary().segments.items() if a.match(words) == 2), None)


def last_part(header: str) -> str:
    """'person_properties.Plan' → 'Plan': a property path names its last part."""
    return header.rsplit(".", 1)[-1] if re.fullmatch(r"[\w.]+\.[A-Za-z]\w*", header) else header


def segment_name(header: str, dataset: str = schema.RESPONSES) -> str:
    """A segment identifier that cannot be mistaken for a field: "NPS" (text) → "nps_segment"."""
    name = identifier(last_part(header))[:40].rstrip("_") or "segment"
    reserved = (*FIELDS[dataset], RATING, VALUE, TEXT, SPLIT)
    if name in reserved or name.startswith(schema.EXTRA_TEXT_PREFIX):
        return f"{name}_segment"
    return name
