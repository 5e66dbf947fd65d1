"""Suggested mappings (aliases in five languages, values), dates and numbers, names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import random_responses
from import_corpus import SL_REGIONS, slovenian_cp1250, write_text

from cxdata import schema
from cxdata.importing import import_file
from cxdata.importing.dates import parse_dates
from cxdata.importing.mapping import Mapping
from cxdata.importing.names import display_name, identifier, spreadsheet_safe
from cxdata.importing.numbers import parse_numbers
from cxdata.importing.profiles import matching_profile, save_profile
from cxdata.importing.readers import read_source
from cxdata.importing.suggest import suggest_mapping
from cxdata.importing.table import mapping_from_table, mapping_table
from cxdata.store import connect


def suggestion(tmp_path: Path, header: list[str], rows: list[list[str]], **kw: str) -> dict:
    lines = [";".join(header), *(";".join(r) for r in rows)]
    source = read_source(write_text(tmp_path / "s.csv", lines, "utf-8"))
    mapping = suggest_mapping(source, **kw)
    return {c.source: c for c in mapping.columns}


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Hvor sannsynlig er det at du vil anbefale oss?", "nps"),  # Norwegian
        ("Hvor sandsynligt er det, at du vil anbefale os", "nps"),  # Danish
        ("Hur troligt är det att du skulle rekommendera oss", "nps"),  # Swedish
        ("Kako verjetno bi nas priporočili prijatelju", "nps"),  # Slovenian
        ("Likelihood to recommend", "nps"),
        ("Tilfredshed", "csat"),
        ("Tilfredshet med besøket", "csat"),
        ("Hur nöjd är du", "csat"),
        ("Zadovoljstvo", "csat"),
        ("Overall satisfaction", "csat"),
        ("Hvor enkelt var det?", "ces"),
        ("Customer Effort", "ces"),
        ("Enostavnost", "ces"),
    ],
)
def test_score_aliases(tmp_path: Path, header: str, target: str) -> None:
    high = {"nps": 10, "csat": 5, "ces": 7}[target]
    rows = [[str(v % (high + 1) if target == "nps" else v % high + 1)] for v in range(40)]
    assert suggestion(tmp_path, [header, "x"], [[r[0], "a"] for r in rows])[header].to == target


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Region", "region"),
        ("Regija", "region"),
        ("Område", "region"),
        ("Land", "country"),
        ("Država", "country"),
        ("Kanal", "channel"),
        ("Kontaktpunkt", "touchpoint"),
        ("Stična točka", "touchpoint"),
        ("Kommentar", "comment"),
        ("Komentar", "comment"),
        ("Fritekst", "comment"),
        ("Kundenummer", "customer_id"),
        ("Sprog", "language"),
        ("Jezik", "language"),
        ("Kundereise", "journey_stage"),
        ("Aldersgruppe", "age_group"),
        ("Spol", "gender"),
        ("Abonnement", "plan"),
        ("Favorite colour (å)", "favorite_colour_a"),
    ],
)
def test_field_and_segment_aliases(tmp_path: Path, header: str, target: str) -> None:
    cols = suggestion(tmp_path, ["NPS", header], [["9", "Østfold"], ["3", "Čačak"]])
    assert cols[header].to == target


@pytest.mark.parametrize("header", ["Dato", "Datum", "Date", "Tidspunkt", "Submitted"])
def test_date_aliases(tmp_path: Path, header: str) -> None:
    cols = suggestion(tmp_path, ["NPS", header], [["9", "31.12.2025"], ["3", "1. 1. 2025"]])
    assert cols[header].to == "submitted_at"


def test_values_suggest_scores_when_headers_say_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [
        [str(a), str(b), f"2025-01-{i % 28 + 1:02d}"]
        for i, (a, b) in enumerate(
            zip(rng.integers(0, 11, 80), rng.integers(1, 6, 80), strict=True)
        )
    ]
    cols = suggestion(tmp_path, ["Q1", "Q2", "When"], rows)
    # values alone never make NPS: the question must ask about recommending
    assert (cols["Q1"].to, cols["Q1"].scale) == ("rating", (0, 10))
    assert "does not ask about recommending" in cols["Q1"].note
    assert cols["Q2"].to == "rating" and cols["Q2"].scale == (1, 5)
    assert cols["When"].to == "submitted_at"
    lone = suggestion(
        tmp_path, ["Stars", "When"], [[str(v % 5 + 1), "2025-01-01"] for v in range(50)]
    )
    assert lone["Stars"].to == "csat" and "star rating" in lone["Stars"].note
    lone = suggestion(
        tmp_path, ["Score", "When"], [[str(v % 7 + 1), "2025-01-01"] for v in range(50)]
    )
    assert (lone["Score"].to, lone["Score"].scale) == ("rating", (1, 7))


def test_recommend_on_one_to_ten_is_nps_with_a_warning(tmp_path: Path) -> None:
    rows = [[str(v % 10 + 1)] for v in range(100)]
    cols = suggestion(tmp_path, ["How likely to recommend (1-10)"], rows)
    col = cols["How likely to recommend (1-10)"]
    assert (col.to, col.scale) == ("nps", (1, 10))
    assert "asked on 1–10" in col.warning
    cols = suggestion(tmp_path, ["Anbefale"], rows)  # no declared scale, but no 0 in 100
    assert cols["Anbefale"].to == "nps" and "no answer is 0 among 100" in cols["Anbefale"].warning
    cols = suggestion(tmp_path, ["Overall"], rows)
    assert cols["Overall"].to == "rating" and "is not NPS" in cols["Overall"].warning


def test_named_nps_with_one_to_five_values_is_not_nps(tmp_path: Path) -> None:
    rows = [[str(v % 5 + 1)] for v in range(40)]
    for header in ("NPS", "survey_q6_nps", "Q1_NPS"):
        col = suggestion(tmp_path, [header], rows)[header]
        assert (col.to, col.scale) == ("rating", (1, 5)), header
        assert "not NPS (NPS needs 0–10 answers)" in col.warning
    col = suggestion(tmp_path, ["survey_q6_nps"], [[str(v % 11)] for v in range(40)])[
        "survey_q6_nps"
    ]
    assert col.to == "nps"


def test_metrics_suggestion(tmp_path: Path) -> None:
    cols = suggestion(
        tmp_path,
        ["Måned", "KPI", "Verdi", "Enhet"],
        [["2025-01-31", "churn", "2,5", "%"]],
        dataset="metrics",
    )
    assert [c.to for c in cols.values()] == ["date", "metric", "value", "unit"]


def test_profile_matches_by_header_shape(tmp_path: Path) -> None:
    expected = slovenian_cp1250(tmp_path)
    source = read_source(expected.path)
    mapping = suggest_mapping(source)
    save_profile(mapping, "anketa SI", tmp_path)
    found = matching_profile(source.headers, tmp_path)
    assert found is not None and found.profile == "anketa SI"
    assert found.to_dict() == mapping.to_dict()
    assert matching_profile([*source.headers, "extra"], tmp_path) is None
    assert matching_profile(source.headers, tmp_path, dataset="metrics") is None


def test_editor_table_round_trip(tmp_path: Path) -> None:
    source = read_source(slovenian_cp1250(tmp_path).path)
    mapping = suggest_mapping(source)
    table = mapping_table(mapping, source)
    row = table.set_index("column").loc["Regija"]
    assert (row["to"], row["name"], row["examples"].split(" · ")[0]) == (
        "segment",
        "region",
        "Štajerska",
    )
    back = mapping_from_table(table, mapping)
    assert back.to_dict() == mapping.to_dict()
    table.loc[table["column"] == "Regija", "to"] = "leave out"
    table.loc[4, "scale"] = "nonsense"
    table.loc[5, "labels"] = "Very=x"
    with pytest.raises(Exception, match=r"(?s)scale must look like 1-5.*labels must look like"):
        mapping_from_table(table, mapping)


def test_appending_to_stored_random_responses(tmp_path: Path) -> None:
    store = connect(tmp_path / "store")
    store.replace_table(schema.RESPONSES, random_responses(500, seed=3))
    expected = slovenian_cp1250(tmp_path)
    result = import_file(store, expected.path)
    assert (result.imported, result.rejected) == (expected.imported, expected.rejected)
    t = store.table(schema.RESPONSES)
    assert t.count().execute() == 500 + expected.imported
    goriska = sum(
        SL_REGIONS[i % 5] == "Goriška"
        for i in range(expected.read)
        if i + 2 not in expected.reasons
    )
    assert t.filter(t.region == "Goriška").count().execute() == goriska
    assert t.schema()["nps"].is_integer() and t.schema()["plan"].is_string()


def test_dates_unit() -> None:
    parsed = parse_dates(
        pd.Series(
            ["19th November 2023", "1700000000", "2025-02-29", "5. 9. 2025", None], dtype="str"
        )
    )
    assert parsed.values[0] == np.datetime64("2023-11-19")
    assert parsed.values[1] == np.datetime64("2023-11-14T22:13:20")
    assert parsed.invalid.tolist() == [False, False, True, False, False]
    assert parsed.reasons[2] == "impossible date or time"
    forced = parse_dates(pd.Series(["05/06/2025"], dtype="str"), order="month-first")
    assert forced.values[0] == np.datetime64("2025-05-06")


def test_numbers_unit() -> None:
    parsed = parse_numbers(
        pd.Series(["7,5", "1.234,5", "1 234,5", "31.12.2025", "n/a"], dtype="str")
    )
    assert parsed.values[:3].tolist() == [7.5, 1234.5, 1234.5]
    assert parsed.invalid.tolist() == [False, False, False, True, False]
    assert parsed.missing.tolist() == [False, False, False, False, True]


def test_names() -> None:
    assert identifier("Aldersgruppe (år)") == "aldersgruppe_ar"
    assert identifier("Čas odziva – ž") == "cas_odziva_z"
    assert identifier("Æble Ø Å ä ö") == "aeble_o_a_a_o"
    assert identifier("2nd visit") == "_2nd_visit"
    assert display_name("ValueForMoney") == "Value for money"
    assert display_name("NPS_overall") == "NPS overall"
    assert [spreadsheet_safe(v) for v in ["=1", "+1", "-1", "@x", "ok"]] == [
        "'=1",
        "'+1",
        "'-1",
        "'@x",
        "ok",
    ]


def test_engine_never_imports_streamlit() -> None:
    code = (
        "import sys, cxdata.importing, cxdata.importing.cli; "
        "assert 'streamlit' not in sys.modules, 'streamlit imported'"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_mapping_reports_unknown_columns(tmp_path: Path) -> None:
    path = write_text(tmp_path / "m.csv", ["a;nps", "1;9"], "utf-8")
    mapping = Mapping.from_dict({"columns": {"missing": "region", "nps": "nps"}})
    with pytest.raises(Exception, match="columns of the mapping not in the file: 'missing'"):
        import_file(connect(tmp_path / "s"), path, mapping=mapping)
