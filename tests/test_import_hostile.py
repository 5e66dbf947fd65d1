"""Hostile and broken files: no input may end the process (an upload that does takes the
dashboard down for every user). Each comes out as an UnreadableFile naming the file and why,
or as a normal Source, never as another exception, a crash or an exhausted memory.

The dangerous ones are read in a child process under a 2 GB address-space limit, so a
regression fails the test instead of killing pytest. Also: a UTF-8 file with one cp1252 line
is read as UTF-8 and the line becomes a bad record, not a reason to mis-decode every row.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cxdata
from cxdata.importing.errors import UnreadableFile
from cxdata.importing.readers import UTF8_REASON, detect_encoding, read_source

MEMORY = 2 << 30
ROOT = str(Path(cxdata.__file__).resolve().parent.parent)

_READ = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from cxdata.importing.errors import UnreadableFile
from cxdata.importing.readers import read_source, sheet_names
out = []
for path, what in json.loads(sys.argv[3]):
    try:
        if what == "sheets":
            out.append({"ok": sheet_names(Path(path))})
        else:
            out.append({"ok": read_source(Path(path)).describe()})
    except UnreadableFile as exc:
        out.append({"unreadable": str(exc)})
# VmHWM is this process's own peak; ru_maxrss keeps the parent's across fork + exec.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
peak = (int(hwm[0].split()[1]) if hwm else own) // 1024
print(json.dumps({"results": out, "peak_mb": peak}))
"""


def read_in_child(*paths: Path, what: str = "read", timeout: float = 120) -> tuple[list, int]:
    """Each file read (or its sheets listed) in a child process with MEMORY of address
    space: the results ({"ok": describe()} or {"unreadable": message}) and the peak RSS in
    MB. Any other exception, a crash or a timeout fails the test."""
    specs = json.dumps([(str(p), what) for p in paths])
    done = subprocess.run(
        [sys.executable, "-c", _READ, str(MEMORY), ROOT, specs],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"the reader died (exit {done.returncode}): {done.stderr.decode(errors='replace')[-3000:]}"
    )
    out = json.loads(done.stdout.decode().splitlines()[-1])
    return out["results"], out["peak_mb"]


# --- building hostile files ----------------------------------------------------------------

_CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
    '"xl/workbook.xml"/></Relationships>'
)
_BOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_BOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/'
    'sheet1.xml"/></Relationships>'
)
_SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org'
    b'/spreadsheetml/2006/main"><dimension ref="A1:B2"/><sheetData>'
)
_SHEET_TAIL = b"</sheetData></worksheet>"


def _deflate(data: bytes, *, final: bool = True) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def part(name: str, xml: str | bytes) -> tuple[str, bytes, int, int]:
    raw = xml.encode() if isinstance(xml, str) else xml
    return name, _deflate(raw), len(raw), zlib.crc32(raw)


def write_zip(path: Path, parts: list[tuple[str, bytes, int, int]]) -> Path:
    """A zip written byte by byte from (name, deflated data, the size its directory
    declares, CRC), so a test can make a part inflate to more than the directory says."""
    body, directory = bytearray(), bytearray()
    for name, data, size, crc in parts:
        offset, raw = len(body), name.encode()
        sizes = (crc, len(data), size, len(raw))
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, *sizes, 0)
        body += raw + data
        entry = (20, 20, 0, 8, 0, 0x21, *sizes, 0, 0, 0, 0, 0, offset)
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", *entry)
        directory += raw
    count = len(parts)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    path.write_bytes(bytes(body + directory + end))
    return path


BOOK = [
    part("[Content_Types].xml", _CT),
    part("_rels/.rels", _RELS),
    part("xl/workbook.xml", _BOOK),
    part("xl/_rels/workbook.xml.rels", _BOOK_RELS),
]


def workbook(path: Path, sheet: bytes, *, strings: tuple[bytes, int] | None = None) -> Path:
    """An .xlsx whose sheet holds `sheet` (rows), with `strings` as its shared strings
    (deflated, and the size the zip directory declares for them)."""
    parts = list(BOOK)
    if strings is not None:
        parts.append(("xl/sharedStrings.xml", *strings, 0))
    return write_zip(
        path, [*parts, part("xl/worksheets/sheet1.xml", _SHEET_HEAD + sheet + _SHEET_TAIL)]
    )


