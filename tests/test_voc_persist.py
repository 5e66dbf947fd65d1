"""Stored results: computed once, updated incrementally after imports, re-matched after a
taxonomy edit, written atomically, and the missing languages filled in."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest
from test_voc_impact import voc_frame

import cxdata.store
from cxdata import history, schema
from cxdata.errors import CxError
from cxdata.filters import Filters
from cxdata.store import Store, close, connect
from cxdata.voc import impact, persist, tables, topics
from cxdata.voc.taxonomy import DEFAULT_TAXONOMY, Taxonomy, Theme, save_taxonomy


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, voc_frame(1_500, seed=1))
    yield s
    close(tmp_path)


def rows(store: Store, name: str) -> pd.DataFrame:
    return store.backend.table(name).to_pandas()


def assert_masks_restate_themes(store: Store) -> None:
    """The stored masks (tables.MASKS decoded with tables.BITS) hold exactly each analysed
    comment's themes per source, and the bits number each source's themes in name order."""
    themes, bits = rows(store, tables.THEMES), rows(store, tables.BITS)
    for _, per in bits.groupby("source"):
        per = per.sort_values("theme")
        rank = np.arange(len(per))
        assert per["bit"].tolist() == (rank % tables.MASK_BITS).tolist()
        assert (per["word"] - per["word"].min()).tolist() == (rank // tables.MASK_BITS).tolist()
    assert set(map(tuple, bits[["source", "theme"]].to_numpy())) == set(
        map(tuple, themes[["source", "theme"]].drop_duplicates().to_numpy()))
    masks = rows(store, tables.MASKS)
    analysed = set(rows(store, tables.COMMENTS)["response_id"])
    words = set(bits["word"])
    assert len(masks) == len(analysed) * len(words)  # every analysed comment, every word
    assert set(masks["response_id"]) == analysed and set(masks["word"]) == words
    # each word's (source, theme, bit) rows, looked up once per word rather than filtered
    # out of `bits` again for every mask row (that filter was most of this check's time)
    themes_of = {
        w: list(bits.loc[bits["word"] == w, ["source", "theme", "bit"]].itertuples(index=False))
        for w in words
    }
    got = {
        (r, s, t)
        for r, w, m in masks[["response_id", "word", "mask"]].itertuples(index=False)
        for s, t, b in themes_of[w]
        if (m >> b) & 1
    }
    assert got == set(map(tuple, themes[["response_id", "source", "theme"]].to_numpy()))
    # each row carries its comment's analysed language and sentiment
    comments = rows(store, tables.COMMENTS).set_index("response_id")
    pd.testing.assert_series_equal(
        masks["voc_language"], comments.loc[masks["response_id"], "language"].reset_index(
            drop=True), check_names=False)
    pd.testing.assert_series_equal(
        masks["sentiment"], comments.loc[masks["response_id"], "sentiment"].reset_index(
            drop=True), check_names=False)


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


def test_update_derives_the_masks_of_themes_stored_before_them(store: Store) -> None:
    """A store whose themes predate the stored masks gets them from `themes --update` with
    nothing else to do (an upgrade path: key drivers reads them instead of the theme rows)."""
    persist.compute_themes(store)
    store.drop_tables([tables.BITS, tables.MASKS])  # as a store written before the masks
    themes = rows(store, tables.THEMES)
    assert persist.update_themes(store).comments == 0
    assert store.has(tables.BITS) and store.has(tables.MASKS)
    assert_masks_restate_themes(store)
    pd.testing.assert_frame_equal(rows(store, tables.THEMES), themes)  # themes untouched
    snapshot = store.refresh()
    persist.update_themes(store)  # derived once: a second update writes nothing
    assert store.refresh() == snapshot


def test_masks_without_the_comments_columns_count_the_same_and_are_derived_again(
    store: Store,
) -> None:
    """Masks derived before they carried the comments' language and sentiment (three
    columns) are read with the comments and give the same theme views; `themes --update`
    derives them again with those columns."""
    from cxdata.store import WriteOp
    from cxdata.voc import fit, masked

    persist.compute_themes(store)
    f = Filters.make(where={"region": ["Oslo", "Celje"]})

    def views() -> list[object]:
        masked._PER_WORD.clear()
        return [impact.theme_impact(store, f), impact.theme_trend(store, f, "week"),
                impact.theme_matrix(store, f), fit.taxonomy_fit(store, f)]

    now = views()
    store.apply([WriteOp.sql(f'ALTER TABLE "{tables.MASKS}" DROP COLUMN {c}')
                 for c in ("voc_language", "sentiment")])
    assert "voc_language" not in store.table(tables.MASKS).columns
    assert tables.COMMENTS in str(ibis.to_sql(impact.counted_rows(store, f)))  # joined
    for got, expected in zip(views(), now, strict=True):
        if isinstance(got, pd.DataFrame):
            pd.testing.assert_frame_equal(got, expected)  # type: ignore[arg-type]
        else:
            assert got == expected
    assert persist.update_themes(store).comments == 0
    assert "voc_language" in store.table(tables.MASKS).columns
    assert tables.COMMENTS not in str(ibis.to_sql(impact.counted_rows(store, f)))
    assert_masks_restate_themes(store)


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
    assert_masks_restate_themes(store)


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
    assert_masks_restate_themes(store)


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
    assert_masks_restate_themes(store)


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


def _mixed_frame() -> pd.DataFrame:
    """voc_frame's repeated sentences with stored labels of every kind: missing, blank,
    codes, names, regional variants, unknown and wrong ones, and blank comments."""
    frame = voc_frame(3_000, seed=21)
    rng = np.random.default_rng(21)
    labels = np.array([None, "en", "EN", "Norsk", "nb-NO", "", "da", "sv", "xx", "sl"], object)
    commented = frame["comment"].notna()
    mixed = rng.random(len(frame)) < 0.4
    frame.loc[commented & mixed, "language"] = labels[
        rng.integers(0, len(labels), int((commented & mixed).sum()))
    ]
    frame.loc[frame.index[:7], "comment"] = "   "  # blank: not a comment
    return frame


def _results(store: Store) -> dict[str, pd.DataFrame]:
    out = {}
    for name in (tables.COMMENTS, tables.THEMES, tables.TOPICS, tables.TOPIC_TERMS):
        frame = rows(store, name)
        out[name] = frame.sort_values(list(frame.columns), ignore_index=True)
    out[schema.RESPONSES] = rows(store, schema.RESPONSES).sort_values(
        "response_id", ignore_index=True
    )
    return out


def test_engine_path_stores_exactly_the_in_memory_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a small sample limit, so that the fit's random sample of the comments is exercised
    monkeypatch.setattr(topics, "MAX_FIT_DOCUMENTS", 300)
    frame = _mixed_frame()
    memory, engine = connect(tmp_path / "memory"), connect(tmp_path / "engine")
    for s in (memory, engine):
        s.replace_table(schema.RESPONSES, frame)
    ran = persist.compute_themes(memory, in_engine=False)

    def refused(*_args: object) -> None:
        raise AssertionError("the engine path fell back to the in-memory one")

    monkeypatch.setattr(persist, "_computed_in_memory", refused)
    run = persist.compute_themes(engine)
    expected, got = _results(memory), _results(engine)
    for name, table in expected.items():
        pd.testing.assert_frame_equal(got[name], table, obj=name)
    themes = expected[tables.THEMES]
    assert (run.comments, run.themes) == (ran.comments, ran.themes)
    commented = int((frame["comment"].str.strip().str.len() > 0).sum())
    assert run.comments == len(expected[tables.COMMENTS]) == commented == 1_752
    assert run.themes == len(themes) and set(themes["source"]) == {"taxonomy", "auto"}
    assert expected[tables.TOPICS]["language"].nunique() >= 3
    commit = engine.backend.table(tables.RUNS).to_pandas().iloc[-1]
    assert (commit["comments"], commit["themes"]) == (run.comments, run.themes)
    logged = [history.changes(s)[0] for s in (memory, engine)]
    assert logged[0].rows == logged[1].rows
    assert logged[1].rows[tables.THEMES] == run.themes
    # an edited taxonomy matched again: the same rows both ways
    shops = Theme("shops", "Shops", {"en": ("shop",), "no": ("butikk",)})
    edited = Taxonomy((*DEFAULT_TAXONOMY.themes[1:], shops))
    matched = [
        persist.rematch_taxonomy(s, taxonomy=edited, in_engine=s is engine)
        for s in (memory, engine)
    ]
    assert matched[0].themes == matched[1].themes > 0
    assert matched[0].comments == matched[1].comments == commented
    expected, got = _results(memory), _results(engine)
    pd.testing.assert_frame_equal(got[tables.THEMES], expected[tables.THEMES])
    assert expected[tables.THEMES]["theme"].eq("shops").any()
    assert not expected[tables.THEMES]["theme"].eq(DEFAULT_TAXONOMY.themes[0].id).any()
    for s in (memory, engine):
        assert_masks_restate_themes(s)
    close(tmp_path / "memory")
    close(tmp_path / "engine")


def test_a_repeated_response_id_takes_the_in_memory_path(tmp_path: Path) -> None:
    frame = voc_frame(600, seed=3)
    first = frame[frame["comment"].notna()].iloc[0]
    twin = first.to_frame().T.astype(frame.dtypes)  # the same response imported twice
    frame = pd.concat([frame, twin], ignore_index=True)
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, frame)
    run = persist.compute_themes(s)
    themes = rows(s, tables.THEMES)
    assert run.comments == frame["comment"].notna().sum()
    assert not themes.duplicated(["response_id", "theme"]).any()
    assert (themes["response_id"] == first["response_id"]).sum() >= 1
    close(tmp_path)


def test_repeated_response_ids_keep_one_mask_row_per_id_and_views_read_the_theme_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written with a repeated response_id (an import refuses one; the API does
    not): its masks hold a row per comment, so key drivers and the theme views read the
    theme rows instead — key drivers counts each answer once, as from the theme rows, and
    a comment page's count agrees with its pages."""
    from cxdata import drivers
    from cxdata.voc import masked, verbatims

    frame = voc_frame(1_200, seed=9)
    again = frame.sample(80, random_state=1).assign(
        nps=pd.Series(np.random.default_rng(2).integers(0, 11, 80), dtype="Int8").to_numpy())
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, pd.concat([frame, again], ignore_index=True))
    persist.compute_themes(s)
    assert not masked.comments_unique(s) and impact.counted_rows(s, Filters()) is None
    real = drivers._stored_mask_counts
    stored = drivers.key_drivers(s, Filters(), "nps", bootstrap=30, seed=2, min_n=20)
    monkeypatch.setattr(drivers, "_stored_mask_counts", lambda *a: None)
    computed = drivers.key_drivers(s, Filters(), "nps", bootstrap=30, seed=2, min_n=20)
    monkeypatch.setattr(drivers, "_stored_mask_counts", real)
    pd.testing.assert_frame_equal(stored.drivers, computed.drivers)
    assert stored.n == computed.n
    impact.theme_impact(s, Filters())  # as the Themes view, before a comment page
    page = verbatims.theme_verbatims(s, Filters(), "delivery", 1, 100)
    listed = sum(len(verbatims.theme_verbatims(s, Filters(), "delivery", p, 100).rows)
                 for p in range(1, page.pages + 1))
    assert page.total == listed > 0
