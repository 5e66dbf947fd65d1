"""Where the table is in the first rows of an export, and how its columns are named.

Works on rows of text cells (CSV records or sheet rows, 0-based; "" or None is empty):

- `detect_layout` finds the header row below title / period / blank lines, a SurveyMonkey
  second header row (question row + "Response" / option row) or the Qualtrics second and
  third rows (question text, ImportId JSON), and multi-select questions spread over one
  column per option, which become one column (the chosen options joined by "; ").
- `build_frame` applies a layout to all the data rows (text columns by position).
- `summary_label` and `trailing_summaries` recognise the total / average lines exports put
  below the data.

Nothing here reads files; readers.py does, and turns a ValueError from here into an
UnreadableFile naming the file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Cells = Sequence[str | None]

# First words of total / average lines (en, no, da, sv, sl, de, fi, nl, fr, es).
TOTAL_WORDS: tuple[str, ...] = (
    "total", "totals", "totalt", "grand total", "sum", "summe", "summa", "average", "avg",
    "mean", "gjennomsnitt", "snitt", "i alt", "gennemsnit", "medelvärde", "skupaj",
    "povprečje", "gesamt", "insgesamt", "durchschnitt", "mittelwert", "yhteensä", "keskiarvo",
    "totaal", "gemiddelde", "moyenne", "promedio",
)  # fmt: skip
_TOTAL = re.compile(
    r"^(?:" + "|".join(re.escape(w) for w in sorted(TOTAL_WORDS, key=len, reverse=True)) + r")"
    r"(?!\w)[\s:.\-–]*(?:\S+(?:\s+\S+)?)?\s*$",
    re.IGNORECASE,
)
# Row-2 texts of a SurveyMonkey single-answer column, in the languages it exports.
RESPONSE_WORDS = frozenset(
    {
        "response", "responses", "open-ended response", "svar", "åpent svar", "åbent svar",
        "öppet svar", "antwort", "offene antwort", "vastaus", "avoin vastaus", "odgovor",
        "odprt odgovor", "réponse", "réponse ouverte", "respuesta", "respuesta abierta",
        "antwoord", "open antwoord",
    }
)  # fmt: skip
# Qualtrics metadata ids whose row-2 text is the same words spaced ("StartDate" / "Start Date").
QUALTRICS_IDS = frozenset(
    {
        "startdate", "enddate", "status", "ipaddress", "progress", "durationinseconds",
        "finished", "recordeddate", "responseid", "recipientlastname", "recipientfirstname",
        "recipientemail", "externalreference", "externaldatareference", "locationlatitude",
        "locationlongitude", "distributionchannel", "userlanguage",
    }
)  # fmt: skip
# Cells of a one-column-per-option multi-select: chosen (the option text or one of these) or
# not chosen (empty or one of _NOT_CHOSEN).
_CHOSEN = frozenset(
    {"1", "1.0", "x", "yes", "true", "y", "ja", "kyllä", "da", "oui", "sí", "si", "selected",
     "checked", "✓", "✔", "☑"}
)  # fmt: skip
_NOT_CHOSEN = frozenset(
    {"0", "0.0", "no", "false", "n", "nei", "nej", "nein", "ei", "ne", "non", "not selected",
     "unchecked"}
)  # fmt: skip
_NOT_NUMBER = re.compile(r"(?i)\b(?:am|pm|gmt|utc|kr)\b|[\d\s.,:;/'’\-+−–()%$€£¥TZ]")
_DATEISH = re.compile(r"\d{1,4}\s*[./-]\s*\d{1,2}\s*[./-]\s*\d{1,4}")
_PERIOD_WORDS = re.compile(
    r"(?i)\b(?:period|periode|periodo|période|zeitraum|obdobje|ajanjakso|date range|dates?|"
    r"from|fra|från|od|von|generated|exported|created|dato|datum)\b"
)
_ID_GROUP = re.compile(r"^(.+)_(\d+)$")
_SEPARATORS: tuple[str, ...] = (" - ", " – ", ": ")
_SAMPLE_WIDTH = 30  # non-blank rows below a header candidate that decide the table's width


@dataclass(frozen=True)
class Column:
    """One output column: its header, the question it asks, the source column positions it
    comes from and, for a multi-select merged from one column per option, the options (in
    the order of `positions`). `generated` marks a header made up for a blank header cell."""

    name: str
    question: str
    positions: tuple[int, ...]
    options: tuple[str, ...] = ()
    generated: bool = False


@dataclass
class Layout:
    """Where the table is: the header starts at row index `header_index` (0-based) and spans
    `header_rows` rows; the data starts right below. `width` is the number of source columns
    (cells per row); `columns` the output columns; `kind` "plain", "surveymonkey" or
    "qualtrics"; `skipped` notes on the rows above the header."""

    header_index: int
    header_rows: int
    width: int
    columns: list[Column]
    kind: str = "plain"
    import_ids: dict[str, dict] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def data_start(self) -> int:
        """Index of the first row below the header."""
        return self.header_index + self.header_rows

    @property
    def headers(self) -> list[str]:
        """The output column headers."""
        return [c.name for c in self.columns]

    @property
    def questions(self) -> dict[str, str]:
        """Header → question text (every header has one)."""
        return {c.name: c.question for c in self.columns}

    @property
    def options(self) -> dict[str, list[str]]:
        """Merged multi-select header → its options, in order."""
        return {c.name: list(c.options) for c in self.columns if c.options}

    @property
    def plain(self) -> bool:
        """True when every source column becomes one output column, in order, unchanged."""
        return [c.positions for c in self.columns] == [(i,) for i in range(self.width)] and not any(
            c.options for c in self.columns
        )


# --- cells ---------------------------------------------------------------------------------


def _text(value: str | None) -> str:
    return " ".join(str(value).replace("\ufeff", "").split()) if value is not None else ""


def _fold(value: str | None) -> str:
    return _text(value).casefold()


def is_numberish(text: str | None) -> bool:
    """True for a number, date, time, percentage or amount ("7", "1 234,5", "03/03/2024
    09:00 AM", "2024-07-01T09:00:00Z", "64%"): digits and nothing but separators."""
    text = _text(text)
    return any(c.isdigit() for c in text) and not _NOT_NUMBER.sub("", text)


def _cells(row: Cells, width: int) -> list[str]:
    out = [_text(c) for c in row[:width]]
    return out + [""] * (width - len(out))


def _span(row: Cells) -> int:
    for i in range(len(row) - 1, -1, -1):
        if _text(row[i]):
            return i + 1
    return 0


def _texty(row: Cells) -> bool:
    """Mostly non-numeric, distinct texts: what a header row looks like."""
    filled = [_fold(c) for c in row if _text(c)]
    if not filled:
        return False
    words = sum(not is_numberish(c) for c in filled)
    return words >= 0.6 * len(filled) and len(set(filled)) >= 0.9 * len(filled)


# --- the header ----------------------------------------------------------------------------


def detect_layout(rows: Sequence[Cells], *, header_index: int | None = None) -> Layout:
    """The layout of a table whose first rows are `rows` (up to a few hundred suffice).

    The header is the first row whose filled cells span (nearly) the width of the rows
    below it and are mostly non-numeric, distinct texts; rows above it are skipped. A
    SurveyMonkey answer row or the Qualtrics question / ImportId rows below it are part of
    the header. With `header_index` (0-based) that row alone is the header.

    Raises ValueError when every row is empty, or `header_index` is past the end or an
    empty row.
    """
    spans = [_span(r) for r in rows]
    filled = [i for i, s in enumerate(spans) if s]
    if not filled:
        raise ValueError(f"no header row: the first {len(rows)} lines are empty")
    if header_index is not None:
        if header_index < 0 or header_index >= len(rows):
            raise ValueError(f"no row {header_index + 1}: the table has {len(rows)} rows")
        if not spans[header_index]:
            raise ValueError(f"row {header_index + 1} is empty; expected the column headers")
        found = header_index
    else:
        found = _find_header(rows, spans, filled)
    header_rows, kind = 1, "plain"
    if header_index is None:
        header_rows, kind = _extra_header_rows(rows, found)
    head = rows[found : found + header_rows]
    width = max(len(r) for r in head)
    data = _sample_data(rows[found + header_rows :], width)
    objects: dict[int, dict] = {}
    if kind == "surveymonkey":
        columns = _surveymonkey_columns(_cells(head[0], width), _cells(head[1], width), data)
    elif kind == "qualtrics":
        columns, objects = _qualtrics_columns(head, width, data)
    else:
        columns = _plain_columns(_cells(head[0], width), data)
    columns = _unique(columns)
    return Layout(
        header_index=found,
        header_rows=header_rows,
        width=width,
        columns=columns,
        kind=kind,
        import_ids={c.name: objects[c.positions[0]] for c in columns if c.positions[0] in objects},
        skipped=_notes_above(rows[:found]),
    )


def _find_header(rows: Sequence[Cells], spans: list[int], filled: list[int]) -> int:
    def wide(n: int) -> bool:  # as wide as most of the (up to 30) rows below it
        below = Counter(spans[j] for j in filled[n + 1 : n + 1 + _SAMPLE_WIDTH])
        usual = max(below.items(), key=lambda item: (item[1], item[0]))[0] if below else 0
        return spans[filled[n]] >= 0.8 * usual

    for n, i in enumerate(filled):
        if wide(n) and _texty(rows[i]):
            return i
    return next((i for n, i in enumerate(filled) if wide(n)), filled[0])


def _extra_header_rows(rows: Sequence[Cells], i: int) -> tuple[int, str]:
    if i + 1 >= len(rows) or not _span(rows[i + 1]):
        return 1, "plain"
    width = max(len(rows[i]), len(rows[i + 1]))
    r1, r2 = _cells(rows[i], width), _cells(rows[i + 1], width)
    if i + 2 < len(rows) and _import_id_row(rows[i + 2]):
        return 3, "qualtrics"
    spaced = [
        j for j in range(width)
        if _key(r1[j]) in QUALTRICS_IDS and _key(r2[j]) == _key(r1[j]) and r1[j] != r2[j]
    ]  # fmt: skip
    if len(spaced) >= 2:
        return 2, "qualtrics"
    if _surveymonkey_row(r1, r2):
        return 2, "surveymonkey"
    return 1, "plain"


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _import_id_row(row: Cells) -> bool:
    cells = [_text(c) for c in row if _text(c)]
    ids = sum(c.startswith("{") and '"ImportId"' in c for c in cells)
    return bool(cells) and ids >= 0.8 * len(cells)


def _surveymonkey_row(r1: list[str], r2: list[str]) -> bool:
    """True when r2 is SurveyMonkey's second header row under r1: texts only, "Response"
    under single-answer questions and option names under a multi-answer question's columns
    (r1 blank after the first of them); metadata columns are blank in r2."""
    filled = [j for j, c in enumerate(r2) if c]
    if not filled or any(is_numberish(r2[j]) for j in filled):
        return False
    responses = [j for j in filled if r2[j].casefold() in RESPONSE_WORDS]
    if any(not r1[j] for j in responses):
        return False
    continued = [j for j in filled if not r1[j]]
    for j in continued:  # each continues a run that starts under a question
        k = j
        while k > 0 and not r1[k] and r2[k]:
            k -= 1
        if not (r1[k] and r2[k]):
            return False
    metadata = any(r1[j] and not r2[j] for j in range(len(r1)))
    return bool(responses) or (bool(continued) and metadata)


def _sample_data(rows: Sequence[Cells], width: int) -> list[list[str]]:
    """The sample's data rows as cells, without blank rows and total lines."""
    out = [_cells(r, width) for r in rows if _span(r)]
    while out and summary_label(out[-1]):
        out.pop()
    return out


# --- columns -------------------------------------------------------------------------------


def _plain_columns(names: list[str], data: list[list[str]]) -> list[Column]:
    columns = [Column(n, n, (j,)) for j, n in enumerate(names)]
    out: list[Column] = []
    j = 0
    while j < len(names):
        run = _question_run(names, j)
        if run is not None:
            question, options = run
            positions = tuple(range(j, j + len(options)))
            if _option_columns(data, positions, options):
                out.append(Column(question, question, positions, tuple(options)))
                j += len(options)
                continue
        out.append(columns[j])
        j += 1
    return out


def _splits(header: str) -> list[tuple[str, str, str]]:
    """(separator, question, option) readings of a "Question - Option" / "Question: Option"
    / "Question [Option]" header."""
    out = []
    bracket = re.fullmatch(r"(.+?)\s*\[([^\[\]]+)\]", header)
    if bracket:
        out.append(("[]", bracket.group(1).strip(), bracket.group(2).strip()))
    for sep in _SEPARATORS:
        start = header.find(sep)
        while start > 0:
            question, option = header[:start].strip(), header[start + len(sep) :].strip()
            if question and option:
                out.append((sep, question, option))
            start = header.find(sep, start + 1)
    return out


def _question_run(names: list[str], j: int) -> tuple[str, list[str]] | None:
    """The longest run (2+ columns) from column j whose headers share a question."""
    best: tuple[str, list[str]] | None = None
    for sep, question, option in _splits(names[j]):
        options = [option]
        for name in names[j + 1 :]:
            match = [o for s, q, o in _splits(name) if s == sep and q == question]
            if not match or match[0] in options:
                break
            options.append(match[0])
        if len(options) >= 2 and (best is None or len(options) > len(best[1])):
            best = (question, options)
    return best


def _option_columns(
    data: list[list[str]], positions: Sequence[int], options: Sequence[str]
) -> bool:
    """True when every sample cell of these columns is empty, its column's option text or
    a yes/no flag (1/0, x, yes/no, true/false), and some cell is chosen."""
    chosen = False
    for j, option in zip(positions, options, strict=True):
        wanted = option.casefold()
        for row in data:
            value = row[j].casefold()
            if value and value != wanted and value not in _CHOSEN and value not in _NOT_CHOSEN:
                return False
            chosen = chosen or bool(value and value not in _NOT_CHOSEN)
    return chosen


def _surveymonkey_columns(r1: list[str], r2: list[str], data: list[list[str]]) -> list[Column]:
    groups: list[list[int]] = []
    for j in range(len(r1)):
        if not r1[j] and r2[j] and groups and r1[groups[-1][0]] and r2[j - 1]:
            groups[-1].append(j)
        else:
            groups.append([j])
    # a row-2 word under 2+ single-answer questions is their "Response" in some language
    singles = Counter(r2[g[0]].casefold() for g in groups if len(g) == 1 and r1[g[0]] and r2[g[0]])
    response = RESPONSE_WORDS | {w for w, n in singles.items() if n >= 2}
    out: list[Column] = []
    for group in groups:
        question, subs = r1[group[0]], [r2[j] for j in group]
        if not question or (len(group) == 1 and (not subs[0] or subs[0].casefold() in response)):
            out.append(Column(question or subs[0], question or subs[0], (group[0],)))
            continue
        # one column per option, then maybe "Other (please specify)" columns of typed text
        end = len(group)
        while end > 1 and _other(subs[end - 1]):
            end -= 1
        if subs[0].casefold() not in response and _option_columns(data, group[:end], subs[:end]):
            out.append(Column(question, question, tuple(group[:end]), tuple(subs[:end])))
            rest = group[end:]
        else:
            rest = group
        for j in rest:
            single = r2[j].casefold() in response
            name = question if single else f"{question} - {r2[j]}"
            out.append(Column(name, name, (j,)))
    return out


def _other(option: str) -> bool:
    """An "Other (please specify)" column: typed text, not the option's name."""
    return bool(re.match(r"(?i)(other|annet|andet|annat|andere|sonstige|muu|drugo|autre|otro)\b",
                         option))  # fmt: skip


def _qualtrics_columns(
    head: Sequence[Cells], width: int, data: list[list[str]]
) -> tuple[list[Column], dict[int, dict]]:
    ids, texts = _cells(head[0], width), _cells(head[1], width)
    raw_ids = _cells(head[2], width) if len(head) > 2 else [""] * width
    objects: dict[int, dict] = {}
    for j, cell in enumerate(raw_ids):
        try:
            value = json.loads(cell) if cell.startswith("{") else None
        except ValueError:
            value = None
        if isinstance(value, dict):
            objects[j] = value
    out: list[Column] = []
    j = 0
    while j < width:
        group = _id_group(ids, j)
        if len(group) >= 2:
            readings = [_choice(texts[k]) for k in group]
            questions = {q for q, _ in readings}
            options = [o or ids[k] for (_, o), k in zip(readings, group, strict=True)]
            if (
                len(questions) == 1
                and len(set(options)) == len(options)
                and _option_columns(data, group, options)
            ):
                name = _ID_GROUP.match(ids[j]).group(1)  # type: ignore[union-attr]
                question = questions.pop() or name
                out.append(Column(name, question, tuple(group), tuple(options)))
                j += len(group)
                continue
        out.append(Column(ids[j], texts[j] or ids[j], (j,)))
        j += 1
    return out, objects


def _id_group(ids: list[str], j: int) -> list[int]:
    match = _ID_GROUP.match(ids[j])
    if not match:
        return [j]
    group = [j]
    for k in range(j + 1, len(ids)):
        other = _ID_GROUP.match(ids[k])
        if not other or other.group(1) != match.group(1):
            break
        group.append(k)
    return group


def _choice(text: str) -> tuple[str, str]:
    """(question, option) of a Qualtrics per-choice text "Question - Selected Choice -
    Option"."""
    if " - " not in text:
        return text, ""
    question, option = text.rsplit(" - ", 1)
    question = re.sub(r"\s+-\s+Selected Choice$", "", question)
    return question.strip(), option.strip()


def _unique(columns: list[Column]) -> list[Column]:
    """Headers made unique and non-empty, as readers.header_names does."""
    seen: set[str] = set()
    out = []
    for column in columns:
        base = _text(column.name)
        generated = not base
        base = base or f"column_{column.positions[0] + 1}"
        name, k = base, 2
        while name in seen:
            name, k = f"{base} ({k})", k + 1
        seen.add(name)
        question = _text(column.question) or name
        out.append(Column(name, question, column.positions, column.options, generated))
    return out


def _notes_above(rows: Sequence[Cells]) -> list[str]:
    if not rows:
        return []
    kinds: list[str] = []
    for row in rows:
        cells = [_text(c) for c in row if _text(c)]
        text = " ".join(cells)
        if not text:
            kind = "blank"
        elif _DATEISH.search(text) or _PERIOD_WORDS.search(text):
            kind = "period"
        elif "title" not in kinds:
            kind = "title"
        else:
            kind = "notes"
        if kind not in kinds:
            kinds.append(kind)
    where = "row 1" if len(rows) == 1 else f"rows 1–{len(rows)}"
    return [f"{where} above the header skipped ({', '.join(kinds)})"]


# --- the data ------------------------------------------------------------------------------


def build_frame(raw: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """The output frame of `raw` (one text column per source column, by position; NA when
    empty): columns named by the layout, multi-select columns merged into one holding the
    chosen options joined by "; " in option order (NA when none is chosen)."""
    if layout.plain and raw.shape[1] == layout.width:
        out = raw.copy(deep=False)
        out.columns = pd.Index(layout.headers, dtype=object)
        return out
    data = {}
    for column in layout.columns:
        if column.options:
            parts = [raw.iloc[:, p] for p in column.positions]
            data[column.name] = merge_options(parts, column.options)
        else:
            data[column.name] = raw.iloc[:, column.positions[0]]
    return pd.DataFrame(data, index=raw.index)


def merge_options(parts: Sequence[pd.Series], options: Sequence[str]) -> pd.Series:
    """One text column from one column per option: the options whose cell is chosen (not
    empty and not a "no" flag such as 0 / no / false), joined by "; "; NA when none is."""
    n = len(parts[0]) if parts else 0
    chosen = np.zeros((n, len(parts)), dtype=bool)
    for k, part in enumerate(parts):
        codes, uniques = pd.factorize(part.to_numpy(dtype=object), use_na_sentinel=True)
        picked = np.array([_is_chosen(u) for u in uniques], dtype=bool)
        valid = codes >= 0
        chosen[valid, k] = picked[codes[valid]]
    if n == 0:
        return pd.Series([], dtype="str", index=parts[0].index if parts else None)
    keys, inverse = np.unique(np.packbits(chosen, axis=1), axis=0, return_inverse=True)
    texts = []
    for key in keys:
        bits = np.unpackbits(key)[: len(options)]
        texts.append("; ".join(o for o, b in zip(options, bits, strict=True) if b) or None)
    merged = pd.array(texts, dtype="str").take(inverse.reshape(-1))
    return pd.Series(merged, index=parts[0].index, dtype="str")


def _is_chosen(value: object) -> bool:
    text = _fold(None if value is None or value is pd.NA else str(value))
    return bool(text) and text not in _NOT_CHOSEN


def summary_label(cells: Cells) -> str | None:
    """The label of a total / average line ("Total", "Gjennomsnitt:", "I alt" … in its first
    filled cell, the other filled cells mostly numbers), else None."""
    filled = [_text(c) for c in cells if _text(c)]
    if not filled or not _TOTAL.match(filled[0]):
        return None
    return filled[0] if _words(filled[1:]) <= (len(filled) - 1) // 4 else None


def _words(cells: Sequence[str]) -> int:
    """Cells with a letter that are not numbers ("-" or "–" are neither)."""
    return sum(any(c.isalpha() for c in cell) and not is_numberish(cell) for cell in cells)


def _numbers_row(cells: list[str]) -> bool:
    filled = [c for c in cells if any(ch.isalnum() for ch in c)]
    numbers = sum(is_numberish(c) for c in filled)
    labels = [c for c in filled if not is_numberish(c)]
    return numbers >= 2 and (not labels or (len(labels) == 1 and labels[0] == filled[0]))


def trailing_summaries(raw: pd.DataFrame, *, limit: int = 10) -> list[tuple[int, str]]:
    """Total / average lines at the bottom of `raw` (text cells by position, NA empty,
    blank rows already removed): (position, note) for each, top to bottom. A line counts
    when its first filled cell is a total word (see `summary_label`), or when it holds only
    numbers (and at most a label first), is empty in a column that is filled in ≥ 90% of
    the rows above it, and at least half of its numbers are the sum or (shown with
    decimals) the mean of the column above it."""
    n = len(raw)
    if n < 2:
        return []
    tail = raw.iloc[max(0, n - limit) :]
    rows = [[_text(None if pd.isna(v) else v) for v in r] for r in tail.itertuples(index=False)]
    kinds: list[str] = []
    for offset, cells in enumerate(reversed(rows)):
        label = summary_label(cells)
        if label is None:
            if not _numbers_row(cells):
                break
            share = raw.iloc[: n - 1 - offset].notna().mean().to_numpy()
            if not any(not c and s >= 0.9 for c, s in zip(cells, share, strict=False)):
                break
        kinds.append(label if label is not None else "")
    if not kinds:
        return []
    data = raw.iloc[: n - len(kinds)]
    out: list[tuple[int, str]] = []
    for offset, label in enumerate(kinds):  # from the bottom up
        cells = rows[len(rows) - 1 - offset]
        if not label and not _aggregate_row(cells, data):
            break
        out.append((n - 1 - offset, repr(label) if label else "numbers only (a sum or average)"))
    return sorted(out)


def _aggregate_row(cells: list[str], data: pd.DataFrame) -> bool:
    """True when at least half of the numbers in `cells` (two or more, in columns of `data`
    that hold numbers) are their column's sum (larger than every value in it) or, shown with
    decimals, its mean (not itself one of the values)."""
    checked = matched = 0
    for j, cell in enumerate(cells[: data.shape[1]]):
        value = _number(cell)
        if value is None:
            continue
        column = data.iloc[:, j].dropna().astype(str)
        numbers = pd.to_numeric(
            column.str.replace(r"[\s\u00a0%]", "", regex=True).str.replace(",", ".", regex=False),
            errors="coerce",
        ).dropna()
        if len(numbers) < 2:
            continue
        checked += 1
        shown = cell.replace(",", ".")
        decimals = len(shown.rsplit(".", 1)[1]) if "." in shown else 0
        exact = 1e-9 * max(1.0, abs(value))
        is_sum = abs(float(numbers.sum()) - value) <= exact and value > float(numbers.max())
        is_mean = (
            decimals > 0
            and abs(float(numbers.mean()) - value) <= 0.5 * 10.0**-decimals
            and not bool((numbers - value).abs().le(exact).any())
        )
        matched += is_sum or is_mean
    return checked >= 2 and matched * 2 >= checked


def _number(text: str) -> float | None:
    cleaned = re.sub(r"[\s\u00a0%]", "", text)
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(",", "")
    try:
        return float(cleaned.replace(",", "."))
    except ValueError:
        return None