def bomb(head: bytes, block: bytes, copies: int, tail: bytes) -> tuple[bytes, int]:
    """A deflate stream of head + block × copies + tail made without inflating it: the
    block is deflated once (flushed so it needs nothing before it) and repeated. Its CRC
    is left wrong: readers check it only at the end of a part, too late to protect."""
    data = _deflate(head, final=False) + _deflate(block, final=False) * copies + _deflate(tail)
    return data, len(head) + len(block) * copies + len(tail)


def cells(row: int) -> bytes:
    return f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>x</t></is></c></row>'.encode()


# --- Excel: cells far away ------------------------------------------------------------------


def test_a_workbook_whose_one_cell_is_xfd1048576_is_refused_in_one_line(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active["XFD1048576"] = 1
    book.save(tmp_path / "c.xlsx")
    book = openpyxl.Workbook()
    book.active.append(["Score", "Comment"])
    book.active.append([9, "fine"])
    book.active["XFD1048576"] = 1
    book.save(tmp_path / "d.xlsx")
    (only, beside), _ = read_in_child(tmp_path / "c.xlsx", tmp_path / "d.xlsx")
    message = only["unreadable"]
    assert message.startswith("c.xlsx: sheet 'Sheet' reaches cell XFD1048576")
    assert "16,384 columns × 1,048,576 rows" in message and "limit" in message
    assert "\n" not in message
    assert beside["unreadable"].startswith("d.xlsx: sheet 'Sheet' reaches cell XFD1048576")
    # listing the sheets (the Data page does it first) does not build the grid
    assert read_in_child(tmp_path / "d.xlsx", what="sheets")[0] == [{"ok": ["Sheet"]}]


ONE = b'<row r="1"><c r="A1"><v>1</v></c>'
FAR = [
    # how the cells say where they are: none of these may build the grid
    ("ordinary", ONE + b'<c r="XFD1048576"><v>1</v></c></row>'),
    ("attribute order", ONE + b'<c s="0" r="ZZ999999"><v>1</v></c></row>'),
    ("single quotes", ONE + b"<c r = 'XFD100000'><v>1</v></c></row>"),
    ("lower case", ONE + b'<c r="xfd1048576"><v>1</v></c></row>'),
    ("prefixed", ONE + b'<x:c r="XFD1048576"><x:v>1</x:v></x:c></row>'),
    ("past Excel's grid", ONE + b'<c r="ZZZZ99999999"><v>1</v></c></row>'),
    ("no references", ONE + b'</row><row r="1048576">' + b"<c><v>1</v></c>" * 40 + b"</row>"),
    ("out of order", b'<row r="1048576"><c r="AD1048576"><v>1</v></c></row>' + ONE + b"</row>"),
]


def test_far_cells_in_any_form_are_refused_and_near_ones_read(tmp_path: Path) -> None:
    paths = [workbook(tmp_path / f"far{i}.xlsx", xml) for i, (_, xml) in enumerate(FAR)]
    near = [
        # a far cell with formatting only holds nothing: the library skips it, and so do we
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>Score</t></is></c></row>'
        b'<row r="2"><c r="A2"><v>7</v></c></row>'
        b'<row r="1048576"><c r="XFD1048576" s="1"/></row>',
        # cells without references are placed one after another
        b'<row><c t="inlineStr"><is><t>Score</t></is></c><c t="inlineStr"><is><t>Region</t>'
        b'</is></c></row><row><c><v>7</v></c><c t="inlineStr"><is><t>Nord</t></is></c></row>',
    ]
    paths += [workbook(tmp_path / f"near{i}.xlsx", xml) for i, xml in enumerate(near)]
    results, peak = read_in_child(*paths)
    for (label, _), result in zip(FAR, results, strict=False):
        assert "reaches cell" in result.get("unreadable", ""), (label, result)
    assert results[-2] == {"ok": "excel, sheet 'Sheet1', 1 records"}
    assert results[-1] == {"ok": "excel, sheet 'Sheet1', 1 records"}
    assert peak < 1200


# --- Excel: zip bombs -----------------------------------------------------------------------


def test_zip_bombs_are_refused_before_they_inflate(tmp_path: Path) -> None:
    block = b"".join(cells(2) for _ in range(20_000))  # ~1.3 MB, a few KB deflated
    # a sheet that inflates to 1.3 GB, as its zip directory says
    sheet, size = bomb(_SHEET_HEAD, block, 1100, _SHEET_TAIL)
    honest = write_zip(
        tmp_path / "honest.xlsx", [*BOOK, ("xl/worksheets/sheet1.xml", sheet, size, 0)]
    )
    # the same sheet, its directory claiming 100 KB: only inflating it tells
    lying = write_zip(
        tmp_path / "lying.xlsx", [*BOOK, ("xl/worksheets/sheet1.xml", sheet, 100_000, 0)]
    )
    # shared strings (read when the workbook opens, before any sheet) inflating 300 times
    strings_head = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    text = b"<si><t>" + b"x" * 60_000 + b"</t></si>"
    strings, strings_size = bomb(strings_head, text, 1000, b"</sst>")
    ratio = workbook(tmp_path / "ratio.xlsx", cells(1), strings=(strings, strings_size))
    lying_strings = workbook(tmp_path / "strings.xlsx", cells(1), strings=(strings, 5_000))
    paths = [honest, lying, ratio, lying_strings]
    results, peak = read_in_child(*paths, timeout=60)
    assert "unpacks to 1.3 GB: too large to read; limit 1 GB" in results[0]["unreadable"]
    assert "more than its zip directory says" in results[1]["unreadable"]
    assert "times its packed size" in results[2]["unreadable"]
    assert "more than its zip directory says" in results[3]["unreadable"]
    sheets, _ = read_in_child(ratio, lying_strings, what="sheets", timeout=60)
    assert all("unreadable" in r for r in sheets)
    assert peak < 1200


# --- Parquet ----------------------------------------------------------------------------------


def test_parquet_too_wide_too_long_or_expanding_is_refused(tmp_path: Path) -> None:
    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({f"q{i}": pa.nulls(2, pa.int8()) for i in range(20_000)}), wide)
    long = tmp_path / "long.parquet"  # 60 million rows in 100 KB
    pq.write_table(pa.table({"score": pa.nulls(60_000_000, pa.int8())}), long)
    # one 100 KB comment, a million rows pointing at it: 7 KB on disk, 100 GB as text
    repeated = tmp_path / "repeated.parquet"
    comments = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(1_000_000, np.int32)), pa.array(["x" * 100_000])
    )
    pq.write_table(pa.table({"comment": comments}), repeated)
    fine = tmp_path / "fine.parquet"
    pq.write_table(pa.table({"comment": pa.array(["ok", "fine"]).dictionary_encode()}), fine)
    results, peak = read_in_child(wide, long, repeated, fine)
    assert results[0]["unreadable"] == (
        "wide.parquet: 20,000 columns: too many to read; limit 16,384 columns"
    )
    assert results[1]["unreadable"].startswith(
        "long.parquet: 60,000,000 rows × 1 columns: too large to read"
    )
    assert "expand to more than 2 GB" in results[2]["unreadable"]
    assert results[3] == {"ok": "parquet, 2 records"}
    assert peak < 1200


