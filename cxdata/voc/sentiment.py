"""Sentiment of a comment: the score band first, a lexicon score only where one exists.

The primary label is the answer's own score band (DESIGN §4): NPS 9–10 promoter, 7–8
passive, 0–6 detractor; without an NPS answer, CSAT 4–5 "top box", 1–2 "bottom box",
3 "middle". A comment with neither score has no band (None).

Lexicon sentiment is VADER (vaderSentiment, MIT; lexicon file shipped in the package) for
English only: the compound score in [−1, 1]. No lexicon with a suitable licence ships
offline for Norwegian, Danish, Swedish or Slovenian in a package we use, so those get None
— shown as "n/a", never as a neutral 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

LEXICONS: dict[str, str] = {"en": "VADER 3.3.2 (MIT)"}
"""Languages with a lexicon sentiment score, and which lexicon."""
NOT_AVAILABLE = "n/a"
POSITIVE_FROM = 0.05
NEGATIVE_TO = -0.05
"""VADER's own cut-offs: compound ≥ 0.05 positive, ≤ −0.05 negative, else neutral."""

BANDS: tuple[str, ...] = ("promoter", "passive", "detractor", "top box", "middle", "bottom box")


def nps_band(nps: Any) -> str | None:
    """promoter (9–10), passive (7–8), detractor (0–6), None when missing or off-scale."""
    if nps is None or pd.isna(nps) or not 0 <= nps <= 10:
        return None
    return "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"


def csat_band(csat: Any) -> str | None:
    """top box (4–5), middle (3), bottom box (1–2), None when missing or off-scale."""
    if csat is None or pd.isna(csat) or not 1 <= csat <= 5:
        return None
    return "top box" if csat >= 4 else "middle" if csat == 3 else "bottom box"


def score_bands(nps: Iterable[Any], csat: Iterable[Any]) -> list[str | None]:
    """The band of each answer: its NPS band, else its CSAT band, else None."""
    out: list[str | None] = []
    for n, c in zip(nps, csat, strict=True):
        band = nps_band(n)
        out.append(band if band is not None else csat_band(c))
    return out


def has_lexicon(language: str | None) -> bool:
    """Whether comments in `language` get a lexicon sentiment score."""
    return language in LEXICONS


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def lexicon_sentiment(text: str, language: str | None) -> float | None:
    """VADER's compound score in [−1, 1] for an English text; None for any other language
    (no lexicon) or an empty text."""
    if language != "en" or not text or not text.strip():
        return None
    return round(float(_vader().polarity_scores(text)["compound"]), 4)


def sentiment_label(score: float | None) -> str:
    """positive (≥ 0.05), negative (≤ −0.05), neutral, or "n/a" when there is no score."""
    if score is None or (isinstance(score, float) and np.isnan(score)):
        return NOT_AVAILABLE
    if score >= POSITIVE_FROM:
        return "positive"
    return "negative" if score <= NEGATIVE_TO else "neutral"
