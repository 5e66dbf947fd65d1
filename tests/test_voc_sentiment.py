"""Sentiment: the score band is the primary label; lexicon scores only for English."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cxdata.voc.sentiment import (
    NOT_AVAILABLE,
    csat_band,
    has_lexicon,
    lexicon_sentiment,
    nps_band,
    score_bands,
    sentiment_label,
)


@pytest.mark.parametrize(
    ("nps", "band"),
    [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"),
     (10, "promoter"), (None, None), (pd.NA, None), (float("nan"), None), (11, None)],
)  # fmt: skip
def test_nps_band(nps: object, band: str | None) -> None:
    assert nps_band(nps) == band


@pytest.mark.parametrize(
    ("csat", "band"),
    [(1, "bottom box"), (2, "bottom box"), (3, "middle"), (4, "top box"), (5, "top box"),
     (None, None), (0, None)],
)  # fmt: skip
def test_csat_band(csat: object, band: str | None) -> None:
    assert csat_band(csat) == band


def test_score_band_prefers_nps_then_csat() -> None:
    nps = pd.array([9, pd.NA, pd.NA, 3], dtype="Int8")
    csat = pd.array([1, 5, pd.NA, 5], dtype="Int8")
    assert score_bands(nps, csat) == ["promoter", "top box", None, "detractor"]


def test_vader_scores_english_only() -> None:
    good = lexicon_sentiment("Great service, friendly staff, I love it!", "en")
    bad = lexicon_sentiment("Terrible, the parcel was broken and support was useless.", "en")
    assert good is not None and good > 0.5
    assert bad is not None and bad < -0.5
    assert has_lexicon("en")


@pytest.mark.parametrize("language", ["no", "da", "sv", "sl", None])
def test_no_lexicon_means_none_not_zero(language: str | None) -> None:
    assert lexicon_sentiment("Fantastisk god service, tusen takk!", language) is None
    assert not has_lexicon(language)


def test_labels() -> None:
    assert sentiment_label(0.6) == "positive"
    assert sentiment_label(-0.2) == "negative"
    assert sentiment_label(0.0) == "neutral"
    assert sentiment_label(None) == NOT_AVAILABLE == "n/a"
    assert sentiment_label(math.nan) == "n/a"
