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

No file may take the process down (an upload that crashes the server takes it down for every
user), so every reader checks what it is about to build before building it, and refuses with
one line naming the file (UnreadableFile):

- Excel: the zip directory of an .xlsx (what its parts unpack to, and how far they inflate
  per packed byte) and then the parts themselves as they inflate, not trusting the directory;
  the chosen sheet's XML is scanned for the farthest filled cell before the Excel library
  builds its grid, which is as large as the rectangle from A1 to that cell (MAX_SHEET_CELLS),
  whatever the sheet's `<dimension>` says. .xls / .xlsb / .ods, whose cells cannot be scanned
  cheaply, are first opened in a child process with a memory cap. The rows are then turned
  into text in chunks, so the frame costs the text and not a second copy of the sheet.
- CSV: a record longer than the parser's block (a line without line breaks, a quote never
  closed), a header wider than MAX_COLUMNS; the header search reads a bounded head.
- Parquet: the footer's size, the schema's width and the rows × columns it declares, and the
  text it expands to (a dictionary-encoded column can expand a small file to terabytes).

A file that is valid UTF-8 except for a few lines (≤ 1 % of its lines, and no more than the
lines whose non-ASCII letters are real UTF-8) is read as UTF-8; those lines become bad
records with the reason UTF8_REASON instead of the whole file being decoded as cp1252.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import html
import io
import itertools
import json
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
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

# --- limits: what a file may make the process build ------------------------------------------
MAX_COLUMNS = 16_384  # Excel's own sheet width; CSV headers and Parquet schemas too
MAX_SHEET_CELLS = 30_000_000  # columns × rows from A1 to a sheet's farthest filled cell
MAX_UNPACKED = 1 << 30  # what the parts of a workbook may inflate to, in all
MAX_RATIO = 200  # a part larger than _RATIO_FLOOR may not inflate more than this per byte
_RATIO_FLOOR = 50 << 20
MAX_PARQUET_CELLS = 50_000_000  # rows × columns a Parquet file may declare
MAX_TEXT_BYTES = 2 << 30  # text a Parquet file may expand to
MAX_RECORD_BYTES = 1 << 24  # one CSV record (the parser's block)
_HEAD_BYTES = 1 << 23  # read to find a CSV's header
_PARQUET_FOOTER = 64 << 20
_PROBE_MEMORY = 4 << 30  # address space of the child that opens .xls / .xlsb / .ods first
_PROBE_SECONDS = 300
_EXCEL_CHUNK_ROWS = 20_000
UTF8_REASON = "not valid UTF-8 (the rest of the file is)"
_UTF8_BAD_SHARE = 0.1
_MARK = "\U0010fffe"  # a noncharacter: stands for undecodable bytes while the file is parsed
codecs.register_error("cxdata-mark", lambda e: (_MARK, e.end))

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
    could not be split into the header's columns (row, fields, text, reason: missing for
    those, UTF8_REASON for a line that is not UTF-8 in a UTF-8 file).

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
    """The text encoding: a BOM decides; else UTF-8 when every byte decodes as UTF-8, or
    when all but a few lines do (see `_mostly_utf8`: those lines are bad records); else
    cp1252 or cp1250 by which one turns the non-ASCII bytes into letters typical of Nordic
    or Slovenian text; latin-1 when neither decodes."""
    return _detect_encoding(path)[0]


def _detect_encoding(path: Path) -> tuple[str, list[int]]:
    """The encoding and, for a mostly-UTF-8 file, its lines (0-based) that are not UTF-8."""
    counts = np.zeros(256, dtype=np.int64)
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig", []
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", []
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
            return "utf-8", []
        except UnicodeDecodeError:
            pass
    bad = _mostly_utf8(path, lines=int(counts[10]) + 1)
    if bad is not None:
        return "utf-8", bad
    return _single_byte_encoding(counts), []


def _mostly_utf8(path: Path, *, lines: int) -> list[int] | None:
    """The lines (0-based) that do not decode as UTF-8 when they are at most 10 % of the
    file's lines and at most half as many as its lines with non-ASCII letters that do decode
    (UTF-8 evidence: cp1252 text almost never forms valid multi-byte sequences); else None.
    A small file counts too: one bad line among 50 must not re-decode the other 49."""
    limit = max(1, int(lines * _UTF8_BAD_SHARE))
    bad: list[int] = []
    utf8_lines = line = 0
    with path.open("rb") as f:
        for block in _line_blocks(f):
            if block.isascii():
                line += block.count(b"\n")
                continue
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                if utf8_lines <= 2 * limit:  # past it, the evidence is enough
                    utf8_lines += sum(not part.isascii() for part in block.split(b"\n"))
                line += block.count(b"\n")
                continue
            parts = block.split(b"\n")
            for i, part in enumerate(parts):
                if part.isascii():
                    continue
                try:
                    part.decode("utf-8")
                    utf8_lines += 1
                except UnicodeDecodeError:
                    bad.append(line + i)
                    if len(bad) > limit:
                        return None
            line += len(parts) - 1
    return bad if bad and utf8_lines >= 2 * len(bad) else None


