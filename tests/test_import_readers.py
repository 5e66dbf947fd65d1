"""Readers: encodings, delimiters, quoting, row numbers, Excel, Parquet and unreadable files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from import_corpus import write_text

from cxdata.importing.errors import UnreadableFile
from cxdata.importing.readers import detect_delimiter, detect_encoding, read_source, sheet_names


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("Regija;Komentar\nŠtajerska;Čakal sem, žal\n", "cp1250", "cp1250"),
        ("Område;Kommentar\nSjælland;Ærgerligt på øen\n", "cp1252", "cp1252"),
        ("Område;Kommentar\nSjælland;Ærgerligt på øen\n", "utf-8", "utf-8"),
        ("Område;Kommentar\nSjælland;Ærgerligt på øen\n", "utf-8-sig", "utf-8-sig"),
        ("Region\tComment\nNord\tGut\n", "utf-16", "utf-16"),
        ("Stadt;Kommentar\nKöln;Grüße\n", "latin-1", "cp1252"),
    ],
)
def test_encoding_is_detected(tmp_path: Path, text: str, encoding: str, expected: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode(encoding))
    assert detect_encoding(path) == expected
    source = read_source(path)
    assert source.frame.iloc[0].tolist() == text.splitlines()[1].split(source.delimiter)


def test_undefined_cp1252_bytes_fall_back_to_latin1(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a;b\n\x81x;y\n")
    assert detect_encoding(path) == "latin-1"


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a;b;c\n1,5;2;3\n4;5,5;6\n", ";"),
        ('a,b,c\n"1;2",2,3\n4,5,6\n', ","),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('name,comment\nx,"semi; colon; here"\ny,"more; ;"\n', ","),
    ],
)
def test_delimiter_is_sniffed(sample: str, expected: str) -> None:
    assert detect_delimiter(sample) == expected


def test_quoted_fields_and_record_numbers(tmp_path: Path) -> None:
    lines = ["id;text", '1;"a;b"', '2;"say ""hi"""', '3;"multi\nline\nvalue"', "4;x;extra", "5;end"]
    source = read_source(write_text(tmp_path / "q.csv", lines, "utf-8", "\n"))
    assert source.frame["text"].tolist() == ["a;b", 'say "hi"', "multi\nline\nvalue", "end"]
    # rows count records, not lines: the 3-line record is row 4, the ragged one row 5
    assert source.rows.tolist() == [2, 3, 4, 6]
    assert source.bad_records["row"].tolist() == [5]
    assert source.bad_records["fields"].tolist() == [3]
    assert source.read == 5


def test_blank_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    source = read_source(write_text(tmp_path / "b.csv", ["a,b", "1,2", "", "3,4", ""], "utf-8"))
    assert source.read == 2
    assert source.rows.tolist() == [2, 4]
    assert source.blank_rows == 2


def test_duplicate_and_blank_headers_get_names(tmp_path: Path) -> None:
    source = read_source(write_text(tmp_path / "h.csv", ["Score,Score, ,x", "1,2,3,4"], "utf-8"))
    assert source.headers == ["Score", "Score (2)", "column_3", "x"]


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFile, match=r"empty\.csv: the file is empty"):
        read_source(path)


def test_binary_garbage_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(UnreadableFile, match=r"garbage\.csv: binary content"):
        read_source(path)


def test_wrong_suffix_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UnreadableFile, match=r"fake\.xlsx: not an Excel workbook"):
        read_source(path)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match=r"nope\.csv: no such file"):
        read_source(tmp_path / "nope.csv")


def test_header_only(tmp_path: Path) -> None:
    source = read_source(write_text(tmp_path / "h.csv", ["id;nps"], "utf-8"))
    assert source.read == 0
    assert source.headers == ["id", "nps"]


def test_excel_first_and_chosen_sheet(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"Note": ["cover"]}).to_excel(xl, sheet_name="Info", index=False)
        pd.DataFrame(
            {
                "ID": [1, 2, 3],
                "Dato": pd.to_datetime(
                    ["2025-01-31", "2025-02-01", "2025-02-02 13:45:00"], format="ISO8601"
                ),
                "Anbefale": [9, 10, np.nan],
                "Område": ["Øst", "Sør", "Vest"],
            }
        ).to_excel(xl, sheet_name="Svar", index=False)
    assert sheet_names(path) == ["Info", "Svar"]
    assert read_source(path).headers == ["Note"]
    source = read_source(path, sheet="Svar")
    assert source.sheet == "Svar"
    assert source.frame["ID"].tolist() == ["1", "2", "3"]
    assert source.frame["Anbefale"].iloc[:2].tolist() == ["9", "10"]
    assert pd.isna(source.frame["Anbefale"].iloc[2])
    assert source.frame["Dato"].iloc[2].startswith("2025-02-02T13:45")
    assert source.frame["Område"].tolist() == ["Øst", "Sør", "Vest"]
    assert source.rows.tolist() == [2, 3, 4]
    with pytest.raises(UnreadableFile, match="no sheet 'Nope'; sheets: Info, Svar"):
        read_source(path, sheet="Nope")


