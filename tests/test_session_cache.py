"""The pages' one cached query layer (pages/_shared/session.py): every Ctx method reaches
the engine through QUERIES and one st.cache_data function keyed on plain values — the
DataKey, the query's name and its arguments — and theme results are keyed on their own
version too, so computing themes or editing the taxonomy never leaves a stale view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from test_voc_impact import voc_frame

from cxdata import schema
from cxdata.config import thresholds
from cxdata.store import Store, close, connect
from cxdata.voc import persist, taxonomy
from pages._shared import session

SPAN = (dt.date(2025, 1, 1), dt.date(2025, 6, 30))


def responses(n: int, seed: int) -> pd.DataFrame:
    """voc_frame's answers with a CES score too (every metric has answers)."""
    frame = voc_frame(n, seed=seed)
    return frame.assign(ces=pd.Series(frame.index % 7 + 1, dtype="Int8"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, responses(1_500, seed=5))
    st.cache_data.clear()
    yield store
    st.cache_data.clear()
    close(tmp_path)


def new_ctx(store: Store) -> session.Ctx:
    """The context a new script run builds (build_context without the session state)."""
    return session.Ctx(store=store, key=session.data_key(store), th=thresholds(), span=SPAN)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Every engine call the layer makes: (name, arguments after the store)."""
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(store: Store, *args: Any, **kwargs: Any) -> Any:
            seen.append((name, args))
            return fn(store, *args, **kwargs)

        return call

    for name, fn in list(session.QUERIES.items()):
        monkeypatch.setitem(session.QUERIES, name, counted(name, fn))
    return seen


def names(calls: list[tuple[str, tuple[Any, ...]]]) -> list[str]:
    return [name for name, _ in calls]


def test_every_ctx_query_goes_through_the_one_cached_function(store: Store, calls: list) -> None:
    ctx = new_ctx(store)
    first = ctx.breakdown(["region"])
    again = new_ctx(store).breakdown(("region",))  # a list and a tuple are one key
    pd.testing.assert_frame_equal(first, again)
    ctx.kpis()
    ctx.kpis()
    ctx.dimensions()
    ctx.dimension_values("region")
    ctx.cardinality()
    assert names(calls) == ["breakdown", "kpis", "dimensions", "dimension_values"]
    assert calls[0][1][1] == ("region",)  # lists reach the engine as tuples (hashable)


def test_new_data_is_a_new_key(store: Store, calls: list) -> None:
    before = new_ctx(store).kpis().responses
    store.replace_table(schema.RESPONSES, responses(900, seed=6))
    after = new_ctx(store).kpis().responses
    assert (before, after) == (1_500, 900) and names(calls) == ["kpis", "kpis"]


def test_theme_results_are_keyed_on_their_version(store: Store, calls: list) -> None:
    status = new_ctx(store).voc_status()
    assert not status.computed
    persist.compute_themes(store)  # the responses do not change: the same data key
    ctx = new_ctx(store)
    assert ctx.key == new_ctx(store).key and ctx.voc_key != ctx.key
    assert ctx.voc_status().computed  # not the cached "not computed"
    ctx.kpis()
    frame = ctx.theme_impact("taxonomy")
    assert "parcel_test" not in set(frame["theme"])
    new_ctx(store).theme_impact("taxonomy")  # a new run, nothing changed: cached
    grid = taxonomy.taxonomy_frame(taxonomy.load_taxonomy(taxonomy.taxonomy_dir(store)))
    grid.loc[len(grid)] = {"theme": "parcel_test", "label": "Parcel (test)", "en": "parcel"}
    persist.edit_taxonomy(store, taxonomy.taxonomy_from_frame(grid))
    ctx = new_ctx(store)
    edited = ctx.theme_impact("taxonomy")
    assert "Parcel (test)" in set(edited["label"])  # the edit shows at once
    ctx.kpis()  # every write is a new lake snapshot: the responses' queries run again
    assert names(calls) == [
        "voc_status", "voc_status", "kpis", "theme_impact", "theme_impact", "kpis"
    ]
    ctx.kpis()  # …once
    assert names(calls)[-1] == "kpis" and len(calls) == 6


def test_an_unknown_query_name_is_refused(store: Store) -> None:
    with pytest.raises(KeyError, match="no cached query named 'raw_rows'"):
        session.cached_query(store, session.data_key(store), "raw_rows")
