"""Where the header is: title lines above it, total lines below the data, SurveyMonkey and
Qualtrics multi-row headers, multi-select questions over one column per option, an explicit
header row, Excel title blocks and the field export c03.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from import_corpus import write_text

from cxdata.importing.errors import UnreadableFile
from cxdata.importing.layout import detect_layout, is_numberish, merge_options, summary_label
from cxdata.importing.readers import read_source

FIELD = Path("/work/shared/field")


def write_rows(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return path


# --- lines above the header, total lines below the data -----------------------------------


@pytest.mark.parametrize(
    ("total", "average"),
    [
        ("Total", "Average"),
        ("Totalt", "Gjennomsnitt"),
        ("Sum", "Snitt"),
        ("I alt", "Gennemsnit"),
        ("Summa", "Medelvärde"),
        ("Skupaj", "Povprečje"),
        ("Gesamt", "Durchschnitt"),
        ("Yhteensä", "Keskiarvo"),
    ],
)
def test_title_period_and_blank_lines_above_totals_below(
    tmp_path: Path, total: str, average: str
) -> None:
    lines = [
        "Customer survey report",
        "Period: 01.03.2024–31.03.2024",
        "",
        "id;date;nps;region;comment",
        "1;01.03.2024;9;Øst;Fine",
        "2;02.03.2024;7;Vest;",
        '3;03.03.2024;10;Nord;"Great; thanks"',
        "",
        f"{total};;26;;",
        f"{average};;8,67;;",
    ]
    source = read_source(write_text(tmp_path / "report.csv", lines, "utf-8"))
    assert source.delimiter == ";"
    assert source.headers == ["id", "date", "nps", "region", "comment"]
    assert source.header_row == 4 and source.header_rows == 1
    assert source.rows.tolist() == [5, 6, 7]
    assert source.read == 3  # neither the title lines nor the totals are records
    assert source.frame["comment"].tolist()[::2] == ["Fine", "Great; thanks"]
    assert source.blank_rows == 0  # the blank line before the totals belongs to them
    assert source.skipped == [
        "rows 1–3 above the header skipped (title, period, blank)",
        f"row 9 below the data skipped: {total!r}",
        f"row 10 below the data skipped: {average!r}",
    ]
    assert "header on row 4" in source.describe()
    assert "2 total lines skipped" in source.describe()


def test_a_total_line_with_fewer_fields_is_not_a_bad_record(tmp_path: Path) -> None:
    lines = ["Survey export", "", "id,nps,comment", "1,9,a", "2,8,b", "Total:,17"]
    source = read_source(write_text(tmp_path / "t.csv", lines, "utf-8"))
    assert source.rows.tolist() == [4, 5]
    assert source.bad_records.empty
    assert source.read == 2
    assert source.skipped[-1] == "row 6 below the data skipped: 'Total:'"


def test_a_line_of_sums_without_a_label_is_skipped(tmp_path: Path) -> None:
    lines = ["id,date,nps,csat", "1,2024-03-01,9,4", "2,2024-03-02,7,5", "3,2024-03-03,10,3"]
    source = read_source(write_text(tmp_path / "s.csv", [*lines, ",,26,12"], "utf-8"))
    assert source.rows.tolist() == [2, 3, 4]
    assert source.skipped == ["row 5 below the data skipped: numbers only (a sum or average)"]
    source = read_source(write_text(tmp_path / "m.csv", [*lines, ",,8.67,4.0"], "utf-8"))
    assert source.rows.tolist() == [2, 3, 4]  # means, shown with decimals
    # a last answer without a date is data, not a sum
    source = read_source(write_text(tmp_path / "p.csv", [*lines, "4,,8,4"], "utf-8"))
    assert source.rows.tolist() == [2, 3, 4, 5]
    assert source.skipped == []
    metrics = ["Date;KPI;Value;Unit;Target", "2025-01-31;churn;2,5;%;2", "2025-02-28;nps;x;%;2"]
    source = read_source(write_text(tmp_path / "k.csv", [*metrics, "2025-03-31;;1,9;%;4"], "utf-8"))
    assert source.rows.tolist() == [2, 3, 4]  # 4 is the targets' sum, but 1,9 is no sum


def test_total_word_inside_the_data_is_data(tmp_path: Path) -> None:
    lines = ["plan,nps,comment", "Total care,9,good", "Basic,7,Total waste of time", "Pro,8,ok"]
    source = read_source(write_text(tmp_path / "w.csv", lines, "utf-8"))
    assert source.rows.tolist() == [2, 3, 4]
    assert source.skipped == []


def test_delimiter_is_found_below_a_title_with_commas(tmp_path: Path) -> None:
    lines = [
        "Kundeundersøkelse, mars 2024",
        "Periode: 01.03.2024 - 31.03.2024",
        "",
        "ID;Dato;Anbefaling;Kommentar",
        *[f"{i};0{i}.03.2024;{i + 3};Bra, takk" for i in range(1, 8)],
    ]
    source = read_source(write_text(tmp_path / "no.csv", lines, "cp1252"))
    assert source.delimiter == ";"
    assert source.headers == ["ID", "Dato", "Anbefaling", "Kommentar"]
    assert source.rows.tolist() == list(range(5, 12))
    assert source.frame["Kommentar"].iloc[0] == "Bra, takk"


def test_a_normal_one_row_csv_is_unchanged(tmp_path: Path) -> None:
    lines = ["id,date,nps,comment", "1,2024-03-01,9,", '2,2024-03-02,7,"a, b"', "", "3,x,10,c"]
    source = read_source(write_text(tmp_path / "plain.csv", lines, "utf-8"))
    assert source.headers == ["id", "date", "nps", "comment"]
    assert source.rows.tolist() == [2, 3, 5]
    assert source.read == 3 and source.blank_rows == 1
    assert source.frame["comment"].tolist()[1:] == ["a, b", "c"]
    assert pd.isna(source.frame["comment"].iloc[0])
    assert (source.header_row, source.header_rows, source.header_kind) == (1, 1, "plain")
    assert source.skipped == [] and source.options == {} and source.import_ids == {}
    assert source.questions == {h: h for h in source.headers}
    assert source.describe() == "csv, utf-8, comma-separated, 3 records"


# --- SurveyMonkey ---------------------------------------------------------------------------

SM_ROW1 = [
    "Respondent ID", "Collector ID", "Start Date", "IP Address",
    "How likely are you to recommend us?", "Which plan are you on?", "",
    "Which of these features do you use?", "", "", "", "Rate us on:", "", "Comments",
]  # fmt: skip
SM_ROW2 = [
    "", "", "", "", "Response", "Response", "Other (please specify)",
    "Reports", "Dashboards", "Alerts", "Other (please specify)", "Price", "Quality",
    "Open-Ended Response",
]  # fmt: skip


def test_surveymonkey_two_header_rows(tmp_path: Path) -> None:
    rows = [
        SM_ROW1,
        SM_ROW2,
        ["1001", "55", "03/01/2024 09:00:00 AM", "10.0.0.1", "9", "Pro", "", "Reports", "",
         "Alerts", "", "Good", "Excellent", "Great, thanks"],
        ["1002", "55", "03/02/2024 10:00:00 AM", "10.0.0.2", "7", "", "Enterprise plan", "",
         "Dashboards", "", "custom exports", "Poor", "Good", ""],
        ["1003", "55", "03/03/2024 11:00:00 AM", "10.0.0.3", "3", "Basic", "", "", "", "", "",
         "Fair", "Fair", 'Too "slow"\nreally'],
    ]  # fmt: skip
    source = read_source(write_rows(tmp_path / "sm.csv", rows))
    plan, features = "Which plan are you on?", "Which of these features do you use?"
    assert source.headers == [
        "Respondent ID", "Collector ID", "Start Date", "IP Address",
        "How likely are you to recommend us?", plan, f"{plan} - Other (please specify)",
        features, f"{features} - Other (please specify)",
        "Rate us on: - Price", "Rate us on: - Quality", "Comments",
    ]  # fmt: skip
    assert (source.header_row, source.header_rows, source.header_kind) == (1, 2, "surveymonkey")
    assert source.rows.tolist() == [3, 4, 5]
    assert source.options == {features: ["Reports", "Dashboards", "Alerts"]}
    assert source.frame[features].tolist()[:2] == ["Reports; Alerts", "Dashboards"]
    assert pd.isna(source.frame[features].iloc[2])
    assert source.frame[f"{features} - Other (please specify)"].iloc[1] == "custom exports"
    assert source.frame[f"{plan} - Other (please specify)"].iloc[1] == "Enterprise plan"
    assert source.frame["Rate us on: - Quality"].tolist() == ["Excellent", "Good", "Fair"]
    assert source.frame["Comments"].iloc[2] == 'Too "slow"\nreally'
    assert source.questions["Comments"] == "Comments"
    assert source.questions[features] == features
    assert "SurveyMonkey header on rows 1–2" in source.describe()


def test_surveymonkey_field_export_c03() -> None:
    path = FIELD / "c03.csv"
    if not path.exists():
        pytest.skip("the shared field cases are not here")
    source = read_source(path)
    recommend = "How likely is it that you would recommend Acme to a friend or colleague?"
    satisfied = "Overall, how satisfied or dissatisfied are you with your most recent order?"
    used = "Which of these did you use to place the order?"
    better = "What is the one thing we could do better?"
    assert source.headers == [
        "Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
        "Email Address", "First Name", "Last Name", "Custom Data 1",
        recommend, satisfied, used, better,
    ]  # fmt: skip
    assert source.questions[recommend] == recommend
    assert source.questions[used] == used
    assert source.options == {used: ["Website", "Mobile app", "Store"]}
    assert source.header_kind == "surveymonkey"
    assert (source.header_row, source.header_rows) == (1, 2)
    assert source.read == 25
    assert source.rows.tolist() == list(range(3, 28))
    assert source.frame[used].tolist()[:3] == ["Mobile app", "Website; Mobile app", "Website"]
    assert source.frame[used].tolist()[22] == "Store"
    assert source.frame[recommend].iloc[0] == "6"
    assert source.frame[better].iloc[0] == "Delivery was two days late, order 1000"


# --- Qualtrics ------------------------------------------------------------------------------


def _import_id(value: str, **extra: str) -> str:
    return json.dumps({"ImportId": value, **extra})


def qualtrics_rows() -> list[list[str]]:
    meta = [
        ("StartDate", "Start Date", "startDate"),
        ("EndDate", "End Date", "endDate"),
        ("Status", "Response Type", "status"),
        ("IPAddress", "IP Address", "ipAddress"),
        ("Progress", "Progress", "progress"),
        ("Duration (in seconds)", "Duration (in seconds)", "duration"),
        ("Finished", "Finished", "finished"),
        ("RecordedDate", "Recorded Date", "recordedDate"),
        ("ResponseId", "Response ID", "_recordId"),
        ("RecipientEmail", "Recipient Email", "recipientEmail"),
        ("DistributionChannel", "Distribution Channel", "distributionChannel"),
        ("UserLanguage", "User Language", "userLanguage"),
    ]
    zone = {"timeZone": "America/Denver"}
    ids = [m[0] for m in meta] + ["Q1", "Q2_1", "Q2_2", "Q3_1", "Q3_2", "Q3_3", "Q3_3_TEXT"]
    texts = [m[1] for m in meta] + [
        "How likely are you to recommend us?\n(0 = not at all, 10 = extremely)",
        "How satisfied are you with… - Price",
        "How satisfied are you with… - Quality",
        "Which channels did you use? - Selected Choice - Website",
        "Which channels did you use? - Selected Choice - App",
        "Which channels did you use? - Selected Choice - Other",
        "Which channels did you use? - Other - Text",
    ]
    import_ids = [_import_id(m[2], **(zone if "Date" in m[0] else {})) for m in meta] + [
        _import_id("QID1"),
        _import_id("QID2_1"),
        _import_id("QID2_2"),
        _import_id("QID3", choiceId="1"),
        _import_id("QID3", choiceId="2"),
        _import_id("QID3", choiceId="3"),
        _import_id("QID3_3_TEXT"),
    ]
    data = []
    for i, (nps, price, quality, web, app, other, text) in enumerate(
        [
            ("9", "4", "5", "1", "", "1", "bike shop"),
            ("3", "1", "2", "", "1", "", ""),
            ("10", "5", "5", "", "", "", ""),
        ]
    ):
        day = f"2024-03-0{i + 1}"
        times = [f"{day} 09:00:00", f"{day} 09:05:00"]
        meta_values = ["IP Address", f"10.0.0.{i}", "100", "300", "True", f"{day} 09:05:01"]
        person = [f"R_{i:03d}", f"u{i}@example.com", "anonymous", "EN"]
        data.append([*times, *meta_values, *person, nps, price, quality, web, app, other, text])
    return [ids, texts, import_ids, *data]


def test_qualtrics_three_header_rows(tmp_path: Path) -> None:
    source = read_source(write_rows(tmp_path / "qualtrics.csv", qualtrics_rows()))
    assert (source.header_row, source.header_rows, source.header_kind) == (1, 3, "qualtrics")
    assert source.headers == [
        "StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)",
        "Finished", "RecordedDate", "ResponseId", "RecipientEmail", "DistributionChannel",
        "UserLanguage", "Q1", "Q2_1", "Q2_2", "Q3", "Q3_3_TEXT",
    ]  # fmt: skip
    # the question text row holds a quoted newline: the data still starts on row 4
    assert source.rows.tolist() == [4, 5, 6]
    assert source.read == 3
    assert source.frame["ResponseId"].tolist() == ["R_000", "R_001", "R_002"]
    assert source.questions["StartDate"] == "Start Date"
    assert source.questions["Q1"] == (
        "How likely are you to recommend us? (0 = not at all, 10 = extremely)"
    )
    assert source.questions["Q2_1"] == "How satisfied are you with… - Price"
    assert source.import_ids["StartDate"] == {"ImportId": "startDate", "timeZone": "America/Denver"}
    assert source.import_ids["Q1"] == {"ImportId": "QID1"}
    # a choice per column (1 = chosen) is one column; a matrix of 1–5 ratings stays apart
    assert source.options == {"Q3": ["Website", "App", "Other"]}
    assert source.questions["Q3"] == "Which channels did you use?"
    assert source.import_ids["Q3"] == {"ImportId": "QID3", "choiceId": "1"}
    assert source.frame["Q3"].tolist()[:2] == ["Website; Other", "App"]
    assert pd.isna(source.frame["Q3"].iloc[2])
    assert source.frame["Q2_1"].tolist() == ["4", "1", "5"]
    assert source.frame["Q3_3_TEXT"].iloc[0] == "bike shop"
    assert "Qualtrics header on rows 1–3" in source.describe()


def test_qualtrics_rows_with_a_broken_record_keep_their_numbers(tmp_path: Path) -> None:
    rows = qualtrics_rows()
    rows.insert(4, ["only", "three", "fields"])
    source = read_source(write_rows(tmp_path / "q.csv", rows))
    assert source.rows.tolist() == [4, 6, 7]
    assert source.bad_records["row"].tolist() == [5]
    assert source.read == 4


# --- one column per option, one-row header --------------------------------------------------


def test_question_option_columns_become_one(tmp_path: Path) -> None:
    rows = [
        ["id", "Which channels? - Web", "Which channels? - App", "Which channels? - Store",
         "Features [Search]", "Features [Export]", "Rating: Price", "Rating: Quality"],
        ["1", "1", "0", "1", "Yes", "No", "4", "5"],
        ["2", "0", "0", "0", "No", "no", "2", "3"],
        ["3", "", "1", "", "yes", "Yes", "5", "1"],
    ]  # fmt: skip
    source = read_source(write_rows(tmp_path / "g.csv", rows))
    assert source.headers == [
        "id",
        "Which channels?",
        "Features",
        "Rating: Price",
        "Rating: Quality",
    ]
    assert source.options == {
        "Which channels?": ["Web", "App", "Store"],
        "Features": ["Search", "Export"],
    }
    assert source.frame["Which channels?"].iloc[[0, 2]].tolist() == ["Web; Store", "App"]
    assert pd.isna(source.frame["Which channels?"].iloc[1])
    assert source.frame["Features"].iloc[[0, 2]].tolist() == ["Search", "Search; Export"]
    assert source.frame["Rating: Price"].tolist() == ["4", "2", "5"]
    assert source.rows.tolist() == [2, 3, 4]


def test_option_columns_holding_the_option_text(tmp_path: Path) -> None:
    rows = [
        ["Contact - E-mail", "Contact - Phone", "Score"],
        ["E-mail", "", "9"],
        ["E-mail", "Phone", "7"],
    ]
    source = read_source(write_rows(tmp_path / "o.csv", rows))
    assert source.headers == ["Contact", "Score"]
    assert source.frame["Contact"].tolist() == ["E-mail", "E-mail; Phone"]


def test_merge_options_on_many_rows() -> None:
    parts = [pd.Series(["1", None, "x"] * 1000), pd.Series(["0", "1", "true"] * 1000)]
    merged = merge_options(parts, ["A", "B"])
    assert merged.iloc[:3].tolist() == ["A", "B", "A; B"]
    assert len(merged) == 3000


# --- an explicit header row -----------------------------------------------------------------


def test_explicit_header_row(tmp_path: Path) -> None:
    lines = ["Report", "id,nps", "Note: internal", "", "x,y", "1,9", "2,8", "Total,17"]
    path = write_text(tmp_path / "h.csv", lines, "utf-8")
    source = read_source(path, header_row=5)
    assert source.headers == ["x", "y"]
    assert source.header_row == 5
    assert source.rows.tolist() == [6, 7]
    assert source.skipped == [
        "rows 1–4 above the header skipped (title, notes, blank)",
        "row 8 below the data skipped: 'Total'",
    ]
    # the row given is the header even where the detection would choose another
    sm = write_rows(tmp_path / "sm.csv", [SM_ROW1, SM_ROW2, ["1"] * len(SM_ROW1)])
    source = read_source(sm, header_row=1)
    assert source.header_rows == 1 and source.header_kind == "plain"
    assert source.rows.tolist() == [2, 3]
    assert source.frame["How likely are you to recommend us?"].iloc[0] == "Response"
    with pytest.raises(UnreadableFile, match=r"h\.csv: row 4 is empty; expected the column"):
        read_source(path, header_row=4)
    with pytest.raises(UnreadableFile, match=r"h\.csv: no row 20"):
        read_source(path, header_row=20)
    with pytest.raises(UnreadableFile, match="must be 1 or more"):
        read_source(path, header_row=0)


# --- Excel ----------------------------------------------------------------------------------


def test_excel_title_block_and_totals(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Report"
    sheet["A1"] = "Customer survey report"
    sheet["A2"] = "Period: 01.03.2024–31.03.2024"
    for col, value in zip("BCDE", ["ID", "Date", "NPS", "Comment"], strict=True):
        sheet[f"{col}4"] = value
    data = [(1, "2024-03-01", 9, "Fine"), (2, "2024-03-02", 7, None), (3, "2024-03-03", 10, "Ok")]
    for r, values in enumerate(data, start=5):
        for col, value in zip("BCDE", values, strict=True):
            sheet[f"{col}{r}"] = value
    sheet["B9"], sheet["D9"] = "Total", 26
    sheet["B10"], sheet["D10"] = "Average", 26 / 3
    book.save(tmp_path / "report.xlsx")
    source = read_source(tmp_path / "report.xlsx")
    assert source.headers == ["ID", "Date", "NPS", "Comment"]  # column A held the title only
    assert source.header_row == 4
    assert source.rows.tolist() == [5, 6, 7]
    assert source.frame["NPS"].tolist() == ["9", "7", "10"]
    assert source.read == 3
    assert source.skipped == [
        "rows 1–3 above the header skipped (title, period, blank)",
        "row 9 below the data skipped: 'Total'",
        "row 10 below the data skipped: 'Average'",
    ]
    assert source.describe() == (
        "excel, sheet 'Report', header on row 4, 3 records, 2 total lines skipped"
    )
    given = read_source(tmp_path / "report.xlsx", header_row=5)
    assert given.headers == ["1", "2024-03-01", "9", "Fine"]
    assert given.rows.tolist() == [6, 7]


def test_excel_surveymonkey_export(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(SM_ROW1)
    sheet.append(SM_ROW2)
    sheet.append([1001, 55, "03/01/2024", "10.0.0.1", 9, "Pro", None, None, "Dashboards",
                  "Alerts", None, "Good", "Good", "Nice"])  # fmt: skip
    book.save(tmp_path / "sm.xlsx")
    source = read_source(tmp_path / "sm.xlsx")
    features = "Which of these features do you use?"
    assert source.header_kind == "surveymonkey"
    assert source.rows.tolist() == [3]
    assert source.frame[features].tolist() == ["Dashboards; Alerts"]


# --- the pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", True), ("1 234,5", True), ("03/03/2024 09:00:00 AM", True), ("64%", True),
        ("2024-07-01T09:00:00Z", True), ("Q1", False), ("Period: 01.03.2024", False),
        ("", False), ("Total", False),
    ],
)  # fmt: skip
def test_is_numberish(text: str, expected: bool) -> None:
    assert is_numberish(text) is expected


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["Total", "", "26"], "Total"),
        (["", "I alt:", "12", "4,5"], "I alt:"),
        (["Totalt antall svar", "120"], "Totalt antall svar"),
        (["Total", "-", "–", "26"], "Total"),
        (["Total waste of time", "3"], None),
        (["Total", "Nord", "Sør", "9"], None),
        (["Summary of the month", "3"], None),
        (["1", "Total"], None),
    ],
)
def test_summary_label(cells: list[str], expected: str | None) -> None:
    assert summary_label(cells) == expected


def test_detect_layout_on_rows() -> None:
    layout = detect_layout(
        [["Report"], [], ["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]], header_index=None
    )
    assert (layout.header_index, layout.data_start, layout.headers) == (2, 3, ["a", "b", "c"])
    with pytest.raises(ValueError, match="no header row"):
        detect_layout([[], ["", ""]])
