"""Stored results: computed once, updated incrementally after imports, re-matched after a
taxonomy edit, written atomically, and the missing languages filled in."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pytest
from test_voc_impact import voc_frame

import cxdata.store
from cxdata import schema
from cxdata.errors import CxError
from cxdata.filters import Filters
from cxdata.store import Store, close, connect
from cxdata.voc import impact, persist, tables
from cxdata.voc.taxonomy import DEFAULT_TAXONOMY, Taxonomy, Theme, save_taxonomy


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, voc_frame(1_500, seed=1))
    yield s
    close(tmp_path)


def rows(store: Store, name: str) -> pd.DataFrame:
    return store.backend.table(name).to_pandas()


def test_compute_stores_every_comment_with_progress(store: Store) -> None:
    seen: list[tuple[float, str]] = []
    run = persist.compute_themes(store, lambda f, m: seen.append((f, m)))
    frame = rows(store, schema.RESPONSES)
    commented = frame["comment"].notna()
    assert run.comments == commented.sum() == len(rows(store, tables.COMMENTS))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert all(isinstance(m, str) and m for _, m in seen)
    themes = rows(store, tables.THEMES)
    assert set(themes["source"]) == {"taxonomy", "auto"}
    assert not themes.duplicated(["response_id", "theme"]).any()
    status = persist.voc_status(store)
    assert (status.computed, status.pending, status.stale) == (True, 0, 0)
    assert status.analysed == run.comments and status.taxonomy_current


def test_missing_languages_are_filled_and_given_ones_kept(tmp_path: Path) -> None:
    s = connect(tmp_path)
    frame = voc_frame(1_500, seed=1)
    frame.loc[frame.index[frame["comment"].notna()][:5], "language"] = "Norsk"  # kept as is
    s.replace_table(schema.RESPONSES, frame)
    persist.compute_themes(s)
    after = rows(s, schema.RESPONSES).set_index("response_id").loc[frame["response_id"]]
    before = frame.set_index("response_id")
    had = before["language"].notna()
    assert (after.loc[had, "language"] == before.loc[had, "language"]).all()
    filled = ~had & before["comment"].notna()
    assert filled.sum() > 100
    short = before["comment"] == "Fine."  # too short to decide: stays missing, no guess
    assert after.loc[filled & ~short, "language"].notna().all()
    assert after.loc[filled & short, "language"].isna().all()
    # the filled language is the one detected for that comment
    voc = rows(s, tables.COMMENTS).set_index("response_id")
    ids = filled[filled].index
    assert (after.loc[ids, "language"].dropna() == voc.loc[ids, "language"].dropna()).all()
    assert after.loc[before["comment"].isna(), "language"].isna().all()
    close(tmp_path)


def test_language_column_is_added_when_absent(tmp_path: Path) -> None:
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, voc_frame(800, seed=2).drop(columns="language"))
    persist.compute_themes(s)
    assert "language" in s.backend.table(schema.RESPONSES).columns
    assert "language" in s.dimensions()
    close(tmp_path)


def test_update_processes_only_new_comments(store: Store) -> None:
    persist.compute_themes(store)
    topics_before = rows(store, tables.TOPICS)
    old = rows(store, tables.COMMENTS).set_index("response_id").sort_index()
    new = voc_frame(400, seed=9, prefix="N")
    store.append_rows(schema.RESPONSES, new)
    status = persist.voc_status(store)
    assert status.pending == new["comment"].notna().sum() and status.stale == 0
    run = persist.update_themes(store)
    assert run.comments == new["comment"].notna().sum() and run.removed == 0
    after = rows(store, tables.COMMENTS).set_index("response_id").sort_index()
    pd.testing.assert_frame_equal(after.loc[old.index], old)  # old results untouched
    themes = rows(store, tables.THEMES)
    new_auto = themes[themes["response_id"].str.startswith("N") & (themes["source"] == "auto")]
    assert len(new_auto) and set(new_auto["theme"]) <= set(topics_before["theme"])
    pd.testing.assert_frame_equal(rows(store, tables.TOPICS), topics_before)  # not re-fitted
    assert persist.update_themes(store).comments == 0  # nothing left
    assert len(rows(store, tables.RUNS)) == 2  # a no-op update records no run


def test_changed_and_deleted_comments_are_redone(store: Store) -> None:
    persist.compute_themes(store)
    frame = rows(store, schema.RESPONSES)
    commented = frame[frame["comment"].notna()]
    changed_id, deleted_id = commented["response_id"].iloc[0], commented["response_id"].iloc[1]
    frame.loc[frame["response_id"] == changed_id, "comment"] = "The courier lost my parcel."
    frame.loc[frame["response_id"] == changed_id, "language"] = "en"
    frame = frame[frame["response_id"] != deleted_id]
    store.replace_table(schema.RESPONSES, frame)
    status = persist.voc_status(store)
    assert (status.pending, status.stale) == (1, 2)
    run = persist.update_themes(store)
    assert (run.comments, run.removed) == (1, 2)
    voc = rows(store, tables.COMMENTS)
    assert deleted_id not in set(voc["response_id"])
    themes = rows(store, tables.THEMES)
    assert deleted_id not in set(themes["response_id"])
    mine = themes[(themes["response_id"] == changed_id) & (themes["source"] == "taxonomy")]
    assert mine["theme"].tolist() == ["delivery"]
    assert voc.loc[voc["response_id"] == changed_id, "language"].item() == "en"


def test_rematch_after_a_taxonomy_edit(store: Store) -> None:
    persist.compute_themes(store)
    auto_before = (
        rows(store, tables.THEMES)
        .query("source == 'auto'")
        .sort_values(["response_id", "theme"], ignore_index=True)
    )
    edited = Taxonomy(
        (
            *DEFAULT_TAXONOMY.themes,
            Theme(
                "shops",
                "Shops",
                {
                    "en": ("shop",),
                    "no": ("butikk",),
                    "da": ("butik",),
                    "sv": ("butik",),
                    "sl": ("trgovina",),
                },
            ),
        )
    )
    save_taxonomy(edited, store.location)
    assert not persist.voc_status(store).taxonomy_current
    run = persist.rematch_taxonomy(store)
    assert run.kind == "taxonomy"
    themes = rows(store, tables.THEMES)
    shop_ids = set(themes.loc[themes["theme"] == "shops", "response_id"])
    frame = rows(store, schema.RESPONSES).set_index("response_id")
    assert shop_ids and all(
        any(w in frame.loc[i, "comment"].lower() for w in ("shop", "butik", "trgovin"))
        for i in shop_ids
    )
    pd.testing.assert_frame_equal(
        themes.query("source == 'auto'").sort_values(["response_id", "theme"], ignore_index=True),
        auto_before,
    )
    assert persist.voc_status(store).taxonomy_current
    labels = impact.theme_impact(store, Filters(), "taxonomy").set_index("theme")["label"]
    assert labels["shops"] == "Shops"


def test_a_failed_write_changes_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    persist.compute_themes(store)
    before = {
        name: rows(store, name) for name in (tables.COMMENTS, tables.THEMES, schema.RESPONSES)
    }
    store.append_rows(schema.RESPONSES, voc_frame(100, seed=5, prefix="X"))
    responses_now = rows(store, schema.RESPONSES)

    real = cxdata.store._run_in_transaction
    ran: list[str] = []

    def boom(cur: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
        # Every statement of the update runs (filling responses.language last), then the
        # disk fills up before the commit.
        ran.extend(statements)
        real(cur, [*statements, "SELECT error('disk full (simulated)')"])

    monkeypatch.setattr(cxdata.store, "_run_in_transaction", boom)
    with pytest.raises(duckdb.Error, match="disk full"):
        persist.update_themes(store)
    assert ran[-1].startswith(f'UPDATE "{schema.RESPONSES}"')  # the language fill ran too
    pd.testing.assert_frame_equal(rows(store, tables.COMMENTS), before[tables.COMMENTS])
    pd.testing.assert_frame_equal(rows(store, tables.THEMES), before[tables.THEMES])
    pd.testing.assert_frame_equal(rows(store, schema.RESPONSES), responses_now)
    assert len(rows(store, tables.RUNS)) == 1


def test_restricted_view_and_missing_comments_are_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(CxError, match="restricted"):
        persist.compute_themes(store.restricted({"region": ("Oslo",)}))
    other = connect(tmp_path / "other")
    other.replace_table(schema.RESPONSES, voc_frame(50).drop(columns="comment"))
    with pytest.raises(CxError, match="no comment column"):
        persist.compute_themes(other)
    assert not persist.voc_status(other).computed


def test_warehouse_path_without_transactions(tmp_path: Path) -> None:
    """A Store without the raw DuckDB connection writes table by table (as on a warehouse)
    and never modifies the responses."""
    backend = ibis.duckdb.connect(str(tmp_path / "wh.duckdb"))
    s = Store(backend, location="warehouse")
    frame = voc_frame(1_000, seed=4)
    s.replace_table(schema.RESPONSES, frame)
    first = persist.compute_themes(s)
    s.append_rows(schema.RESPONSES, voc_frame(200, seed=6, prefix="W"))
    second = persist.update_themes(s)
    assert second.comments == voc_frame(200, seed=6)["comment"].notna().sum()
    voc = s.backend.table(tables.COMMENTS).to_pandas()
    assert len(voc) == first.comments + second.comments
    stored = s.backend.table(schema.RESPONSES).to_pandas()
    assert (
        stored["language"].isna().sum()
        == 1_000
        + 200
        - frame["language"].notna().sum()
        - voc_frame(200, seed=6)["language"].notna().sum()
    )
    assert not impact.theme_impact(s, Filters()).empty


def test_an_import_updates_the_themes(store: Store, tmp_path: Path) -> None:
    from cxdata.importing import load

    if not hasattr(load, "_updated_themes"):
        pytest.skip("the theme update is not wired into cxdata/importing/load.py yet")
    persist.compute_themes(store)
    new = voc_frame(300, seed=12, prefix="I")
    path = tmp_path / "week.csv"
    new.to_csv(path, index=False)
    result = load.import_file(store, path)
    assert result.imported == 300 and not any("themes" in w for w in result.warnings)
    status = persist.voc_status(store)
    assert (status.pending, status.stale) == (0, 0)
    assert status.analysed == rows(store, schema.RESPONSES)["comment"].notna().sum()