def _line_blocks(f: io.BufferedReader) -> Iterator[bytes]:
    """The file in blocks of whole lines (the last one may lack its newline); a line longer
    than MAX_RECORD_BYTES comes in pieces (the file is refused later for it)."""
    carry = b""
    for chunk in iter(lambda: f.read(_CHUNK), b""):
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if not cut and len(data) > MAX_RECORD_BYTES:
            cut = len(data)
        if cut:
            yield data[:cut]
        carry = data[cut:]
    if carry:
        yield carry


def _marked_utf8(path: Path, bad_lines: list[int]) -> pa.Buffer:
    """The file with its undecodable lines decoded with _MARK for each undecodable run and
    re-encoded as UTF-8, so the parser reads them and `_split_marked` finds their records."""
    data = path.read_bytes()
    starts = np.concatenate(([0], np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1))
    pieces, at = [], 0
    for k in bad_lines:
        begin = int(starts[k])
        end = int(starts[k + 1]) if k + 1 < len(starts) else len(data)
        pieces += [data[at:begin], data[begin:end].decode("utf-8", "cxdata-mark").encode()]
        at = end
    pieces.append(data[at:])
    return pa.py_buffer(b"".join(pieces))


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
    encoding, bad_lines = _detect_encoding(path)
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    more = len(head) == _SNIFF_BYTES
    sample = head.decode(encoding, errors="replace")
    if more:  # the last line may be cut in the middle
        sample = sample[: sample.rfind("\n") + 1] or sample
    delimiter = detect_delimiter(sample)
    records = _head_records(path, encoding, delimiter, max(_LAYOUT_RECORDS, (header_row or 0) + 50))
    if not records and path.stat().st_size > _HEAD_BYTES:
        raise UnreadableFile(
            f"{name}: no complete line in the first {_HEAD_BYTES >> 20} MB (a line without "
            "line breaks, or a quote that is never closed): not readable as text records"
        )
    layout = _layout(records, name, header_row)
    if layout.width > MAX_COLUMNS:
        raise UnreadableFile(
            f"{name}: the header has more than {MAX_COLUMNS:,} columns: too many to read"
        )
    data = _marked_utf8(path, bad_lines) if bad_lines else path
    table, bad = _arrow_csv(
        data, name, encoding, delimiter, layout.width, skip=layout.data_start, threads=True
    )
    if bad and any(number is None for number, _, _ in bad):
        # Only the single-threaded parser knows the row numbers of broken records.
        table, bad = _arrow_csv(
            data, name, encoding, delimiter, layout.width, skip=layout.data_start, threads=False
        )
    bad_numbers = np.array(sorted(number or 0 for number, _, _ in bad), dtype=np.int64)
    first = layout.data_start + 1
    numbers = np.arange(first, first + table.num_rows + len(bad), dtype=np.int64)
    rows = numbers[~np.isin(numbers, bad_numbers)] if len(bad) else numbers
    bad_list = [(n or 0, fields, text) for n, fields, text in bad]
    reasons: dict[int, str] = {}
    if bad_lines:
        table, rows, bad_list, reasons = _split_marked(table, rows, bad_list, delimiter)
    blank = _blank_rows(table)
    blank_numbers = rows[blank]
    if blank.any():  # filtered before the frame is made: one copy of a big file, not two
        table, rows = table.filter(pa.array(~blank)), rows[~blank]
    raw = table.to_pandas()
    raw, rows, bad_list, below = _drop_totals(raw, rows, bad_list, delimiter)
    return Source(
        name=name,
        path=path,
        format="csv",
        frame=build_frame(raw, layout),
        rows=rows,
        bad_records=_bad_frame(bad_list, reasons),
        encoding=encoding,
        delimiter=delimiter,
        blank_rows=_blank_count(blank_numbers, rows, below),
        **_layout_fields(layout, below),
    )


def _split_marked(
    table: pa.Table, rows: np.ndarray, bad: list[tuple[int, int, str]], delimiter: str
) -> tuple[pa.Table, np.ndarray, list[tuple[int, int, str]], dict[int, str]]:
    """Records holding bytes that are not UTF-8 (marked by `_marked_utf8`) moved from the
    table to the bad records, their text shown with replacement characters."""
    marked = pa.array(np.zeros(table.num_rows, dtype=bool))
    for column in table.columns:
        found = pc.fill_null(pc.match_substring(column, _MARK), False)
        marked = pc.or_(marked, found)
    hit = marked.to_numpy(zero_copy_only=False)
    out = [(n, fields, text.replace(_MARK, "\ufffd")) for n, fields, text in bad]
    reasons = {n: UTF8_REASON for n, _, text in bad if _MARK in text}
    if hit.any():
        for i in np.flatnonzero(hit):
            cells = ["" if v is None else v for v in table.slice(int(i), 1).to_pylist()[0].values()]
            text = _join_record(cells, delimiter).replace(_MARK, "\ufffd")
            out.append((int(rows[i]), len(cells), text))
            reasons[int(rows[i])] = UTF8_REASON
        table, rows = table.filter(pa.array(~hit)), rows[~hit]
        out.sort()
    return table, rows, out, reasons


