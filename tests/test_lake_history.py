"""The change log and undo (cxdata.history) on the embedded lake, through the real import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import random_responses
from test_voc_impact import voc_frame

from cxdata import history, schema
from cxdata.errors import CxError, NoData
from cxdata.importing import import_file
from cxdata.roles import AccessDenied
from cxdata.store import Store, close, connect
from cxdata.voc import persist, tables


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = connect(tmp_path / "data").by("analyst@example.com")
    yield s
    close(tmp_path / "data")


def export(frame: pd.DataFrame, path: Path) -> Path:
    """A survey export as a CSV file the importer reads with its suggested mapping."""
    frame.assign(submitted_at=frame["submitted_at"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        path, index=False
    )
    return path


def stored(store: Store) -> pd.DataFrame:
    frame = store.all_rows(schema.RESPONSES).to_pandas()
    return frame.sort_values("response_id").reset_index(drop=True)


def two_imports(store: Store, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = random_responses(400, seed=1)
    second = random_responses(300, seed=2).assign(
        response_id=lambda f: "b" + f["response_id"].astype(str)
    )
    import_file(store, export(first, tmp_path / "week1.csv"), dataset=schema.RESPONSES)
    import_file(store, export(second, tmp_path / "week2.csv"), dataset=schema.RESPONSES)
    return first, second


def test_every_import_is_one_recorded_change(store: Store, tmp_path: Path) -> None:
    two_imports(store, tmp_path)
    log = history.changes(store)
    imports = [c for c in log if c.kind == "import"]
    assert [c.file for c in imports] == ["week2.csv", "week1.csv"]  # newest first
    assert [c.rows[schema.RESPONSES] for c in imports] == [300, 400]
    assert all(c.author == "analyst@example.com" and c.mode == "append" for c in imports)
    assert all(c.undoable for c in imports)
    assert imports[0].at >= imports[1].at and imports[0].snapshot > imports[1].snapshot


def test_undo_the_first_of_two_imports_leaves_the_second_alone(
    store: Store, tmp_path: Path
) -> None:
    two_imports(store, tmp_path)
    alone = connect(tmp_path / "alone")
    import_file(alone, export(random_responses(300, seed=2).assign(
        response_id=lambda f: "b" + f["response_id"].astype(str)), tmp_path / "w2.csv"),
        dataset=schema.RESPONSES)
    week1 = next(c for c in history.changes(store) if c.file == "week1.csv")
    done = history.undo(store, week1.snapshot)
    assert done.kind == "undo" and done.undoes == week1.snapshot
    assert done.rows[schema.RESPONSES] == -400  # and the ratings imported with them
    assert set(done.rows) == set(week1.rows) and all(v <= 0 for v in done.rows.values())
    got, want = stored(store), stored(alone)
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)  # row for row
    ratings = store.all_rows(schema.TOUCHPOINT_RATINGS).to_pandas()
    assert set(ratings["response_id"]) <= set(got["response_id"])
    log = history.changes(store)
    assert next(c for c in log if c.snapshot == week1.snapshot).undone_by == done.snapshot
    with pytest.raises(CxError, match="already undone"):
        history.undo(store, week1.snapshot)
    with pytest.raises(CxError, match="no rows that can be undone"):
        history.undo(store, done.snapshot)
    with pytest.raises(NoData):
        history.undo(store, 10_000)
    close(tmp_path / "alone")


def test_undo_removes_the_theme_rows_of_the_removed_responses(
    store: Store, tmp_path: Path
) -> None:
    import_file(store, export(voc_frame(600, seed=1, prefix="A"), tmp_path / "week1.csv"),
                dataset=schema.RESPONSES)
    import_file(store, export(voc_frame(600, seed=2, prefix="B"), tmp_path / "week2.csv"),
                dataset=schema.RESPONSES)
    persist.compute_themes(store)
    week2 = next(c for c in history.changes(store) if c.file == "week2.csv")
    history.undo(store, week2.snapshot)
    ids = set(store.all_rows(schema.RESPONSES).to_pandas()["response_id"])
    for name in (tables.THEMES, tables.COMMENTS):
        left = set(store.all_rows(name).to_pandas()["response_id"])
        assert left and left <= ids, name  # every remaining row points at a response
        assert not any(i.startswith("B") for i in left), name


def test_a_replace_is_undone_to_the_rows_before_it(store: Store, tmp_path: Path) -> None:
    first, _ = two_imports(store, tmp_path)
    before = stored(store)
    import_file(store, export(first.head(50), tmp_path / "fix.csv"), dataset=schema.RESPONSES,
                mode="replace")
    assert store.row_count(schema.RESPONSES) == 50
    replace = history.changes(store)[0]
    assert replace.kind == "import" and replace.mode == "replace"
    history.undo(store, replace.snapshot)
    pd.testing.assert_frame_equal(stored(store), before)


def test_a_replace_changed_again_later_is_refused(store: Store, tmp_path: Path) -> None:
    first, _ = two_imports(store, tmp_path)
    import_file(store, export(first.head(50), tmp_path / "fix.csv"), dataset=schema.RESPONSES,
                mode="replace")
    replace = history.changes(store)[0]
    import_file(store, export(random_responses(20, seed=5).assign(
        response_id=lambda f: "c" + f["response_id"].astype(str)), tmp_path / "more.csv"),
        dataset=schema.RESPONSES)
    with pytest.raises(CxError, match="undo those first"):
        history.undo(store, replace.snapshot)
    assert store.row_count(schema.RESPONSES) == 70  # nothing changed


def test_undo_needs_the_manage_right_and_an_unrestricted_store(
    store: Store, tmp_path: Path
) -> None:
    two_imports(store, tmp_path)
    last = history.changes(store)[0]
    with pytest.raises(AccessDenied):
        history.undo(store.acting_as("analyst"), last.snapshot)
    with pytest.raises(CxError, match="restricted"):
        history.changes(store.restricted({"channel": ("web",)}))
    assert store.row_count(schema.RESPONSES) == 700


def test_maintain_keeps_the_data_and_ends_undo_of_expired_changes(
    store: Store, tmp_path: Path
) -> None:
    from cxdata import lake

    two_imports(store, tmp_path)
    before = stored(store)
    week1 = next(c for c in history.changes(store) if c.file == "week1.csv")
    assert store.raw is not None
    done = lake.maintain(store.raw, tmp_path / "data", keep_days=0, grace_hours=0)
    assert done.expired >= 1
    pd.testing.assert_frame_equal(stored(store), before)  # the data itself is untouched
    with pytest.raises(CxError, match=r"can no longer be undone|no change"):
        history.undo(store, week1.snapshot)
    assert store.row_count(schema.RESPONSES) == 700