def test_parquet_typed_columns_become_text(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pd.DataFrame(
        {
            "id": ["a", "b"],
            "nps": pd.array([9, None], dtype="Int64"),
            "csat": [4.0, 5.0],
            "at": pd.to_datetime(["2025-03-01 10:00", "2025-03-02"], format="ISO8601"),
            "region": ["Øst", None],
        }
    ).to_parquet(path)
    source = read_source(path)
    assert source.format == "parquet"
    assert source.frame["nps"].iloc[0] == "9" and pd.isna(source.frame["nps"].iloc[1])
    assert source.frame["csat"].tolist() == ["4", "5"]
    assert source.frame["at"].tolist() == ["2025-03-01T10:00:00", "2025-03-02T00:00:00"]
    assert source.rows.tolist() == [1, 2]


def test_broken_parquet_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 50)
    with pytest.raises(UnreadableFile, match=r"broken\.parquet: not a readable Parquet"):
        read_source(path)


def test_excel_header_below_empty_rows(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B3"], sheet["C3"] = "id", "nps"
    sheet["B4"], sheet["C4"] = 1, 9
    sheet["B6"], sheet["C6"] = 2, 5
    book.save(tmp_path / "lead.xlsx")
    source = read_source(tmp_path / "lead.xlsx")
    assert source.headers == ["id", "nps"]
    assert source.rows.tolist() == [4, 6]  # the rows the spreadsheet shows
    assert source.frame["nps"].tolist() == ["9", "5"]


def test_csv_with_empty_first_line(tmp_path: Path) -> None:
    # blank lines above the header are skipped (they used to make the file unreadable)
    source = read_source(write_text(tmp_path / "e.csv", ["", "a,b", "1,2"], "utf-8"))
    assert source.headers == ["a", "b"]
    assert source.header_row == 2
    assert source.rows.tolist() == [3]
    assert source.skipped == ["row 1 above the header skipped (blank)"]


def test_csv_with_only_empty_records_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match=r"e\.csv: no header row"):
        read_source(write_text(tmp_path / "e.csv", [",,", ",,", ","], "utf-8"))


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("Survey report\nPeriod: March\n\na;b;c\n1;2;3\n4;5;6\n", ";"),
        ("Report, March 2024\n\na\tb\tc\n1\t2,5\t3\n4\t5\t6\n", "\t"),
        ("Kundeundersøkelse\n\nid;nps;kommentar\n1;9;Bra, takk\n2;7;Ja, fint\n", ";"),
        ("Title|x\n\na,b,c,d\n1,2,3,4\n5,6,7,8\n", ","),
    ],
)
def test_delimiter_is_sniffed_below_title_lines(sample: str, expected: str) -> None:
    assert detect_delimiter(sample) == expected


def test_utf16_tab_export_with_a_title(tmp_path: Path) -> None:
    lines = ["Kundenumfrage März 2024", "", "Region\tKommentar\tNPS", "Süd\tGrüße\t9", "Nord\t\t7"]
    source = read_source(write_text(tmp_path / "u.csv", lines, "utf-16"))
    assert (source.encoding, source.delimiter) == ("utf-16", "\t")
    assert source.headers == ["Region", "Kommentar", "NPS"]
    assert source.rows.tolist() == [4, 5]
    assert source.frame["Kommentar"].iloc[0] == "Grüße"


def test_excel_explicit_header_row(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["Export"], ["a", "b"], ["x", "y"], [1, 2]):
        sheet.append(row)
    book.save(tmp_path / "h.xlsx")
    assert read_source(tmp_path / "h.xlsx").headers == ["a", "b"]
    source = read_source(tmp_path / "h.xlsx", header_row=3)
    assert source.headers == ["x", "y"]
    assert source.rows.tolist() == [4]
    assert source.skipped == ["rows 1–2 above the header skipped (title, notes)"]


def test_parquet_has_no_header_row(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pd.DataFrame({"id": ["a"], "nps": [9]}).to_parquet(path)
    source = read_source(path, header_row=3)  # ignored: the header is the schema
    assert (source.header_row, source.header_rows) == (0, 0)
    assert source.questions == {"id": "id", "nps": "nps"}
    assert source.describe() == "parquet, 1 records"
