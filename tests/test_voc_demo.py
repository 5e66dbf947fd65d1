"""On demo data, the planted slow deliveries show up as a delivery theme with a
significant negative NPS impact in every language the demo writes — both the taxonomy
theme and the automatic theme about delivery."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from cxdata import demo, schema
from cxdata.filters import Filters
from cxdata.store import Store, close, connect
from cxdata.voc import impact, persist

DELIVERY_WORDS = {"en": "delivery", "no": "levering", "da": "levering", "sv": "leverans",
                  "sl": "dostava"}  # fmt: skip


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("vocdemo")
    store = connect(path)
    store.replace_table(schema.RESPONSES, demo.demo_responses(rows=40_000))
    persist.compute_themes(store)
    yield store
    close(path)


@pytest.mark.parametrize("language", demo.LANGUAGES)
def test_delivery_hurts_nps_in_every_language(demo_store: Store, language: str) -> None:
    frame = impact.theme_impact(demo_store, Filters.make(where={"language": [language]}))
    taxonomy = frame[frame["theme"] == "delivery"].iloc[0]
    assert taxonomy["languages"] == [language]
    assert taxonomy["nps_n_with"] >= 100
    assert taxonomy["nps_impact"] < -15
    assert taxonomy["significant"] is True or bool(taxonomy["significant"])
    assert taxonomy["t"] < -1.96

    auto = frame[
        (frame["source"] == "auto")
        & frame["label"].str.split(" · ").str[0].eq(DELIVERY_WORDS[language])
    ]
    assert len(auto) == 1, frame.loc[frame["source"] == "auto", "label"].tolist()
    assert auto["nps_impact"].iloc[0] < -15 and bool(auto["significant"].iloc[0])


def test_every_demo_language_is_detected_and_analysed(demo_store: Store) -> None:
    langs = impact.voc_languages(demo_store, Filters()).set_index("language")
    assert set(demo.LANGUAGES) <= set(langs.index)
    stored = demo_store.backend.table("voc_comments").to_pandas()
    responses = (
        demo_store.backend.table(schema.RESPONSES).select("response_id", "language").to_pandas()
    )
    merged = stored.merge(responses, on="response_id", suffixes=("_voc", ""))
    detected = merged["detected_language"].notna()
    agree = merged.loc[detected, "detected_language"] == merged.loc[detected, "language"]
    assert detected.mean() > 0.95 and agree.mean() > 0.98
    assert pd.isna(langs.loc["no", "sentiment_mean"]) and langs.loc["no", "lexicon"] == "n/a"