# --- CSV ------------------------------------------------------------------------------------


def test_a_csv_of_one_enormous_line_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    line = tmp_path / "line.csv"  # 500 MB, no line break
    with line.open("wb") as f:
        f.write(b"id,comment,")
        for _ in range(500):
            f.write(b"x" * (1 << 20))
    later = tmp_path / "later.csv"  # a proper header, then 100 MB without a line break
    with later.open("wb") as f:
        f.write(b"id,comment\n1,fine\n2,")
        for _ in range(100):
            f.write(b"y" * (1 << 20))
    results, peak = read_in_child(line, later)
    assert "no complete line in the first 8 MB" in results[0]["unreadable"]
    assert "a record is longer than 16 MB" in results[1]["unreadable"]
    assert peak < 800


def test_a_header_wider_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"q{i}" for i in range(20_000)) + "\n" + "1," * 19_999 + "1\n")
    with pytest.raises(UnreadableFile, match="more than 16,384 columns: too many to read"):
        read_source(path)


# --- broken and garbage files of every format (fuzzed) ----------------------------------------

_FUZZ = r"""
import resource, sys, tempfile
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from hypothesis import HealthCheck, given, settings, strategies as st
from cxdata.importing.errors import UnreadableFile
from cxdata.importing.readers import Source, read_source

seeds = [(Path(p).suffix, Path(p).read_bytes()) for p in sys.argv[4:]]
kept = tempfile.TemporaryDirectory()  # deleted when this process ends
folder = Path(kept.name)
runs = int(sys.argv[3])
fuzz = settings(max_examples=runs, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def check(data, suffix):
    path = folder / ("upload" + suffix)
    path.write_bytes(data)
    try:
        assert isinstance(read_source(path), Source)
    except UnreadableFile as exc:
        assert str(exc).startswith("upload" + suffix + ":"), str(exc)


MAGIC = [b"", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"PAR1", b"\xef\xbb\xbf",
         b"\xff\xfe"]


@fuzz
@given(st.sampled_from(MAGIC), st.binary(max_size=3000),
       st.sampled_from([".csv", ".txt", ".xlsx", ".xls", ".ods", ".xlsb", ".parquet"]))
def garbage(magic, data, suffix):
    check(magic + data, suffix)


@fuzz
@given(st.sampled_from(seeds), st.data())
def broken(seed, draw):
    suffix, data = seed
    data = bytearray(data[: draw.draw(st.integers(1, len(data)), label="cut")])
    for _ in range(draw.draw(st.integers(0, 6), label="flips")):
        at = draw.draw(st.integers(0, len(data) - 1))
        data[at] = draw.draw(st.integers(0, 255))
    check(bytes(data), suffix)


@fuzz
@given(st.lists(st.lists(st.text(st.sampled_from('ab;,\t|"\n\r é\x00'), max_size=8),
                         max_size=6), max_size=8),
       st.sampled_from(["utf-8", "cp1252", "utf-16", "utf-8-sig"]))
def text(records, encoding):
    lines = "\n".join(";".join(r) for r in records)
    check(lines.encode(encoding, errors="replace"), ".csv")


NEAR = st.tuples(st.integers(1, 40), st.integers(1, 20))
FAR = st.tuples(st.integers(40_000, 1_048_576), st.integers(2_000, 16_384))  # > 80M cells
FORMS = ["plain", "lower", "single", "late", "none", "prefix", "styled only"]


def letters(column):
    name = ""
    while column:
        column, rest = divmod(column - 1, 26)
        name = chr(65 + rest) + name
    return name


def cell_xml(row, column, form):
    ref = letters(column) + str(row)
    return {
        "plain": f'<c r="{ref}"><v>1</v></c>',
        "lower": f'<c r="{ref.lower()}" t="inlineStr"><is><t>x</t></is></c>',
        "single": f"<c r='{ref}'><v>1</v></c>",
        "late": f'<c t="n" s="0" r="{ref}"><v>1</v></c>',
        # no reference: placed after the cell before it (a styled one, placing it)
        "none": (f'<c r="{letters(column - 1)}{row}" s="1"/>' if column > 1 else "")
        + "<c><v>1</v></c>",
        "prefix": f'<x:c r="{ref}"><x:v>1</x:v></x:c>',
        "styled only": f'<c r="{ref}" s="1"/>',
    }[form]


book = next(p for p in sys.argv[4:] if p.endswith("hand.xlsx"))


@fuzz
@given(st.lists(st.tuples(st.one_of(NEAR, FAR), st.sampled_from(FORMS)), min_size=1, max_size=6))
def cells_anywhere(cells):
    import zipfile
    rows = "".join(f'<row r="{r}">{cell_xml(r, c, form)}</row>' for (r, c), form in cells)
    sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f"<sheetData>{rows}</sheetData></worksheet>")
    path = folder / "upload.xlsx"
    with zipfile.ZipFile(book) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                new.writestr(info.filename, old.read(info))
        new.writestr("xl/worksheets/sheet1.xml", sheet)
    far = any(r >= 40_000 and form != "styled only" for (r, _), form in cells)
    try:
        read_source(path)
        assert not far, "a far cell was read"
    except UnreadableFile as exc:
        assert ("reaches cell" in str(exc)) == far, str(exc)


garbage()
broken()
text()
cells_anywhere()
print("fuzzed")
"""


