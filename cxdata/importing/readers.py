"""Files → a frame of text cells with the source row number of every record.

CSV/TSV: the encoding (UTF-8, UTF-8/16 with BOM, cp1252, cp1250, latin-1) and the delimiter
(, ; tab |) are detected; quoted fields may hold delimiters, quotes and newlines. Excel
(.xlsx/.xls, first or chosen sheet) and Parquet are read through pandas / pyarrow. Every
cell comes back as text (or missing): typing is the validator's job, so a bad value costs
one rejected row instead of a whole column read as text.

The header need not be on row 1 (see layout.py): title / period / blank lines above it are
skipped, SurveyMonkey's 2-row and Qualtrics' 3-row headers are recognised (question texts in
`Source.questions`, Qualtrics ImportIds in `Source.import_ids`), a multi-select spread over
one column per option becomes one column, and total / average lines below the data are
dropped. Skipped lines are not records; `Source.skipped` says what was skipped.

Row numbers are the ones a spreadsheet or text editor shows: with the header on row 1 the
first data record is row 2, with a header on rows 1–3 it is row 4 (a quoted newline does not
start a new row). Parquet has no header row: its first record is row 1.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cxdata.importing.errors import UnreadableFile
from cxdata.importing.layout import Layout, build_frame, detect_layout, summary_label
from cxdata.importing.layout import trailing_summaries as _trailing_summaries

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
DELIMITER_NAMES: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_SNIFF_BYTES = 1 << 16
_CHUNK = 1 << 23
_TEXT_PREVIEW = 200
_LAYOUT_RECORDS = 200  # rows read with the csv module / from the sheet to find the header
_KINDS = {"surveymonkey": "SurveyMonkey", "qualtrics": "Qualtrics"}

# Letters expected in exports written by Windows in Nordic / western (cp1252) and Slovenian /
# central European (cp1250) locales; the weight says how typical the letter is.
_EXPECTED_LETTERS: dict[str, dict[str, float]] = {
    "cp1252": {
        **dict.fromkeys("æøåÆØÅ", 1.0),
        **dict.fromkeys("ðÐþÞèÈàÀáÁíÍóÓúÚñÑçÇêÊâÂôÔëËïÏîÎûÛùÙýÝÿ", 0.5),
    },
    "cp1250": {
        **dict.fromkeys("čćđČĆĐ", 1.0),
        **dict.fromkeys("řŘěĚůŮťŤďĎňŇąĄęĘłŁńŃśŚźŹżŻőŐűŰĺĹľĽŕŔ", 0.5),
    },
}


@dataclass
class Source:
    """A file read as text: `frame` has one column per header (text, or NA when empty) and
    `rows` the source row number of each of its records. `bad_records` are the records that
    could not be split into the header's columns (row, fields, text).

    `header_row` is the (first) row of the header as a spreadsheet shows it (0 for Parquet:
    no header row) and `header_rows` how many rows it spans; `skipped` notes the lines above
    the header and the total lines below the data that were skipped. `questions` maps every
    header to its question text (the header itself unless the export gave one), `options`
    a multi-select merged from one column per option to its options, `import_ids` a
    Qualtrics header to its ImportId object ({"ImportId": "QID1", "timeZone": …}).
    `header_kind` is "plain", "surveymonkey" or "qualtrics"."""

    name: str
    path: Path
    format: str
    frame: pd.DataFrame
    rows: np.ndarray
    bad_records: pd.DataFrame = field(default_factory=lambda: _bad_frame([]))
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    blank_rows: int = 0
    header_row: int = 1
    header_rows: int = 1
    skipped: list[str] = field(default_factory=list)
    questions: dict[str, str] = field(default_factory=dict)
    import_ids: dict[str, dict] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)
    header_kind: str = "plain"

    @property
    def headers(self) -> list[str]:
        """The column headers, made unique and non-empty."""
        return [str(c) for c in self.frame.columns]

    @property
    def read(self) -> int:
        """Records read: the ones in `frame` plus the ones that did not fit the header."""
        return len(self.frame) + len(self.bad_records)

    def describe(self) -> str:
        """One line: format, encoding, delimiter / sheet, where the header is when it is
        not row 1 alone, records and skipped total lines."""
        parts = [self.format]
        if self.encoding:
            parts.append(self.encoding)
        if self.delimiter:
            parts.append(f"{DELIMITER_NAMES.get(self.delimiter, self.delimiter)}-separated")
        if self.sheet:
            parts.append(f"sheet {self.sheet!r}")
        if self.header_rows > 1:
            last = self.header_row + self.header_rows - 1
            kind = _KINDS.get(self.header_kind)
            parts.append(f"{kind + ' ' if kind else ''}header on rows {self.header_row}–{last}")
        elif self.header_row > 1:
            parts.append(f"header on row {self.header_row}")
        if self.options:
            parts.append(f"{len(self.options)} multi-select question(s) merged")
        parts.append(f"{self.read} records")
        below = sum("below the data" in note for note in self.skipped)
        if below:
            parts.append(f"{below} total lines skipped")
        return ", ".join(parts)


def read_source(
    path: str | Path,
    *,
    sheet: str | None = None,
    name: str | None = None,
    header_row: int | None = None,
) -> Source:
    """The file at `path` as text cells; `name` is the file name shown in messages (the
    uploaded name when `path` is a temporary copy). `header_row` (1-based line of a CSV,
    row of a sheet) names the header row instead of detecting it: that one row is the
    header and the rows below it are data (blank rows and total lines at the end are
    still skipped); Parquet ignores it. Raises UnreadableFile (see `file_format`, and when
    the file has no header row, `header_row` is past the end or on an empty row)."""
    path = Path(path)
    name = name or path.name
    if header_row is not None and header_row < 1:
        raise UnreadableFile(f"{name}: the header row must be 1 or more, got {header_row}")
    kind = file_format(path, name)
    if kind == "excel":
        return read_excel(path, sheet=sheet, name=name, header_row=header_row)
    if kind == "parquet":
        return read_parquet(path, name=name)
    return read_csv(path, name=name, header_row=header_row)


def file_format(path: Path, name: str | None = None) -> str:
    """ "csv", "excel" or "parquet", from the first bytes (the suffix can lie), else an
    UnreadableFile that says why."""
    name = name or path.name
    if not path.is_file():
        raise UnreadableFile(f"{name}: no such file")
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head.strip(b" \t\r\n\x00"):
        raise UnreadableFile(f"{name}: the file is empty")
    suffix = Path(name).suffix.lower()
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return "excel"
    if head.startswith(b"PAR1"):
        return "parquet"
    if suffix in EXCEL_SUFFIXES:
        raise UnreadableFile(f"{name}: not an Excel workbook (the content does not match)")
    if suffix in PARQUET_SUFFIXES:
        raise UnreadableFile(f"{name}: not a Parquet file (the content does not match)")
    if not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and _looks_binary(head):
        raise UnreadableFile(f"{name}: binary content, not a CSV, Excel or Parquet file")
    return "csv"


def _looks_binary(head: bytes) -> bool:
    controls = sum(head.count(bytes([b])) for b in (*range(0, 9), *range(14, 32)))
    return b"\x00" in head or controls > len(head) * 0.01


# --- CSV -----------------------------------------------------------------------------------


def detect_encoding(path: Path) -> str:
    """The text encoding: a BOM decides; else UTF-8 when every byte decodes as UTF-8; else
    cp1252 or cp1250 by which one turns the non-ASCII bytes into letters typical of Nordic
    or Slovenian text; latin-1 when neither decodes."""
    counts = np.zeros(256, dtype=np.int64)
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            counts += np.bincount(np.frombuffer(chunk, dtype=np.uint8), minlength=256)
    if utf8:
        try:
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    return _single_byte_encoding(counts)


def _single_byte_encoding(counts: np.ndarray) -> str:
    present = [b for b in range(128, 256) if counts[b]]
    scores: dict[str, float] = {}
    for encoding, letters in _EXPECTED_LETTERS.items():
        chars = []
        for b in present:
            try:
                chars.append((b, bytes([b]).decode(encoding)))
            except UnicodeDecodeError:
                break
        else:
            scores[encoding] = sum(counts[b] * letters.get(c, 0.0) for b, c in chars)
    if not scores:
        return "latin-1"
    # cp1252 wins ties: š, ž and most symbols are the same bytes in both.
    return max(scores, key=lambda e: (scores[e], e == "cp1252"))


def detect_delimiter(sample: str) -> str:
    """The delimiter among , ; tab | that splits the sample's non-empty records into one
    number of fields (2 or more) most consistently; more fields win a tie. Title lines
    above the header do not count more for one delimiter than for another."""
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        records = [r for r in _sample_records(sample, delimiter) if any(c.strip() for c in r)]
        if not records:
            continue
        widths = Counter(len(r) for r in records)
        width, count = max(widths.items(), key=lambda item: (item[1], item[0]))
        if width < 2:
            continue
        score = (count / len(records), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _sample_records(sample: str, delimiter: str) -> list[list[str]]:
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(sample), delimiter=delimiter):
            records.append(record)
            if len(records) > _LAYOUT_RECORDS:
                break
    except csv.Error:
        return records[:-1]
    return records[:-1] if len(records) > 2 else records


def header_names(raw: list[str]) -> list[str]:
    """Headers with whitespace collapsed, blanks named column_N and repeats numbered."""
    out: list[str] = []
    for i, text in enumerate(raw):
        base = " ".join(str(text).replace("\ufeff", "").split()) or f"column_{i + 1}"
        name, k = base, 2
        while name in out:
            name, k = f"{base} ({k})", k + 1
        out.append(name)
    return out


def read_csv(path: Path, *, name: str | None = None, header_row: int | None = None) -> Source:
    """A delimited text file as text cells (see the module doc for what is detected);
    `header_row` as in `read_source`. Raises UnreadableFile."""
    name = name or path.name
    encoding = detect_encoding(path)
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    more = len(head) == _SNIFF_BYTES
    sample = head.decode(encoding, errors="replace")
    if more:  # the last line may be cut in the middle
        sample = sample[: sample.rfind("\n") + 1] or sample
    delimiter = detect_delimiter(sample)
    records = _head_records(path, encoding, delimiter, max(_LAYOUT_RECORDS, (header_row or 0) + 50))
    layout = _layout(records, name, header_row)
    table, bad = _arrow_csv(
        path, name, encoding, delimiter, layout.width, skip=layout.data_start, threads=True
    )
    if bad and any(number is None for number, _, _ in bad):
        # Only the single-threaded parser knows the row numbers of broken records.
        table, bad = _arrow_csv(
            path, name, encoding, delimiter, layout.width, skip=layout.data_start, threads=False
        )
    bad_numbers = np.array(sorted(number or 0 for number, _, _ in bad), dtype=np.int64)
    first = layout.data_start + 1
    numbers = np.arange(first, first + table.num_rows + len(bad), dtype=np.int64)
    rows = numbers[~np.isin(numbers, bad_numbers)] if len(bad) else numbers
    blank = _blank_rows(table)
    blank_numbers = rows[blank]
    if blank.any():  # filtered before the frame is made: one copy of a big file, not two
        table, rows = table.filter(pa.array(~blank)), rows[~blank]
    raw = table.to_pandas()
    bad_list = [(n or 0, fields, text) for n, fields, text in bad]
    raw, rows, bad_list, below = _drop_totals(raw, rows, bad_list, delimiter)
    return Source(
        name=name,
        path=path,
        format="csv",
        frame=build_frame(raw, layout),
        rows=rows,
        bad_records=_bad_frame(bad_list),
        encoding=encoding,
        delimiter=delimiter,
        blank_rows=_blank_count(blank_numbers, rows, below),
        **_layout_fields(layout, below),
    )


def _blank_count(blank: np.ndarray, rows: np.ndarray, below: list[str]) -> int:
    """Blank rows among the data; those around total lines below it are not counted."""
    if not below:
        return len(blank)
    return int((blank < (rows[-1] if len(rows) else 0)).sum())


def _head_records(path: Path, encoding: str, delimiter: str, limit: int) -> list[list[str]]:
    """The first `limit` records as the csv module splits them (fewer when it fails)."""
    records: list[list[str]] = []
    # csv.Error (an unclosed quote swallowing the file…): the records up to it
    with (
        path.open(encoding=encoding, errors="replace", newline="") as f,
        contextlib.suppress(csv.Error),
    ):
        for record in itertools.islice(csv.reader(f, delimiter=delimiter), limit):
            records.append(record)
    return records


def _layout(records: list[list[str]], name: str, header_row: int | None) -> Layout:
    try:
        return detect_layout(records, header_index=None if header_row is None else header_row - 1)
    except ValueError as exc:
        raise UnreadableFile(f"{name}: {exc}") from None


def _layout_fields(layout: Layout, below: list[str]) -> dict:
    return {
        "header_row": layout.header_index + 1,
        "header_rows": layout.header_rows,
        "skipped": [*layout.skipped, *below],
        "questions": layout.questions,
        "import_ids": layout.import_ids,
        "options": layout.options,
        "header_kind": layout.kind,
    }


def _drop_totals(
    raw: pd.DataFrame,
    rows: np.ndarray,
    bad: list[tuple[int, int, str]],
    delimiter: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, int, str]], list[str]]:
    """Total / average lines below the data (blank rows already gone): dropped from `raw`
    and `rows` (and from the broken records after the last good one), with a note each."""
    notes: dict[int, str] = {}
    while True:
        last = int(rows[-1]) if len(rows) else 0
        after = [b for b in bad if b[0] > last]
        if after:
            record = max(after)
            try:
                fields = next(csv.reader(io.StringIO(record[2]), delimiter=delimiter or ","), [])
            except csv.Error:
                fields = []
            label = summary_label(fields)
            if label is None:
                break
            bad.remove(record)
            notes[record[0]] = repr(label)
            continue
        found = _trailing_summaries(raw)  # the last rows, so a slice keeps the rest
        if not found:
            break
        for position, note in found:
            notes[int(rows[position])] = note
        cut = found[0][0]
        raw, rows = raw.iloc[:cut], rows[:cut]
    return raw, rows, bad, [f"row {n} below the data skipped: {notes[n]}" for n in sorted(notes)]


def _arrow_csv(
    path: Path,
    name: str,
    encoding: str,
    delimiter: str,
    width: int,
    *,
    skip: int,
    threads: bool,
) -> tuple[pa.Table, list[tuple[int | None, int, str]]]:
    bad: list[tuple[int | None, int, str]] = []

    def on_bad(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, row.actual_columns, row.text))
        return "skip"

    columns = [f"c{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=threads,
                column_names=columns,
                skip_rows_after_names=skip,  # records (quoted newlines respected)
                encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
                block_size=1 << 24,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_bad,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                null_values=[""],  # "N/A", "NULL", "NA" are answers (or codes), not blanks
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise UnreadableFile(
            f"{name}: cannot be parsed as {encoding} "
            f"{DELIMITER_NAMES[delimiter]}-separated text: {exc}"
        ) from None
    return table, bad


def _blank_rows(table: pa.Table) -> np.ndarray:
    if table.num_rows == 0:
        return np.zeros(0, dtype=bool)
    blank = pc.is_null(table.column(0))
    for col in table.columns[1:]:
        blank = pc.and_(blank, pc.is_null(col))
    return blank.to_numpy(zero_copy_only=False)


def _bad_frame(records: list[tuple[int, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.array([r for r, _, _ in records], dtype="int64"),
            "fields": pd.array([f for _, f, _ in records], dtype="int64"),
            "text": pd.array([t[:_TEXT_PREVIEW] for _, _, t in records], dtype="str"),
        }
    )


# --- Excel and Parquet ---------------------------------------------------------------------


def sheet_names(path: str | Path) -> list[str]:
    """The sheets of an Excel workbook, in order."""
    from python_calamine import CalamineWorkbook

    try:
        return list(CalamineWorkbook.from_path(str(path)).sheet_names)
    except Exception as exc:  # calamine's errors have no common base class
        raise UnreadableFile(f"{Path(path).name}: not a readable Excel workbook ({exc})") from None


def read_excel(
    path: Path,
    *,
    sheet: str | None = None,
    name: str | None = None,
    header_row: int | None = None,
) -> Source:
    """A sheet (the first unless `sheet` names one) as text cells, the header found as in
    a CSV file (`header_row`: the sheet row of the header, as in `read_source`). Raises
    UnreadableFile for an unknown sheet, an empty or broken one."""
    name = name or path.name
    sheets = sheet_names(path)
    if sheet is not None and sheet not in sheets:
        raise UnreadableFile(f"{name}: no sheet {sheet!r}; sheets: {', '.join(sheets)}")
    chosen = sheet if sheet is not None else (sheets[0] if sheets else None)
    if chosen is None:
        raise UnreadableFile(f"{name}: the workbook has no sheets")
    try:
        raw = pd.read_excel(path, sheet_name=chosen, header=None, dtype=object, engine="calamine")
    except Exception as exc:  # a broken workbook fails deep inside the reader
        raise UnreadableFile(f"{name}: sheet {chosen!r} cannot be read ({exc})") from None
    raw = raw.loc[:, raw.notna().any(axis=0)]  # columns with nothing in them at all
    if raw.empty or not raw.notna().any(axis=None):
        raise UnreadableFile(f"{name}: sheet {chosen!r} is empty")
    # The index is the sheet row − 1.
    limit = max(_LAYOUT_RECORDS, (header_row or 0) + 50)
    head = [
        [_cell_text(v) or "" for v in values]
        for values in raw.iloc[:limit].itertuples(index=False, name=None)
    ]
    layout = _layout(head, f"{name}, sheet {chosen!r}", header_row)
    body = raw.iloc[layout.data_start :]
    text = pd.DataFrame(
        {i: _text_column(body.iloc[:, i]) for i in range(raw.shape[1])},
        index=pd.RangeIndex(len(body)),
    )
    rows = body.index.to_numpy(dtype=np.int64) + 1
    blank = text.isna().all(axis=1).to_numpy()
    blank_numbers = rows[blank]
    if blank.any():
        text, rows = text.loc[~blank].reset_index(drop=True), rows[~blank]
    text, rows, _, below = _drop_totals(text, rows, [])
    frame = build_frame(text, layout)
    empty = [c.name for c in layout.columns if c.generated and frame[c.name].isna().all()]
    if empty:  # a title's column left of the table, with no header and no data
        frame = frame.drop(columns=empty)
        layout.columns = [c for c in layout.columns if c.name not in empty]
    return Source(
        name=name,
        path=path,
        format="excel",
        frame=frame,
        rows=rows,
        sheet=chosen,
        blank_rows=_blank_count(blank_numbers, rows, below),
        **_layout_fields(layout, below),
    )


def read_parquet(path: Path, *, name: str | None = None) -> Source:
    """A Parquet file as text cells; its first record is row 1 and the headers are the
    schema's (no header detection). Raises UnreadableFile."""
    name = name or path.name
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFile(f"{name}: not a readable Parquet file ({exc})") from None
    headers = header_names(table.column_names)
    columns = {}
    for header, column in zip(headers, table.columns, strict=True):
        try:
            columns[header] = _arrow_text(column)
        except pa.ArrowException as exc:
            raise UnreadableFile(
                f"{name}: column {header!r} cannot be read as text ({column.type}: {exc})"
            ) from None
    frame = pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))
    return Source(
        name=name,
        path=path,
        format="parquet",
        frame=frame,
        rows=np.arange(1, table.num_rows + 1, dtype=np.int64),
        header_row=0,
        header_rows=0,
        questions={h: h for h in headers},
    )


def _arrow_text(column: pa.ChunkedArray) -> pd.Series:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_timestamp(column.type):
        text = pc.replace_substring_regex(
            pc.strftime(column, format="%Y-%m-%dT%H:%M:%S"), pattern=r"\.0+$", replacement=""
        )
    elif pa.types.is_date(column.type):
        text = pc.strftime(column, format="%Y-%m-%d")
    elif pa.types.is_floating(column.type):
        whole = pc.equal(column, pc.floor(column))
        ints = pc.cast(pc.if_else(whole, column, None), pa.int64(), safe=False)
        text = pc.if_else(whole, pc.cast(ints, pa.string()), pc.cast(column, pa.string()))
    else:
        text = pc.cast(column, pa.string())
    return pd.Series(text.to_pandas(), dtype="str").replace({"": pd.NA})


def _text_column(values: pd.Series) -> pd.Series:
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    texts = pd.array([_cell_text(v) for v in uniques], dtype="str")
    return pd.Series(texts.take(codes, allow_fill=True), dtype="str").replace({"": pd.NA})


def _cell_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
