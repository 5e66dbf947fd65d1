"""Which language a comment is written in, detected offline.

Detection uses py3langid (BSD-3-Clause): a naive-Bayes byte n-gram model shipped inside the
package (`py3langid/data/model.npz.xz`), so nothing is downloaded. The candidates are
restricted to CANDIDATES — the analysed languages plus a few neighbours, so that a German or
Croatian comment is not forced into Danish or Slovenian. Norwegian Nynorsk ("nn") and
Bokmål are both reported as "no".

A text with fewer than MIN_LETTERS letters, or whose best language has a probability below
MIN_CONFIDENCE (over the candidates, py3langid's length-calibrated softmax), is
undecidable: its language is None, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

ANALYSED: tuple[str, ...] = ("en", "no", "da", "sv", "sl")
"""Languages with stop words, taxonomy keywords and lemmatisation: themes are computed."""
NAMES: dict[str, str] = {
    "en": "English", "no": "Norwegian", "da": "Danish", "sv": "Swedish", "sl": "Slovenian",
    "de": "German", "fi": "Finnish", "is": "Icelandic", "nl": "Dutch", "fr": "French",
    "es": "Spanish", "it": "Italian", "pl": "Polish", "hr": "Croatian", "bs": "Bosnian",
    "sr": "Serbian", "cs": "Czech", "sk": "Slovak", "pt": "Portuguese",
}  # fmt: skip
"""Language code → English name, for every language that can be detected."""
CANDIDATES: tuple[str, ...] = tuple(NAMES)
_MODEL_ALIASES: dict[str, str] = {"nn": "no"}
MIN_LETTERS = 10
MIN_CONFIDENCE = 0.5
OVERRIDE_CONFIDENCE = 0.9
"""Detected with at least this probability, a language overrides the stored one."""

_ALIASES: dict[str, str] = {
    "nb": "no", "nn": "no", "nob": "no", "nno": "no", "nor": "no", "norsk": "no",
    "norwegian": "no", "bokmål": "no", "bokmal": "no", "nynorsk": "no",
    "dan": "da", "dansk": "da", "danish": "da",
    "swe": "sv", "svenska": "sv", "swedish": "sv", "svensk": "sv",
    "slv": "sl", "slovenian": "sl", "slovene": "sl", "slovenščina": "sl", "slovenscina": "sl",
    "eng": "en", "english": "en", "engelsk": "en", "angleščina": "en",
}  # fmt: skip
_CODE = re.compile(r"^[a-z]{2,3}$")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Detection:
    """A detected language (None when undecidable) and the model's probability for it."""

    language: str | None
    confidence: float


def language_name(code: str | None) -> str:
    """The English name of a language code ("no" → "Norwegian"); the code if unknown."""
    if code is None:
        return "undetermined"
    return NAMES.get(code, code)


def normalised_language(value: Any) -> str | None:
    """A language label as stored by a survey tool → a short code, or None.

    "nb", "nb-NO", "Norsk", "nynorsk" → "no"; "da_DK" → "da"; "SV" → "sv"; any other two-
    or three-letter code is lower-cased; anything else (blank, "42", "Norwegian (UK)") → None.
    """
    if value is None or not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text:
        return None
    if text in _ALIASES:
        return _ALIASES[text]
    head = re.split(r"[-_ ]", text, maxsplit=1)[0]
    if head in _ALIASES:
        return _ALIASES[head]
    return head if _CODE.match(head) else None


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """The py3langid model restricted to the candidates (loaded once, ~0.6 s)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages([*CANDIDATES, *_MODEL_ALIASES])
    return ident


def letter_count(text: str) -> int:
    """Number of letters (any script) in `text`."""
    return len(_LETTER.findall(text))


def detected_language(text: str | None) -> Detection:
    """The language of one text: Detection(code, probability), code None if undecidable.

    Probability = py3langid's normalised posterior over CANDIDATES; the code is None when
    the text has < MIN_LETTERS letters or the probability is < MIN_CONFIDENCE.
    """
    if not text or letter_count(text) < MIN_LETTERS:
        return Detection(None, 0.0)
    code, prob = _identifier().classify(text)
    code = _MODEL_ALIASES.get(code, code)
    confidence = round(float(prob), 4)
    return Detection(code if confidence >= MIN_CONFIDENCE else None, confidence)


def detected_languages(texts: Iterable[str | None]) -> list[Detection]:
    """detected_language for each text (callers pass unique texts: ~40 µs each)."""
    return [detected_language(t) for t in texts]


def chosen_languages(
    given: pd.Series, detected: pd.Series, confidence: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """The language each comment is analysed in, and where it came from.

    - detected with probability ≥ OVERRIDE_CONFIDENCE: the detected language (the comment
      is evidently written in it, whatever the survey recorded);
    - else the language stored with the response, when it normalises to a code;
    - else the detected language (probability ≥ MIN_CONFIDENCE), else None.

    `given` holds the stored labels, `detected` the detected codes (None when undecidable)
    and `confidence` their probabilities, aligned. Returns (language, source) with source
    "given" (the stored language, possibly confirmed by detection), "detected" (none stored,
    or overridden) or None (no language at all).
    """
    labels = given.astype("object").where(given.notna(), None)
    codes = labels.map({v: normalised_language(v) for v in labels.dropna().unique()})
    codes = codes.astype("object").where(codes.notna(), None)
    found = detected.astype("object").where(detected.notna(), None)
    use_detected = found.notna() & ((confidence.to_numpy() >= OVERRIDE_CONFIDENCE) | codes.isna())
    language = found.where(use_detected, codes)
    overridden = use_detected & (codes.isna() | (codes != found))
    source = pd.Series(
        np.where(overridden, "detected", np.where(codes.notna(), "given", None)),
        index=given.index,
        dtype="object",
    )
    return language.astype("object").where(language.notna(), None), source.where(
        language.notna(), None
    )