def test_garbage_and_truncated_files_of_every_format_are_unreadable_or_read(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "seed.csv"
    csv.write_text('id;region;comment\n1;Västra Götaland;"say ""hi"";\nbye"\n2;Nord;ok\n')
    xlsx = tmp_path / "seed.xlsx"
    book = openpyxl.Workbook()
    for row in (["id", "region", "when"], [1, "Västra Götaland", 45000.5], [2, "Nord", None]):
        book.active.append(row)
    book.save(xlsx)
    parquet = tmp_path / "seed.parquet"
    pq.write_table(pa.table({"id": [1, 2], "region": ["Västra Götaland", None]}), parquet)
    seeds = [str(csv), str(xlsx), str(parquet), str(workbook(tmp_path / "hand.xlsx", cells(1)))]
    done = subprocess.run(
        [sys.executable, "-c", _FUZZ, str(MEMORY), ROOT, "200", *seeds],
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0 and b"fuzzed" in done.stdout, done.stderr.decode()[-5000:]


# --- a UTF-8 file with one line that is not --------------------------------------------------


def test_one_cp1252_line_is_a_bad_record_not_a_reason_to_misread_the_file(
    tmp_path: Path,
) -> None:
    lines = [b"id;region;comment"]
    lines += [f"{i};Västra Götaland;Bra service".encode() for i in range(1, 2000)]
    lines.insert(1234, "1234b;Västra Götaland;Dålig".encode("cp1252"))
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    assert detect_encoding(path) == "utf-8"
    source = read_source(path)
    assert source.encoding == "utf-8"
    assert source.frame["region"].unique().tolist() == ["Västra Götaland"]
    assert len(source.frame) == 1999 and source.read == 2000
    bad = source.bad_records.to_dict("records")
    assert bad == [
        {
            "row": 1235,
            "fields": 3,
            "text": "1234b;V\ufffdstra G\ufffdtaland;D\ufffdlig",
            "reason": UTF8_REASON,
        }
    ]
    assert 1235 not in source.rows and source.rows[1232] == 1234 and source.rows[1233] == 1236


def test_wholly_single_byte_files_keep_their_encoding(tmp_path: Path) -> None:
    # mostly ASCII with a few cp1252 letters: cp1252 (no line is real UTF-8)
    lines = ["id;region"] + [f"{i};North" for i in range(1, 1000)] + ["1000;Ærø"]
    path = tmp_path / "cp.csv"
    path.write_bytes("\n".join(lines).encode("cp1252"))
    assert detect_encoding(path) == "cp1252"
    assert read_source(path).frame["region"].iloc[-1] == "Ærø"
    # more than 1 % of the lines not UTF-8: decoded as a whole, as before
    lines = ["id;region"] + [f"{i};Sør" for i in range(1, 50)]
    data = [line.encode("utf-8") for line in lines[:40]] + [s.encode("cp1252") for s in lines[40:]]
    path.write_bytes(b"\n".join(data))
    assert detect_encoding(path) == "cp1252"


def test_one_cp1252_line_in_a_small_utf8_file_is_named_not_spread(tmp_path: Path) -> None:
    """50 lines: one bad line is 2 % of the file, and must still not re-decode the rest."""
    from cxdata.importing import import_file
    from cxdata.store import close, connect

    lines = ["id;dato;anbefale;region"]
    lines += [f"{i};2025-01-0{i % 9 + 1};{i % 11};Västra Götaland" for i in range(1, 50)]
    path = tmp_path / "small.csv"
    path.write_bytes(
        ("\n".join(lines) + "\n").encode("utf-8")
        + "99;2025-01-02;5;Västra Götaland\n".encode("cp1252")
    )
    store = connect(tmp_path / "s")
    try:
        result = import_file(store, path)
        assert (result.read, result.imported, result.rejected) == (50, 49, 1)
        regions = set(store.table("responses").region.to_pandas())
        assert regions == {"Västra Götaland"}
    finally:
        close(tmp_path / "s")
