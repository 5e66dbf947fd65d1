"""Words of a comment and their lemmas.

Lemmas come from simplemma (MIT): dictionary lookups shipped inside the package (one
compressed dictionary per language), with simplemma's rule-based fallback for unknown
words, so "leveringen" → "levering" (no), "dostavo" / "dostave" → "dostava" (sl),
"leveransen" → "leverans" (sv), "deliveries" → "delivery" (en). Words of a language without
a dictionary stay as they are (lower-cased).
"""

from __future__ import annotations

import re
from functools import lru_cache

# simplemma's dictionaries per analysed language; Norwegian tries Bokmål, then Nynorsk.
LEMMA_LANGUAGES: dict[str, tuple[str, ...]] = {
    "en": ("en",), "no": ("nb", "nn"), "da": ("da",), "sv": ("sv",), "sl": ("sl",),
    "de": ("de",), "fi": ("fi",), "is": ("is",), "nl": ("nl",), "fr": ("fr",), "es": ("es",),
    "it": ("it",), "pl": ("pl",), "cs": ("cs",), "sk": ("sk",), "pt": ("pt",),
    "hr": ("hbs",), "bs": ("hbs",), "sr": ("hbs",),
}  # fmt: skip
# A word: letters, optionally joined by - or ' (e-mail, don't, T-shirt); digits split words.
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


def words(text: str) -> list[str]:
    """The lower-cased words of `text` (letters only; "e-mail" and "don't" stay one word)."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


@lru_cache(maxsize=500_000)
def lemma(word: str, language: str | None) -> str:
    """The dictionary form of a lower-cased `word` in `language` (the word itself when the
    language has no dictionary or the word is unknown and no rule applies)."""
    codes = LEMMA_LANGUAGES.get(language or "")
    if not codes or len(word) < 2:
        return word
    from simplemma import lemmatize

    try:
        return str(lemmatize(word, lang=codes)).lower()
    except (ValueError, KeyError):  # a dictionary simplemma cannot load: keep the word
        return word


def lemmas(tokens: list[str], language: str | None) -> list[str]:
    """lemma() of each word, in order."""
    return [lemma(w, language) for w in tokens]
