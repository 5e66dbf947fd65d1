"""Whole imports of the ugly corpus: exact counts, values queried back, atomic failure."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from import_corpus import (
    DK_REGIONS,
    SL_REGIONS,
    Expected,
    bom_utf8,
    danish_cp1252,
    danish_metrics_decimal_comma,
    large_csv,
    quoted_and_ragged,
    slovenian_cp1250,
    survey_mixed_scales,
    us_dates,
    write_text,
)

import cxdata.store
from cxdata import schema
from cxdata.importing import load
from cxdata.importing.errors import MappingError, NothingToImport, UnreadableFile
from cxdata.importing.load import ImportResult, import_file
from cxdata.importing.mapping import Mapping
from cxdata.importing.profiles import save_profile
from cxdata.importing.readers import read_source
from cxdata.importing.suggest import suggested_mapping
from cxdata.store import Store, connect


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return connect(tmp_path / "store")


def responses(store: Store) -> pd.DataFrame:
    return store.table(schema.RESPONSES).to_pandas()


def rejects_of(result: ImportResult) -> pd.DataFrame:
    assert result.rejects_file is not None
    return pd.read_csv(result.rejects_file, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def check_counts(result: ImportResult, expected: Expected) -> None:
    assert (result.read, result.imported, result.rejected) == (
        expected.read,
        expected.imported,
        expected.rejected,
    )
    assert result.imported + result.rejected == result.read
    if expected.reasons:
        rejects = rejects_of(result)
        for row, reason in expected.reasons.items():
            lines = rejects[rejects["row"] == str(row)]
            assert not lines.empty, f"row {row} missing from the rejects"
            assert lines["reason"].str.contains(reason).any(), (row, lines.to_dict("records"))
        assert set(rejects["row"].astype(int)) == set(expected.reasons)


def test_slovenian_cp1250_semicolons(store: Store, tmp_path: Path) -> None:
    expected = slovenian_cp1250(tmp_path)
    result = import_file(store, expected.path)
    check_counts(result, expected)
    assert result.encoding == "cp1250" and result.delimiter == ";"
    assert result.date_order == "day-first"
    t = store.table(schema.RESPONSES)
    assert t.columns[: len(schema.RESPONSE_CORE)] == tuple(schema.RESPONSE_CORE)
    assert {"region", "country"} <= set(t.columns)
    # accents survive: query them back
    stajerska = t.filter(t.region == "Štajerska").count().execute()
    good = [i for i in range(expected.read) if i + 2 not in expected.reasons]
    assert stajerska == sum(SL_REGIONS[i % 5] == "Štajerska" for i in good)
    assert t.filter(t.country == "Slovenija").count().execute() == expected.imported
    comments = set(t.filter(t.comment.notnull()).comment.to_pandas())
    assert comments == {
        "Zelo zadovoljen; hvala!",
        'Prodajalec je rekel "počakajte" in odšel',
        "Čakal sem predolgo\nna odgovor",
        "Žal brez pripomb",
    }
    row = t.filter(t.response_id == "SL-0003").to_pandas().iloc[0]
    assert row["submitted_at"] == pd.Timestamp("2025-04-04")  # "4. 4. 2025"
    assert row["nps"] == 3 and row["csat"] == 4
    assert row["touchpoint"] == "Blagajna"


def test_danish_cp1252_with_duplicate_id(store: Store, tmp_path: Path) -> None:
    expected = danish_cp1252(tmp_path)
    result = import_file(store, expected.path)
    check_counts(result, expected)
    assert result.encoding == "cp1252"
    frame = responses(store)
    assert set(frame["region"]) == set(DK_REGIONS)
    assert (frame["comment"] == "Ærgerligt – for lang ventetid på ø-færgen").sum() == 20
    assert frame["ces"].notna().all() and frame["nps"].notna().all()
    # an amount is neither a rating nor a filter: left out, and the report says why
    assert "belob" not in frame.columns and "Beløb" in result.left_out
    rejects = rejects_of(result)
    assert rejects.iloc[0].to_dict() == {
        "row": "9",
        "column": "Svar-ID",
        "value": "DK003",
        "reason": "duplicate response id (first in row 5)",
        "code": "duplicate_id",
    }


def test_bom_and_iso_timestamps(store: Store, tmp_path: Path) -> None:
    expected = bom_utf8(tmp_path)
    result = import_file(store, expected.path)
    check_counts(result, expected)
    frame = responses(store).sort_values("response_id", key=lambda s: s.str[1:].astype(int))
    assert frame["response_id"].iloc[0] == "R0"
    assert frame["submitted_at"].iloc[5] == pd.Timestamp("2025-03-06 10:05")
    assert set(frame["region"]) == {"Trøndelag"}


def test_quoted_newlines_and_ragged_rows(store: Store, tmp_path: Path) -> None:
    expected = quoted_and_ragged(tmp_path)
    result = import_file(store, expected.path)
    check_counts(result, expected)
    frame = responses(store).set_index("response_id")
    assert frame.loc["1", "comment"] == "line one\nline two, with comma"
    assert frame.loc["2", "comment"] == 'she said "hi"'
    assert frame.loc["4", "comment"] == "a\n\nb"
    # hostile text is stored as it came, never evaluated
    assert frame.loc["7", "comment"] == '=HYPERLINK("http://x")'


def test_mixed_scales_survey_imports_with_the_suggestion(store: Store, tmp_path: Path) -> None:
    expected = survey_mixed_scales(tmp_path)
    source = read_source(expected.path)
    mapping = suggested_mapping(source)
    by_source = {c.source: c for c in mapping.columns}
    assert by_source["Overall"].to == "rating" and by_source["Overall"].scale == (1, 10)
    assert "is not NPS" in by_source["Overall"].warning
    for name, label in [
        ("SeatComfort", "Seat comfort"),
        ("GroundService", "Ground service"),
        ("ValueForMoney", "Value for money"),
    ]:
        assert (by_source[name].to, by_source[name].touchpoint) == ("rating", label)
        assert by_source[name].scale == (1, 5) and not by_source[name].warning
    recommend = by_source["Would recommend"]
    assert (recommend.to, recommend.scale) == ("rating", (0, 1))  # its own yes/no measure
    assert "yes/no is not NPS" in recommend.warning
    assert by_source["Land"].to == "country"
    assert by_source["Class"].to == "class" and by_source["Route"].to == "route"
    assert "nps" not in {c.to for c in mapping.columns}

    result = import_file(store, expected.path)
    # the two rows without a 1–10 or 1–5 rating still answered the yes/no question
    assert (result.read, result.imported, result.rejected) == (expected.read, expected.read, 0)
    assert any("Overall" in w for w in result.warnings)
    frame = responses(store)
    assert frame["nps"].isna().all()
    ratings = store.table(schema.TOUCHPOINT_RATINGS).to_pandas()
    recommend = ratings[ratings["touchpoint"] == "Would recommend"]
    assert set(recommend["rating"]) == {0.0, 1.0} and set(recommend["scale"]) == {"0-1"}
    raw = pd.read_csv(expected.path, dtype=str)
    cells = (
        raw[["Overall", "SeatComfort", "GroundService", "ValueForMoney", "Would recommend"]]
        .notna()
        .sum()
    )
    assert len(ratings) == cells.sum() == result.ratings
    overall = ratings[ratings["touchpoint"] == "Overall"]
    assert set(overall["scale"]) == {"1-10"}
    merged = overall.merge(raw.rename(columns={"RespondentID": "response_id"}), on="response_id")
    assert (merged["rating"] == merged["Overall"].astype(float)).all()


def test_rescaled_profile_is_reused_for_the_next_export(store: Store, tmp_path: Path) -> None:
    first = survey_mixed_scales(tmp_path)
    mapping = suggested_mapping(read_source(first.path))
    overall = mapping.column("Overall")
    assert overall is not None
    overall.to, overall.rescale, overall.touchpoint = "nps", True, None
    data_dir = Path(store.location)
    save_profile(mapping, "airline", data_dir)
    second = tmp_path / "next_week.csv"
    pd.read_csv(first.path, dtype=str).assign(
        RespondentID=lambda f: "B" + f["RespondentID"]
    ).to_csv(second, index=False)
    result = import_file(store, second)
    assert result.profile == "airline"
    frame = responses(store)
    raw = pd.read_csv(second, dtype=str).rename(columns={"RespondentID": "response_id"})
    merged = frame.merge(raw, on="response_id").dropna(subset=["Overall"])
    assert merged["nps"].notna().all()
    expected_nps = ((merged["Overall"].astype(float) - 1) * 10 / 9 + 0.5).apply(int)
    assert (merged["nps"].astype(int) == expected_nps).all()
    assert merged["nps"].min() == 0 and merged["nps"].max() == 10


def test_scale_mismatch_without_rescale_is_refused(store: Store, tmp_path: Path) -> None:
    expected = survey_mixed_scales(tmp_path)
    mapping = suggested_mapping(read_source(expected.path))
    overall = mapping.column("Overall")
    assert overall is not None
    overall.to = "ces"
    with pytest.raises(MappingError, match="'Overall' is on a 1–10 scale but ces is 1–7"):
        import_file(store, expected.path, mapping=mapping)
    assert not store.has(schema.RESPONSES)


def test_duplicates_against_stored_data(store: Store, tmp_path: Path) -> None:
    expected = danish_cp1252(tmp_path)
    first = import_file(store, expected.path)
    assert first.imported == expected.imported
    again = import_file(store, expected.path)
    assert (again.read, again.imported) == (expected.read, 0)
    # the stored ones are counted, not rejected; the file's own duplicate is still a reject
    assert (again.already_stored, again.rejected) == (expected.imported, expected.rejected)
    assert set(rejects_of(again)["reason"]) == {"duplicate response id (first in row 5)"}
    assert store.row_count(schema.RESPONSES) == expected.imported
    replaced = import_file(store, expected.path, mode="replace")
    assert replaced.imported == expected.imported
    assert store.row_count(schema.RESPONSES) == expected.imported


def test_generated_ids_are_stable(store: Store, tmp_path: Path) -> None:
    path = write_text(tmp_path / "noid.csv", ["nps;date", "9;2025-01-02", "3;2025-01-03"], "utf-8")
    import_file(store, path)
    ids = sorted(responses(store)["response_id"])
    assert len(ids) == 2 and all(i.startswith("fp-") for i in ids)
    renamed = tmp_path / "noid (1).csv"  # the same export downloaded again
    renamed.write_bytes(path.read_bytes())
    again = import_file(store, renamed)
    assert (again.imported, again.rejected, again.already_stored) == (0, 0, 2)


def test_month_first_is_decided_from_the_column(store: Store, tmp_path: Path) -> None:
    result = import_file(store, us_dates(tmp_path))
    assert result.date_order == "month-first"
    assert any("12/31/2025 only fits month-first" in w for w in result.warnings)
    frame = responses(store).set_index("response_id")
    assert frame.loc["1", "submitted_at"] == pd.Timestamp("2025-03-04")
    assert frame.loc["3", "submitted_at"] == pd.Timestamp("2025-11-05 14:30")


def test_empty_header_only_and_garbage(store: Store, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableFile, match=r"empty\.csv"):
        import_file(store, empty)
    header = write_text(tmp_path / "header.csv", ["ID;Anbefale;Dato"], "utf-8")
    result = import_file(store, header)
    assert (result.read, result.imported, result.rejected) == (0, 0, 0)
    assert not store.has(schema.RESPONSES)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(UnreadableFile, match=r"garbage\.csv: binary content"):
        import_file(store, garbage)


def snapshot(store: Store) -> tuple[tuple[str, ...], pd.DataFrame, pd.DataFrame]:
    """Columns and sorted contents of the responses and their ratings."""
    frame = responses(store).sort_values("response_id").reset_index(drop=True)
    ratings = store.table(schema.TOUCHPOINT_RATINGS).to_pandas()
    ratings = ratings.sort_values(["response_id", "touchpoint"]).reset_index(drop=True)
    return store.table(schema.RESPONSES).columns, frame, ratings


@pytest.mark.parametrize(
    ("file", "mode", "fail_after"),
    [
        ("week2", "append", schema.TOUCHPOINT_RATINGS),  # both tables written, then fails
        ("week2", "replace", schema.RESPONSES),  # new table swapped in, then fails
        ("slovenian", "append", schema.RESPONSES),  # columns added + rows inserted, then fails
    ],
)
def test_failed_import_leaves_the_store_unchanged(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file: str,
    mode: str,
    fail_after: str,
) -> None:
    base = survey_mixed_scales(tmp_path)
    import_file(store, base.path)
    columns, frame, ratings = snapshot(store)
    week2 = tmp_path / "week2.csv"
    pd.read_csv(base.path, dtype=str).assign(
        RespondentID=lambda f: "W2" + f["RespondentID"]
    ).to_csv(week2, index=False)
    path = week2 if file == "week2" else slovenian_cp1250(tmp_path).path
    real = cxdata.store._run_in_transaction
    written: list[str] = []

    def write_then_fail(cur, statements):  # type: ignore[no-untyped-def]
        # Run the import's statements up to the last one touching `fail_after`, then fail
        # inside the same transaction, as a full disk would.
        last = max(i for i, sql in enumerate(statements) if f'"{fail_after}' in sql)
        written.append(fail_after)
        real(cur, [*statements[: last + 1], "SELECT error('disk full (simulated)')"])

    monkeypatch.setattr(cxdata.store, "_run_in_transaction", write_then_fail)
    with pytest.raises(duckdb.Error, match="simulated"):
        import_file(store, path, mode=mode)
    assert written == [fail_after]
    after_columns, after_frame, after_ratings = snapshot(store)
    assert after_columns == columns
    pd.testing.assert_frame_equal(after_frame, frame)
    pd.testing.assert_frame_equal(after_ratings, ratings)
    assert not any(t.endswith("__new") for t in store.backend.list_tables())
    monkeypatch.undo()
    again = import_file(store, path, mode=mode)  # nothing half-done blocks a retry
    assert again.imported > 0


def test_replace_with_nothing_valid_keeps_the_data(store: Store, tmp_path: Path) -> None:
    import_file(store, bom_utf8(tmp_path).path)
    bad = write_text(
        tmp_path / "bad.csv",
        ["Response ID,Date,Recommend us (0-10)", "x1,2025-01-01,11", "x2,2025-01-02,12"],
        "utf-8",
    )
    with pytest.raises(NothingToImport, match=r"bad\.csv: no valid row"):
        import_file(store, bad, mode="replace")
    assert store.row_count(schema.RESPONSES) == 30


def test_original_file_and_log_are_kept(store: Store, tmp_path: Path) -> None:
    expected = slovenian_cp1250(tmp_path)
    result = import_file(store, expected.path)
    assert result.stored_file is not None
    kept = Path(result.stored_file)
    assert kept.parent == Path(store.location) / "imports"
    assert kept.read_bytes() == expected.path.read_bytes()
    from cxdata.importing.datasets import dataset_summaries, last_imports

    entry = last_imports(store.location)[schema.RESPONSES]
    assert entry["file"] == expected.path.name and entry["imported"] == expected.imported
    summary = dataset_summaries(store).set_index("dataset")
    assert summary.loc[schema.RESPONSES, "rows"] == expected.imported
    assert summary.loc[schema.RESPONSES, "first"] == pd.Timestamp("2025-01-01")


def test_rejects_csv_neutralises_formulas(store: Store, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "evil.csv",
        [
            "id,date,nps,comment",
            "1,2025-01-01,=1+1,x",
            "2,2025-01-01,@SUM(A1),y",
            "3,2025-01-01,-5,z",
            "4,2025-01-01,+3,<script>alert(1)</script>",
        ],
        "utf-8",
    )
    result = import_file(store, path)
    assert (result.imported, result.rejected) == (1, 3)
    raw = Path(str(result.rejects_file)).read_text(encoding="utf-8-sig")
    assert "'=1+1" in raw and "'@SUM(A1)" in raw and "'-5" in raw
    assert responses(store)["comment"].tolist() == ["<script>alert(1)</script>"]


def test_long_and_control_text_is_stored_as_text(store: Store, tmp_path: Path) -> None:
    long = "ø" * 20_000
    path = tmp_path / "ctl.csv"
    path.write_text(
        f'id,date,nps,comment\n1,2025-01-01,9,"{long}"\n2,2025-01-01,8,"tab\there\x07bell"\n',
        encoding="utf-8",
    )
    result = import_file(store, path)
    assert result.imported == 2
    frame = responses(store).set_index("response_id")
    assert frame.loc["1", "comment"] == long
    assert frame.loc["2", "comment"] == "tab\there\x07bell"


def test_appending_keeps_existing_column_types(store: Store, tmp_path: Path) -> None:
    store.replace_table(
        schema.RESPONSES,
        pd.DataFrame(
            {
                "response_id": ["old"],
                "submitted_at": [pd.Timestamp("2025-01-01")],
                "nps": pd.array([9], dtype="Int8"),
                "visits": pd.array([41], dtype="Int64"),
            }
        ),
    )
    path = write_text(
        tmp_path / "visits.csv",
        ["id,date,nps,Visits,plan", "1,2025-01-01,9,35,Basic", "2,2025-01-01,7,many,Plus"],
        "utf-8",
    )
    result = import_file(store, path)
    assert (result.imported, result.rejected) == (1, 1)
    assert (
        "not a whole number (the stored column visits is int64)"
        in rejects_of(result)["reason"].iloc[0]
    )
    t = store.table(schema.RESPONSES)
    assert t.schema()["visits"].is_integer() and t.schema()["plan"].is_string()
    assert sorted(t.visits.to_pandas().tolist()) == [35, 41]


def test_wide_metrics_with_decimal_comma(store: Store, tmp_path: Path) -> None:
    path, values = danish_metrics_decimal_comma(tmp_path)
    result = import_file(store, path, dataset=schema.METRICS)
    assert (result.read, result.imported, result.rejected) == (4, 4, 0)
    metrics = store.table(schema.METRICS).to_pandas()
    assert len(metrics) == 8
    for metric, expected in values.items():
        got = metrics[metrics["metric"] == metric].sort_values("date")["value"].tolist()
        assert got == expected
    assert set(metrics["department"]) == {"Kundeservice Ø"}
    assert str(store.table(schema.METRICS).schema()["date"]) == "date"


def test_long_metrics(store: Store, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "long.csv",
        [
            "Date;KPI;Value;Unit;Target",
            "2025-01-31;churn;2,5;%;2",
            "2025-02-28;churn;x;%;2",
            "2025-03-31;;1,9;%;2",
        ],
        "utf-8",
    )
    result = import_file(store, path, dataset=schema.METRICS)
    assert (result.read, result.imported, result.rejected) == (3, 1, 2)
    metrics = store.table(schema.METRICS).to_pandas()
    assert metrics[["metric", "value", "unit", "target"]].iloc[0].tolist() == [
        "churn",
        2.5,
        "%",
        2.0,
    ]


def test_excel_import(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"x": [1]}).to_excel(xl, sheet_name="Forside", index=False)
        pd.DataFrame(
            {
                "Svar ID": ["E1", "E2", "E3"],
                "Dato": pd.to_datetime(["2025-01-31", "2025-02-01", "2025-02-02"]),
                "Anbefale": [9, 11, 6],
                "Kontaktpunkt": ["Kasse", "Levering", "Kundeservice"],
                "Region": ["Øst", "Sør", "Nord"],
            }
        ).to_excel(xl, sheet_name="Svar", index=False)
    result = import_file(store, path, sheet="Svar")
    assert (result.read, result.imported, result.rejected) == (3, 2, 1)
    assert rejects_of(result).iloc[0]["row"] == "3"
    frame = responses(store).set_index("response_id")
    assert frame.loc["E1", "touchpoint"] == "Kasse" and frame.loc["E3", "region"] == "Nord"
    assert frame.loc["E3", "submitted_at"] == pd.Timestamp("2025-02-02")


def test_parquet_import(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.parquet"
    pd.DataFrame(
        {
            "response_id": ["P1", "P2"],
            "submitted_at": pd.to_datetime(["2025-01-01", "2025-01-02"]),
            "nps": [10, 3],
            "csat": [5.0, None],
            "region": ["Koroška", "Goriška"],
        }
    ).to_parquet(path)
    result = import_file(store, path)
    assert (result.read, result.imported, result.rejected) == (2, 2, 0)
    t = store.table(schema.RESPONSES)
    assert t.filter(t.region == "Koroška").nps.to_pandas().tolist() == [10]


def test_large_file_is_fast_and_exact(store: Store, tmp_path: Path) -> None:
    expected = large_csv(tmp_path, 200_000)
    started = time.perf_counter()
    result = import_file(store, expected.path)
    took = time.perf_counter() - started
    check_counts(result, expected)
    assert took < 15, took
    t = store.table(schema.RESPONSES)
    assert t.count().execute() == expected.imported
    assert t.filter(t.region == "Øst").count().execute() > 30_000
    assert t.filter(t.comment == "Lang kø; måtte vente").count().execute() > 40_000
    assert t.nps.max().execute() == 10


def test_mapping_json_round_trip(tmp_path: Path) -> None:
    expected = survey_mixed_scales(tmp_path)
    mapping = suggested_mapping(read_source(expected.path))
    again = Mapping.from_json(mapping.to_json())
    assert again.to_dict() == mapping.to_dict()
    with pytest.raises(MappingError, match=r"m\.json: not valid JSON"):
        Mapping.from_json("{", "m.json")
    with pytest.raises(MappingError, match="scale must be"):
        Mapping.from_dict({"columns": {"x": {"to": "rating", "scale": [5, 1]}}})


def test_future_dates_are_rejected_with_a_reason(store: Store, tmp_path: Path) -> None:
    """A 2099 typo would make every date preset end in 2099: the row is rejected instead."""
    path = write_text(
        tmp_path / "future.csv",
        ["id;dato;anbefale", "1;2025-01-02;9", "2;2099-01-03;3", "3;2025-01-04;7"],
        "utf-8",
    )
    result = import_file(store, path)
    assert (result.imported, result.rejected) == (2, 1)
    reject = rejects_of(result).iloc[0]
    assert (reject["row"], reject["code"]) == ("3", "future_date")
    assert reject["reason"].startswith("in the future (after ")


def test_original_copy_failing_before_the_commit_changes_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = slovenian_cp1250(tmp_path)

    def full_disk(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(load.shutil, "copyfile", full_disk)
    with pytest.raises(OSError, match="No space left"):
        import_file(store, expected.path)
    assert not store.has(schema.RESPONSES)


def test_failures_after_the_commit_are_warnings(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows committed, then the theme update and the log fail: the import still reports
    what was stored, and a retry finds every row already stored (not a failure)."""
    from cxdata.importing import datasets
    from cxdata.voc import persist

    expected = slovenian_cp1250(tmp_path)

    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("theme model crashed")

    def log_fails(*_args: object) -> None:
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(persist, "has_results", lambda _store: True)
    monkeypatch.setattr(persist, "update_themes", broken)
    monkeypatch.setattr(load, "record_import", log_fails)
    result = import_file(store, expected.path)
    assert result.imported == expected.imported
    assert store.row_count(schema.RESPONSES) == expected.imported
    assert any("themes were not updated (theme model crashed)" in w for w in result.warnings)
    assert any("import log could not be written" in w for w in result.warnings)
    assert result.stored_file and Path(result.stored_file).is_file()
    monkeypatch.setattr(load, "record_import", datasets.record_import)
    again = import_file(store, expected.path)
    assert (again.imported, again.already_stored) == (0, expected.imported)
    assert datasets.last_imports(store.location)[schema.RESPONSES]["already_stored"] == (
        expected.imported
    )
