"""The import vocabulary (vocabulary.toml beside this module), loaded once: header aliases,
what a question asks about, answer labels with their scales, missing-answer codes and
personal-data headers. Everything is matched on folded text (names.folded / names.tokens)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cxdata.importing.names import folded, tokens

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.toml")
SCORE_ASKS: dict[str, str] = {"nps": "recommend", "csat": "satisfied", "ces": "easy"}
"""What the question of each score asks about ([asks] in the vocabulary file)."""


@dataclass(frozen=True)
class Aliases:
    """How headers name a field: whole headers (`phrases`, folded words joined by _), single
    words anywhere in the header (`words`), or word beginnings (`stems`)."""

    phrases: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    stems: tuple[str, ...] = ()

    def match(self, header_tokens: list[str]) -> int:
        """2 for a whole-header match, 1 for a word or stem match, 0 for none."""
        if "_".join(header_tokens) in self.phrases:
            return 2
        if any(t in self.words or (self.stems and t.startswith(self.stems)) for t in header_tokens):
            return 1
        return 0


@dataclass(frozen=True)
class LabelScale:
    """Text answers of one scale: `points[i]` are the folded labels of the value
    `scale[0] + i`; `none` are answers meaning no rating was given; `measure` is what the
    scale measures (csat, ces, rating, yes_no)."""

    name: str
    measure: str
    scale: tuple[int, int]
    points: tuple[frozenset[str], ...]
    none: frozenset[str]

    def values(self) -> dict[str, int]:
        """Folded label → its value on the scale."""
        return {
            label: self.scale[0] + i for i, labels in enumerate(self.points) for label in labels
        }


@dataclass(frozen=True)
class Vocabulary:
    """The parsed vocabulary file."""

    fields: dict[str, dict[str, Aliases]]
    segments: dict[str, Aliases]
    asks: dict[str, Aliases]
    labels: tuple[LabelScale, ...]
    missing_texts: frozenset[str]
    missing_numbers: tuple[float, ...]
    personal: dict[str, Aliases]
    channels: dict[str, str]


def _words(text: str) -> list[str]:
    return text.split()


def _aliases(entry: dict[str, Any] | str) -> Aliases:
    if isinstance(entry, str):
        return Aliases(frozenset(_words(entry)))
    return Aliases(
        frozenset(_words(entry.get("phrases", ""))),
        frozenset(_words(entry.get("words", ""))),
        tuple(_words(entry.get("stems", ""))),
    )


def label_key(text: str) -> str:
    """The form answer labels are compared in: folded, spaces collapsed, trailing dots and
    leading numbering ("5 - Very satisfied", "5. Very satisfied") removed."""
    key = " ".join(folded(str(text)).replace("’", "'").split()).strip(" .")
    parts = key.split(" ", 1)
    if len(parts) == 2 and parts[0].rstrip(".-:)").isdigit() and parts[1][:1] not in "0123456789":
        key = parts[1].lstrip(" -:=.)")
    return key


def parse_vocabulary(data: dict[str, Any]) -> Vocabulary:
    """A Vocabulary from the TOML document's data; KeyError/ValueError name what is wrong."""
    asks = data["asks"]
    labels = []
    for entry in data["labels"]:
        low, high = (int(x) for x in entry["scale"])
        points = tuple(frozenset(label_key(x) for x in point) for point in entry["points"])
        if len(points) != high - low + 1:
            raise ValueError(f"labels {entry['name']!r}: {len(points)} points for {low}-{high}")
        labels.append(
            LabelScale(
                name=entry["name"],
                measure=entry["measure"],
                scale=(low, high),
                points=points,
                none=frozenset(label_key(x) for x in entry.get("none", [])),
            )
        )
    asked = {
        name: Aliases(
            words=frozenset(_words(asks.get(f"{name}_words", ""))),
            stems=tuple(_words(asks[name])),
        )
        for name in ("recommend", "satisfied", "easy")
    }
    fields = {
        dataset: {name: _aliases(v) for name, v in entries.items()}
        for dataset, entries in data["fields"].items()
    }
    for name, what in SCORE_ASKS.items():  # a score's header may be its question
        own = fields["responses"][name]
        fields["responses"][name] = Aliases(
            own.phrases, own.words | asked[what].words, own.stems + asked[what].stems
        )
    return Vocabulary(
        fields=fields,
        segments={name: _aliases(v) for name, v in data["segments"].items()},
        asks=asked,
        labels=tuple(labels),
        missing_texts=frozenset(
            label_key(t) for t in data["missing"]["texts"].replace("\n", "").split("|") if t
        ),
        missing_numbers=tuple(float(x) for x in data["missing"]["numbers"]),
        personal={name: _aliases(v) for name, v in data["personal"].items()},
        channels={
            label_key(word): channel
            for channel, words in data["channels"].items()
            for word in words.split("|")
        },
    )


@cache
def vocabulary() -> Vocabulary:
    """The vocabulary file, parsed once per process."""
    with VOCABULARY_FILE.open("rb") as f:
        return parse_vocabulary(tomllib.load(f))


def asks_about(text: str, what: str) -> bool:
    """Whether a header or question text asks about `what` (recommend, satisfied, easy)."""
    return vocabulary().asks[what].match(tokens(text)) > 0


def channel_name(text: str) -> str | None:
    """The contract's channel for a channel name as an export writes it ("Website" → "web",
    "Phone call (incoming)" → "phone"), or None when unknown."""
    return vocabulary().channels.get(label_key(text))