def _join_record(cells: list[str], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(cells)
    return buffer.getvalue()


def _blank_count(blank: np.ndarray, rows: np.ndarray, below: list[str]) -> int:
    """Blank rows among the data; those around total lines below it are not counted."""
    if not below:
        return len(blank)
    return int((blank < (rows[-1] if len(rows) else 0)).sum())


def _head_records(path: Path, encoding: str, delimiter: str, limit: int) -> list[list[str]]:
    """The first `limit` records as the csv module splits them (fewer when it fails), from at
    most _HEAD_BYTES of the file, each cut to MAX_COLUMNS + 1 fields: a file of one endless
    line costs that much memory here, not the line's."""
    with path.open("rb") as f:
        data = f.read(_HEAD_BYTES + 1)
    cut = len(data) > _HEAD_BYTES
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(data[:_HEAD_BYTES])
    records: list[list[str]] = []
    # csv.Error (an unclosed quote swallowing the file, a field past the csv module's limit…):
    # the records up to it
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for record in itertools.islice(reader, limit):
            records.append(record[: MAX_COLUMNS + 1])
    except csv.Error:
        pass
    if cut and len(records) < limit:
        records = records[:-1]  # the last one may be cut off
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
    source: Path | pa.Buffer,
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
            pa.BufferReader(source) if isinstance(source, pa.Buffer) else source,
            read_options=pacsv.ReadOptions(
                use_threads=threads,
                column_names=columns,
                skip_rows_after_names=skip,  # records (quoted newlines respected)
                encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
                block_size=MAX_RECORD_BYTES,
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
        if "straddl" in str(exc):  # a record that does not fit in one block
            raise UnreadableFile(
                f"{name}: a record is longer than {MAX_RECORD_BYTES >> 20} MB (a line without "
                "line breaks, or a quote that is never closed): not readable as "
                f"{DELIMITER_NAMES[delimiter]}-separated text"
            ) from None
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


def _bad_frame(
    records: list[tuple[int, int, str]], reasons: dict[int, str] | None = None
) -> pd.DataFrame:
    """row, fields, text, and reason: why the record is bad when it is not its number of
    fields (UTF8_REASON), else missing."""
    reasons = reasons or {}
    return pd.DataFrame(
        {
            "row": pd.array([r for r, _, _ in records], dtype="int64"),
            "fields": pd.array([f for _, f, _ in records], dtype="int64"),
            "text": pd.array([t[:_TEXT_PREVIEW] for _, _, t in records], dtype="str"),
            "reason": pd.array([reasons.get(r) for r, _, _ in records], dtype="str"),
        }
    )


# --- Excel and Parquet ---------------------------------------------------------------------


_OOXML_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xlam"})
_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str"


def sheet_names(path: str | Path, *, name: str | None = None) -> list[str]:
    """The sheets of an Excel workbook, in order. Raises UnreadableFile (a broken workbook,
    or one whose parts would not fit in memory)."""
    path = Path(path)
    name = name or path.name
    if _ooxml(path):
        _check_zip(path, name, sheet_part=None)
        return _calamine_names(path, name)
    return _probe(path, name, sheet=False)["sheets"]


def _ooxml(path: Path) -> bool:
    """An .xlsx-family path (the Excel library picks its reader by the suffix) holding a zip:
    its sheets can be scanned here. Anything else is opened in a child process first."""
    if path.suffix.lower() not in _OOXML_SUFFIXES:
        return False
    with path.open("rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _calamine_names(path: Path, name: str) -> list[str]:
    from python_calamine import CalamineWorkbook

    try:
        with CalamineWorkbook.from_path(str(path)) as workbook:
            return list(workbook.sheet_names)
    except BaseException as exc:  # calamine's errors have no common base class
        _reraise_interrupt(exc)
        raise UnreadableFile(f"{name}: not a readable Excel workbook ({exc})") from None


def read_excel(
    path: Path,
    *,
    sheet: str | None = None,
    name: str | None = None,
    header_row: int | None = None,
) -> Source:
    """A sheet (the first unless `sheet` names one) as text cells, the header found as in
    a CSV file (`header_row`: the sheet row of the header, as in `read_source`). Raises
    UnreadableFile for an unknown sheet, an empty or broken one, and one too large to read
    (see the module doc)."""
    name = name or path.name
    ooxml = _ooxml(path)
    if ooxml:
        _check_zip(path, name, sheet_part=None)
        sheets = _calamine_names(path, name)
        probed: dict = {}
    else:  # not scannable here: the child opens the sheet under a memory cap first
        probed = _probe(path, name, sheet=sheet)
        sheets = probed["sheets"]
    if sheet is not None and sheet not in sheets:
        raise UnreadableFile(f"{name}: no sheet {sheet!r}; sheets: {', '.join(sheets)}")
    chosen = sheet if sheet is not None else (sheets[0] if sheets else None)
    if chosen is None:
        raise UnreadableFile(f"{name}: the workbook has no sheets")
    part = _sheet_part(path, chosen) if ooxml else None
    if ooxml and part is None:  # a sheet this module cannot find: opened in the child
        probed = _probe(path, name, sheet=chosen)
    if part is not None:
        far = _check_zip(path, name, sheet_part=part)
        if far is not None:
            _check_extent(name, chosen, *far)
    elif probed.get("sheet") != chosen:
        raise UnreadableFile(f"{name}: sheet {chosen!r} cannot be read")
    elif probed.get("end") is not None:
        end = probed["end"]
        _check_extent(name, chosen, end[0] + 1, end[1] + 1)
    columns, first_row = _sheet_text(path, name, chosen)
    columns = [c for c in columns if c.null_count < len(c)]  # columns with nothing at all
    if not columns:
        raise UnreadableFile(f"{name}: sheet {chosen!r} is empty")
    # Row i of the columns is the sheet row first_row + i.
    limit = max(_LAYOUT_RECORDS, (header_row or 0) + 50)
    head_columns = [c.slice(0, limit).to_pylist() for c in columns]
    head = [[v or "" for v in values] for values in zip(*head_columns, strict=True)]
    layout = _layout(head, f"{name}, sheet {chosen!r}", header_row)
    start = layout.data_start
    n = len(columns[0]) - start
    text = pd.DataFrame(
        {i: _str_series(c.slice(start)) for i, c in enumerate(columns)},
        index=pd.RangeIndex(max(n, 0)),
    )
    rows = np.arange(first_row + start, first_row + start + len(text), dtype=np.int64)
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


def _check_extent(name: str, sheet: str, rows: int, columns: int) -> None:
    """The Excel library's grid of a sheet spans A1 (with the rows iterated) to its farthest
    filled cell: refused when that rectangle is larger than MAX_SHEET_CELLS."""
    if rows * columns <= MAX_SHEET_CELLS and columns <= MAX_COLUMNS and rows <= 1_048_576:
        return
    raise UnreadableFile(
        f"{name}: sheet {sheet!r} reaches cell {_cell_name(rows, columns)} "
        f"({columns:,} columns × {rows:,} rows): too large to read; limit "
        f"{MAX_SHEET_CELLS:,} cells from A1 (e.g. 100 columns × 300,000 rows) and "
        f"{MAX_COLUMNS:,} columns × 1,048,576 rows"
    )


def _cell_name(row: int, column: int) -> str:
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row}"


def _sheet_text(path: Path, name: str, sheet: str) -> tuple[list[pa.ChunkedArray], int]:
    """Every column of the sheet as text (null when empty), read in chunks of rows so only
    one chunk is ever held as Python objects; the sheet row of the first row."""
    from python_calamine import CalamineWorkbook

    try:
        with CalamineWorkbook.from_path(str(path)) as workbook:
            values = workbook.get_sheet_by_name(sheet)
            end = values.end
            parts: list[list[pa.Array]] = []
            count = 0
            rows = values.iter_rows()
            while chunk := list(itertools.islice(rows, _EXCEL_CHUNK_ROWS)):
                count += len(chunk)
                grid = _object_grid(chunk)
                width = grid.shape[1]
                del chunk
                if len(parts) < width:
                    parts += [
                        [pa.nulls(count - len(grid), pa.string())]
                        for _ in range(width - len(parts))
                    ]
                for j, column in enumerate(parts):
                    column.append(
                        _text_array(grid[:, j]) if j < width else pa.nulls(len(grid), pa.string())
                    )
    except UnreadableFile:
        raise
    except BaseException as exc:  # a broken workbook fails deep inside the reader
        _reraise_interrupt(exc)
        raise UnreadableFile(f"{name}: sheet {sheet!r} cannot be read ({exc})") from None
    if end is None or not count:
        return [], 1
    return [pa.chunked_array(p, pa.string()) for p in parts], end[0] + 2 - count


def _object_grid(rows: list[list]) -> np.ndarray:
    width = max(len(r) for r in rows)
    if all(len(r) == width for r in rows):
        grid = np.empty((len(rows), width), dtype=object)
        grid[:] = rows
        return grid
    grid = np.full((len(rows), width), "", dtype=object)
    for i, r in enumerate(rows):
        grid[i, : len(r)] = r
    return grid


def _reraise_interrupt(exc: BaseException) -> None:
    """The Excel library's panics (pyo3's PanicException) derive from BaseException, not
    Exception: they are a broken file like any error of the library; an interrupt is not."""
    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
        raise exc


def _text_array(values: np.ndarray) -> pa.Array:
    """Cells as text (see `_cell_text`): each distinct value converted once, whole numbers
    (what most cells of a survey sheet are) at once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.empty(len(uniques), dtype=object)
    kinds = np.array([type(v) is float for v in uniques], dtype=bool)
    if kinds.any():
        numbers = uniques[kinds].astype(np.float64)
        whole = np.isfinite(numbers) & (numbers == np.trunc(numbers)) & (np.abs(numbers) < 2**53)
        floats = np.empty(len(numbers), dtype=object)
        floats[whole] = numbers[whole].astype(np.int64).astype(str)
        floats[~whole] = [_cell_text(v) for v in numbers[~whole].tolist()]
        texts[kinds] = floats
    rest = np.flatnonzero(~kinds)
    texts[rest] = [v or None if type(v) is str else _cell_text(v) for v in uniques[rest]]
    array = pa.array(texts, pa.string(), from_pandas=True)
    array = pc.if_else(pc.equal(array, ""), None, array)
    return array.take(pa.array(codes, mask=codes < 0))


def _str_series(column: pa.ChunkedArray) -> pd.Series:
    return pd.Series(column.to_pandas(types_mapper={pa.string(): _STR}.get))


def _sheet_part(path: Path, sheet: str) -> str | None:
    """The zip part of a sheet, as the Excel library finds it (workbook.xml's r:id through
    xl/_rels/workbook.xml.rels); None when it cannot be told here."""
    try:
        with zipfile.ZipFile(path) as z:
            names = {i.filename.lower(): i.filename for i in z.infolist()}
            book = names.get("xl/workbook.xml")
            rels = names.get("xl/_rels/workbook.xml.rels")
            if book is None or rels is None:
                return None
            if max(z.getinfo(book).file_size, z.getinfo(rels).file_size) > _INFLATE_OUT:
                return None
            book_xml, rels_xml = z.read(book), z.read(rels)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, zlib.error):
        return None
    targets: dict[str, str] = {}
    for tag in re.findall(rb"<(?:[\w.-]+:)?Relationship\b[^>]*>", rels_xml):
        attrs = _attributes(tag)
        if "Id" in attrs and "Target" in attrs:
            targets[attrs["Id"]] = attrs["Target"]
    found = []
    for tag in re.findall(rb"<(?:[\w.-]+:)?sheet\b[^>]*>", book_xml):
        attrs = _attributes(tag)
        rid = attrs.get("r:id", attrs.get("relationships:id"))
        if attrs.get("name") == sheet and rid in targets:
            target = targets[rid]
            if target.startswith("/xl/"):
                target = target[1:]
            elif not target.startswith("xl/"):
                target = "xl/" + target
            found.append(target)
    return found[0] if len(found) == 1 else None


def _attributes(tag: bytes) -> dict[str, str]:
    text = tag.decode("utf-8", "replace")
    return {
        key: html.unescape(value)
        for key, _, value in re.findall(r"""([\w.:-]+)\s*=\s*(["'])(.*?)\2""", text, re.S)
    }


# --- Excel: what a workbook unpacks to, and how far a sheet's cells reach ---------------------

_INFLATE_IN = 1 << 20
_INFLATE_OUT = 1 << 23


def _check_zip(path: Path, name: str, *, sheet_part: str | None) -> tuple[int, int] | None:
    """Refuses a workbook whose zip directory says its parts unpack to more than MAX_UNPACKED
    (or a large part more than MAX_RATIO times its packed size), then inflates the parts the
    Excel library reads (all but the other sheets) to check the same of what they really
    unpack to. With `sheet_part`, only that sheet's part(s) are inflated, and its cells
    scanned: the farthest filled cell (rows, columns from A1), None when there is none."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        raise UnreadableFile(f"{name}: not a readable Excel workbook ({exc})") from None
    seen: set[str] = set()
    for info in infos:
        if info.filename.lower() in seen:
            raise UnreadableFile(
                f"{name}: the workbook holds part {info.filename} twice: a broken or hostile "
                "file, not read"
            )
        seen.add(info.filename.lower())
    declared = sum(i.file_size for i in infos)
    if declared > MAX_UNPACKED:
        raise UnreadableFile(
            f"{name}: the workbook unpacks to {declared / 2**30:,.1f} GB: too large to read; "
            f"limit {MAX_UNPACKED / 2**30:,.0f} GB"
        )
    for info in infos:
        _check_ratio(name, info.filename, info.file_size, info.compress_size)
    sheets = [i for i in infos if i.filename.lower().startswith("xl/worksheets/")]
    if sheet_part is None:
        wanted = [i for i in infos if i not in sheets]
    else:
        wanted = [i for i in infos if i.filename.lower() == sheet_part.lower()]
    far: tuple[int, int] | None = None
    total = 0
    with path.open("rb") as f:
        for info in wanted:
            if sheet_part is None:
                for chunk in _inflate(f, info, name):
                    total += len(chunk)
                    _check_unpacked(name, info, total)
            else:
                found = _far_cell(lambda info=info: _inflate(f, info, name), name, info)
                if found is not None:
                    far = found if far is None else (max(far[0], found[0]), max(far[1], found[1]))
    return far


def _check_ratio(name: str, part: str, size: int, packed: int) -> None:
    if size > _RATIO_FLOOR and size > MAX_RATIO * max(packed, 1):
        raise UnreadableFile(
            f"{name}: part {part} unpacks {size / max(packed, 1):,.0f} times its packed size "
            f"(to {size / 2**20:,.0f} MB; a zip bomb?): not read; limit {MAX_RATIO} times"
        )


def _check_unpacked(name: str, info: zipfile.ZipInfo, total: int) -> None:
    if total > MAX_UNPACKED:
        raise UnreadableFile(
            f"{name}: part {info.filename} unpacks to more than "
            f"{MAX_UNPACKED / 2**30:,.0f} GB: too large to read"
        )


def _inflate(f: io.BufferedReader, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    """A zip part as it really inflates (the sizes in the directory are not trusted), in
    pieces of at most _INFLATE_OUT bytes; refused past MAX_UNPACKED, past what the
    directory says, or past MAX_RATIO times its packed size when large."""
    broken = UnreadableFile(f"{name}: not a readable Excel workbook (part {info.filename})")
    f.seek(info.header_offset)
    header = f.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise broken
    skip = sum(struct.unpack("<HH", header[26:30]))
    f.seek(info.header_offset + 30 + skip)
    left = info.compress_size
    out = 0
    if info.compress_type == zipfile.ZIP_STORED:
        inflater = None
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
    else:
        raise UnreadableFile(
            f"{name}: part {info.filename} is packed with method {info.compress_type}, "
            "which Excel does not write"
        )
    pending = b""
    while True:
        if not pending:
            if left <= 0:
                break
            pending = f.read(min(left, _INFLATE_IN))
            if not pending:
                break
            left -= len(pending)
        if inflater is None:
            piece, pending = pending, b""
        else:
            try:
                piece = inflater.decompress(pending, _INFLATE_OUT)
            except zlib.error:
                raise broken from None
            pending = inflater.unconsumed_tail
        out += len(piece)
        if out > info.file_size or out > MAX_UNPACKED:
            raise UnreadableFile(
                f"{name}: part {info.filename} unpacks to more than its zip directory says "
                f"({info.file_size:,} bytes): a broken or hostile workbook, not read"
            )
        _check_ratio(name, info.filename, out, info.compress_size)
        if piece:
            yield piece
        if inflater is not None and inflater.eof:
            break


_AFTER_C = np.isin(np.arange(256), [32, 62, 47, 9, 10, 13])  # "<c" then space > / whitespace
_WINDOW = 12  # "<c r=\"" is followed by at most 3 letters, 7 digits and the quote (fast path)
_TAG = re.compile(rb"<(/?)(?:[^\s<>/:!?]+:)?(row|c)(?=[\s/>])([^>]*)>")
_R_ATTR = re.compile(rb"""(?:^|\s)r\s*=\s*(["'])(.*?)\1""", re.S)
_REF = re.compile(rb"([A-Za-z]*)(\d*)")


class _SlowPath(Exception):
    """The sheet's XML is not in the form Excel writes: scanned tag by tag instead."""


def _far_cell(
    chunks: Callable[[], Iterator[bytes]], name: str, info: zipfile.ZipInfo
) -> tuple[int, int] | None:
    """(row, column), 1-based, of the farthest filled cell of a sheet's XML: the largest
    row and the largest column of any cell with content, wherever the cells are. The Excel
    library's grid holds the rectangle to it (from A1 when rows are iterated). A cell
    counts when it is not an empty element, so a far cell with only formatting does not.

    The XML Excel and the usual writers produce (every `<c` tag starting `<c r="A1"`) is
    scanned with numpy; anything else (no r, other quoting, prefixes) tag by tag, tracking
    rows and positions as the library does."""
    try:
        return _far_cell_fast(chunks())
    except _SlowPath:
        return _far_cell_slow(chunks(), name, info)


def _tag_blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The XML cut after a '>' so every block holds whole tags."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        cut = data.rfind(b">") + 1
        if cut:
            yield data[:cut]
        carry = data[cut:]
        if len(carry) > MAX_RECORD_BYTES:
            raise _SlowPath  # a tag (or text) this long is no Excel export
    if carry:
        yield carry


def _far_cell_fast(chunks: Iterator[bytes]) -> tuple[int, int] | None:
    far_row = far_col = 0
    pad = np.zeros(_WINDOW + 8, dtype=np.uint8)
    index = np.arange(_WINDOW)
    for block in _tag_blocks(chunks):
        a = np.concatenate((np.frombuffer(block, dtype=np.uint8), pad))
        n = len(block)
        colon = np.flatnonzero(a[:n] == 58)
        if len(colon) and ((a[colon + 1] == 99) & _AFTER_C[a[colon + 2]]).any():
            raise _SlowPath  # a prefixed <x:c> element
        lt = np.flatnonzero(a[:n] == 60)
        cells = lt[(a[lt + 1] == 99) & _AFTER_C[a[lt + 2]]]
        if not len(cells):
            continue
        if not (
            (a[cells + 2] == 32)
            & (a[cells + 3] == 114)
            & (a[cells + 4] == 61)
            & (a[cells + 5] == 34)
        ).all():
            raise _SlowPath  # a <c> without r first, or quoted otherwise
        gt = np.flatnonzero(a[:n] == 62)
        ends = gt[np.minimum(np.searchsorted(gt, cells), len(gt) - 1)]
        cells = cells[a[ends - 1] != 47]  # filled: not <c …/>
        if not len(cells):
            continue
        w = a[cells[:, None] + 6 + index]  # the reference and the closing quote
        upper = (w - 65) < 26  # uint8 arithmetic wraps below 'A'
        digits = w - 48
        digit = digits < 10
        letters = np.argmin(upper, axis=1)
        quote = np.argmax(w == 34, axis=1)
        in_digits = (index < quote[:, None]) & (index >= letters[:, None])
        if not (
            (letters >= 1)
            & (letters <= 3)
            & (quote > letters)
            & (quote - letters <= 7)
            & (w[np.arange(len(w)), quote] == 34)
            & ((digit & in_digits).sum(axis=1) == quote - letters)
        ).all():
            raise _SlowPath
        row = np.zeros(len(w), dtype=np.int64)
        for k in range(1, _WINDOW):
            row = np.where(in_digits[:, k], row * 10 + digits[:, k], row)
        col = np.zeros(len(w), dtype=np.int64)
        for k in range(3):
            col = np.where(k < letters, col * 26 + (w[:, k] - 64), col)
        far_row = max(far_row, int(row.max()))
        far_col = max(far_col, int(col.max()))
    return (far_row, far_col) if far_row else None


def _far_cell_slow(
    chunks: Iterator[bytes], name: str, info: zipfile.ZipInfo
) -> tuple[int, int] | None:
    far_row = far_col = 0
    row_index = col_index = 0  # 0-based, as the library counts
    for block in _tag_blocks(chunks):
        for closing, element, attrs in _TAG.findall(block):
            empty = attrs.endswith(b"/")
            if element == b"row":
                if closing or empty:
                    row_index, col_index = row_index + 1, 0
                    continue
                found = _R_ATTR.search(attrs)
                if found:
                    digits = found.group(2).strip()
                    if not digits.isdigit() or int(digits) < 1:
                        raise UnreadableFile(
                            f"{name}: {info.filename}: a row numbered {digits[:20]!r}: "
                            "not a readable sheet"
                        )
                    row_index = int(digits) - 1
                continue
            if closing:
                continue
            found = _R_ATTR.search(attrs)
            if found:
                ref = found.group(2)
                parts = _REF.fullmatch(ref)
                if not parts or not parts.group(1) or not parts.group(2) or int(parts.group(2)) < 1:
                    raise UnreadableFile(
                        f"{name}: {info.filename}: a cell named {ref[:20]!r}: not a readable sheet"
                    )
                col = 0
                for letter in parts.group(1).upper():
                    col = col * 26 + letter - 64
                position = (int(parts.group(2)) - 1, col - 1)
                col_index = col - 1
            else:
                position = (row_index, col_index)
            col_index += 1
            if not empty:
                far_row = max(far_row, position[0] + 1)
                far_col = max(far_col, position[1] + 1)
    return (far_row, far_col) if far_row else None


_PROBE = """
import json, resource, sys
limit, hard = int(sys.argv[3]), resource.getrlimit(resource.RLIMIT_AS)[1]
if hard != resource.RLIM_INFINITY:
    limit = min(limit, hard)
resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
try:
    from python_calamine import CalamineWorkbook
    with CalamineWorkbook.from_path(sys.argv[1]) as workbook:
        out = {"sheets": list(workbook.sheet_names)}
        sheet = json.loads(sys.argv[2])  # False: names only, None: the first sheet
        if sheet is None and out["sheets"]:
            sheet = out["sheets"][0]
        if sheet and sheet in out["sheets"]:
            out["sheet"], out["end"] = sheet, workbook.get_sheet_by_name(sheet).end
except MemoryError:
    sys.exit(3)
except BaseException as exc:  # a panic of the library is a BaseException
    out = {"error": str(exc)[:500]}
print(json.dumps(out))
"""


def _probe(path: Path, name: str, *, sheet: str | bool | None) -> dict:
    """Opens the workbook in a child process whose memory is capped at _PROBE_MEMORY: its
    "sheets" and, unless `sheet` is False, the "sheet" opened (`sheet`, or the first when
    None) and its last cell ("end", 0-based); an UnreadableFile when it fails, dies or takes
    longer than _PROBE_SECONDS. For the formats whose cells cannot be scanned here (the
    Excel library may build every sheet as it opens the file), so one that would exhaust
    memory ends the child, not this process."""
    command = [sys.executable, "-c", _PROBE, str(path), json.dumps(sheet), str(_PROBE_MEMORY)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=_PROBE_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise UnreadableFile(
            f"{name}: opening the workbook took longer than {_PROBE_SECONDS} s: not read"
        ) from None
    if done.returncode in (3, -6, -9):  # MemoryError, an aborted allocation, killed
        raise UnreadableFile(
            f"{name}: opening the workbook needs more than {_PROBE_MEMORY >> 30} GB of memory "
            "(cells far apart, or a broken file): not read"
        )
    if done.returncode != 0:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["crashed"])[-1]
        raise UnreadableFile(f"{name}: not a readable Excel workbook ({last[:200]})")
    try:
        out = json.loads(done.stdout)
    except ValueError:
        raise UnreadableFile(f"{name}: not a readable Excel workbook") from None
    if "error" in out:
        where = f"sheet {sheet!r} cannot be read" if sheet else "not a readable Excel workbook"
        raise UnreadableFile(f"{name}: {where} ({out['error']})")
    return out


def read_parquet(path: Path, *, name: str | None = None) -> Source:
    """A Parquet file as text cells; its first record is row 1 and the headers are the
    schema's (no header detection). Raises UnreadableFile, also for a file that declares more
    than MAX_COLUMNS columns or MAX_PARQUET_CELLS cells, or expands to more than
    MAX_TEXT_BYTES of text."""
    name = name or path.name
    table = _parquet_table(path, name)
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


def _parquet_table(path: Path, name: str) -> pa.Table:
    """The file's table after checking what its footer declares, read in batches with text
    columns kept dictionary-encoded until the text they expand to is counted."""
    broken = f"{name}: not a readable Parquet file"
    size = path.stat().st_size
    with path.open("rb") as f:
        if size < 12:
            raise UnreadableFile(f"{broken} (too short)")
        f.seek(size - 8)
        footer = struct.unpack("<I", f.read(4))[0]
    if footer > min(_PARQUET_FOOTER, size - 12):
        raise UnreadableFile(
            f"{broken} (its footer claims {footer:,} bytes of {size:,}; limit "
            f"{_PARQUET_FOOTER >> 20} MB)"
        )
    limits = {"thrift_string_size_limit": _PARQUET_FOOTER, "thrift_container_size_limit": 10**6}
    try:
        meta = pq.ParquetFile(path, **limits).metadata
        schema = meta.schema.to_arrow_schema()
    except Exception as exc:  # pyarrow raises more than ArrowException on broken footers
        raise UnreadableFile(f"{broken} ({_short(exc)})") from None
    width, rows = len(schema), meta.num_rows
    if meta.num_columns > MAX_COLUMNS or width > MAX_COLUMNS:
        raise UnreadableFile(
            f"{name}: {max(width, meta.num_columns):,} columns: too many to read; "
            f"limit {MAX_COLUMNS:,} columns"
        )
    if rows < 0 or rows * max(width, 1) > MAX_PARQUET_CELLS:
        raise UnreadableFile(
            f"{name}: {rows:,} rows × {width:,} columns: too large to read; limit "
            f"{MAX_PARQUET_CELLS:,} cells (e.g. 50 columns × 1,000,000 rows)"
        )
    texts = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_binary(f.type)]
    batches, expanded, count = [], 0, 0
    try:
        source = pq.ParquetFile(path, read_dictionary=texts, **limits)
        for batch in source.iter_batches(batch_size=65_536):
            expanded += _expanded_bytes(batch)
            count += batch.num_rows
            if expanded > MAX_TEXT_BYTES or count > rows:
                raise UnreadableFile(
                    f"{name}: its columns expand to more than {MAX_TEXT_BYTES >> 30} GB "
                    "(or to more rows than it declares): too large to read"
                )
            batches.append(batch)
        if not batches:
            return source.schema_arrow.empty_table()
        return pa.Table.from_batches(batches)
    except UnreadableFile:
        raise
    except Exception as exc:  # ArrowException, OSError, MemoryError, ValueError…
        raise UnreadableFile(f"{broken} ({_short(exc)})") from None


def _expanded_bytes(batch: pa.RecordBatch) -> int:
    """What the text and binary columns of a batch take once decoded (a dictionary column
    counted value by value: a small file can repeat one huge value millions of times)."""
    total = 0
    for column in batch.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            values = column.dictionary
            if pa.types.is_string(values.type) or pa.types.is_binary(values.type):
                lengths = pc.fill_null(pc.binary_length(values), 0)
                total += pc.sum(lengths.take(pc.fill_null(column.indices, 0))).as_py() or 0
        elif pa.types.is_string(kind) or pa.types.is_binary(kind):
            total += column.nbytes
        else:
            total += len(column) * 24  # a number or a date as text
    return total


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


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


def _cell_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day).isoformat()  # as pandas did
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
