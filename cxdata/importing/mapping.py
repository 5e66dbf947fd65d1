"""Which source column becomes which canonical field: the mapping, its JSON form and the
check that it can be applied to a file. The suggestion is in suggest.py, saved profiles in
profiles.py, the Data page's editable table in table.py.

A mapping entry sends one source column `to`:
- a canonical field of the dataset (`nps`, `submitted_at`, `comment`, … / `date`, `value`…);
- `"rating"`: a rating of the named `touchpoint` on its own `scale`, stored as long rows in
  `touchpoint_ratings` (wide touchpoint columns, ratings on scales other than the score's);
- `"text"`: an extra answer text (a review's title, a Booking-style positive text), stored as
  the column `text_<name>`, shown with the comment and searchable, never a filter;
- `"split"`: one score column whose meaning another column gives (`split_by`), one target
  per value of that column (`split`: {"nps": "nps", "csat": "csat"});
- any other identifier: a segment column stored as text (`region`, `plan`, …);
- null: left out (the `note` says why: personal data, platform metadata, empty…).

`labels` turn text answers into numbers ("Very satisfied": 5), `missing` lists answers that
mean "no answer" for that question only ("Ne vem", -1). `hash: true` on a `customer_id`
column stores a salted hash (for an e-mail column). JSON, editable by hand::

    {"dataset": "responses", "date_order": "auto", "platform": "surveymonkey",
     "columns": {"Dato": "submitted_at",
                 "Anbefale": {"to": "nps", "scale": [0, 10], "missing": ["Vet ikke"]},
                 "Satisfied?": {"to": "csat", "scale": [1, 5],
                                "labels": {"Very satisfied": 5, "Satisfied": 4, …}},
                 "E-mail": {"to": null, "note": "personal data (e-mail): not stored"}}}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxdata import schema
from cxdata.importing import dates
from cxdata.importing.errors import MappingError

RATING = "rating"
VALUE = "value"
TEXT = "text"
SPLIT = "split"
DATASETS: tuple[str, ...] = (schema.RESPONSES, schema.METRICS)
FIELDS: dict[str, tuple[str, ...]] = {
    schema.RESPONSES: tuple(schema.RESPONSE_CORE),
    schema.METRICS: tuple(schema.METRIC_CORE),
}
IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
ID_SCOPE_FILE = "file"
# A JSON list of strings / numbers spread over lines by indent=2, and its items.
_ITEM_PATTERN = r'"(?:[^"\\\n]|\\.)*"|-?\d+(?:\.\d+)?'
_SCALAR_LIST = re.compile(rf"\[\s*(?:(?:{_ITEM_PATTERN})\s*,\s*)*(?:{_ITEM_PATTERN})\s*\]")
_ITEM = re.compile(_ITEM_PATTERN)
_KEYS = frozenset(
    {
        "to",
        "touchpoint",
        "metric",
        "name",
        "scale",
        "rescale",
        "labels",
        "missing",
        "split_by",
        "split",
        "hash",
        "timezone",
        "question",
        "examples",
        "seen",
        "note",
        "warning",
    }
)


@dataclass
class ColumnMap:
    """Where one source column goes; `note` says why it was suggested, `warning` flags a
    scale or meaning problem the user should look at, `question` is the question text the
    export gave for the column, `examples` a few of its values and `seen` what its values
    look like ("whole numbers 0–10"). Those five are information only."""

    source: str
    to: str | None
    touchpoint: str | None = None
    metric: str | None = None
    name: str | None = None
    scale: tuple[int, int] | None = None
    rescale: bool = False
    labels: dict[str, float] | None = None
    missing: tuple[str, ...] = ()
    split_by: str | None = None
    split: dict[str, str] | None = None
    hash: bool = False
    timezone: str | None = None
    question: str = ""
    examples: tuple[str, ...] = ()
    seen: str = ""
    note: str = ""
    warning: str = ""

    def as_json(self) -> str | dict[str, Any] | None:
        """The JSON value: just the target when nothing else is set."""
        extra = {
            "touchpoint": self.touchpoint,
            "metric": self.metric,
            "name": self.name,
            "scale": list(self.scale) if self.scale else None,
            "rescale": self.rescale or None,
            "labels": self.labels or None,
            "missing": list(self.missing) or None,
            "split_by": self.split_by,
            "split": self.split or None,
            "hash": self.hash or None,
            "timezone": self.timezone,
            "question": self.question or None,
            "examples": list(self.examples) or None,
            "seen": self.seen or None,
            "note": self.note or None,
            "warning": self.warning or None,
        }
        extra = {k: v for k, v in extra.items() if v is not None}
        return {"to": self.to, **extra} if extra else self.to

    @property
    def stored_as(self) -> str | None:
        """The stored column this entry fills (None for ratings, splits and left-out)."""
        if self.to == TEXT:
            return f"{schema.EXTRA_TEXT_PREFIX}{self.name}"
        if self.to in (RATING, SPLIT) or self.to is None:
            return None
        return self.to


@dataclass
class Mapping:
    """The mapping of one file shape onto a dataset. `platform` is the key of the platform
    recognised (platforms.toml); `id_scope` keeps response ids of one form apart from
    another's ("file": the file name without download suffixes, or a name of its own)."""

    dataset: str = schema.RESPONSES
    columns: list[ColumnMap] = field(default_factory=list)
    date_order: str = "auto"
    sheet: str | None = None
    header_row: int | None = None
    platform: str | None = None
    id_scope: str | None = None
    profile: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        """The source headers the mapping knows."""
        return [c.source for c in self.columns]

    def column(self, source: str) -> ColumnMap | None:
        """The entry for a source header, if any."""
        return next((c for c in self.columns if c.source == source), None)

    def mapped(self) -> list[ColumnMap]:
        """The entries that are not left out."""
        return [c for c in self.columns if c.to is not None]

    def left_out(self) -> list[ColumnMap]:
        """The entries left out, each with its reason in `note`."""
        return [c for c in self.columns if c.to is None]

    def warnings(self) -> list[str]:
        """One line per flagged column: 'Header: what is wrong and what to do'."""
        return [f"{c.source}: {c.warning}" for c in self.columns if c.warning]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form."""
        out: dict[str, Any] = {"dataset": self.dataset, "date_order": self.date_order}
        for key in ("sheet", "header_row", "platform", "id_scope"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.notes:
            out["notes"] = self.notes
        out["columns"] = {c.source: c.as_json() for c in self.columns}
        return out

    def to_json(self) -> str:
        """Indented JSON, non-ASCII kept readable, lists of values on one line: [1, 5]."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2)
        return _SCALAR_LIST.sub(lambda m: "[" + ", ".join(_ITEM.findall(m.group(0))) + "]", text)

    @classmethod
    def from_dict(cls, data: Any, origin: str = "mapping") -> Mapping:
        """A mapping from its JSON form; `origin` names the file in error messages. Every
        problem found is reported in one MappingError, a line each."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            raise MappingError(f'{origin}: expected an object with a "columns" object')
        problems: list[str] = []
        columns = []
        for src, value in data["columns"].items():
            try:
                columns.append(_column_from_json(src, value, origin))
            except MappingError as exc:
                problems.append(str(exc))
        header_row = data.get("header_row")
        if header_row is not None and (not isinstance(header_row, int) or header_row < 1):
            problems.append(f"{origin}: header_row must be a row number ≥ 1, got {header_row!r}")
        if problems:
            raise MappingError("\n".join(problems))
        sheet, scope, platform = data.get("sheet"), data.get("id_scope"), data.get("platform")
        return cls(
            dataset=str(data.get("dataset", schema.RESPONSES)),
            columns=columns,
            date_order=str(data.get("date_order", "auto")),
            sheet=None if sheet is None else str(sheet),
            header_row=header_row,
            platform=None if platform is None else str(platform),
            id_scope=None if scope is None else str(scope),
            notes=[str(n) for n in data.get("notes", []) or []],
        )

    @classmethod
    def from_json(cls, text: str, origin: str = "mapping") -> Mapping:
        """A mapping from JSON text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MappingError(f"{origin}: not valid JSON ({exc})") from None
        return cls.from_dict(data, origin)

    @classmethod
    def from_file(cls, path: str | Path) -> Mapping:
        """A mapping from a JSON file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise MappingError(f"{path}: cannot read the mapping ({exc.strerror})") from None
        return cls.from_json(text, str(path))


def _column_from_json(source: str, value: Any, origin: str) -> ColumnMap:
    where = f"{origin}: column {source!r}"
    if value is None or isinstance(value, str):
        return ColumnMap(source, value or None)
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected a target name, null or an object")
    unknown = set(value) - _KEYS
    if unknown:
        raise MappingError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    labels = value.get("labels")
    if labels is not None and (
        not isinstance(labels, dict)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels.values())
    ):
        raise MappingError(f'{where}: "labels" must map answer texts to numbers')
    missing = value.get("missing") or []
    if not isinstance(missing, list):
        raise MappingError(f'{where}: "missing" must be a list of answers')
    split = value.get("split")
    if split is not None and not (
        isinstance(split, dict) and all(isinstance(v, str) for v in split.values())
    ):
        raise MappingError(f'{where}: "split" must map values of the split_by column to fields')
    to = value.get("to")
    return ColumnMap(
        source=source,
        to=None if to is None else str(to),
        touchpoint=value.get("touchpoint"),
        metric=value.get("metric"),
        name=value.get("name"),
        scale=_scale(value.get("scale"), where),
        rescale=bool(value.get("rescale", False)),
        labels={str(k): float(v) for k, v in labels.items()} if labels else None,
        missing=tuple(str(m) for m in missing),
        split_by=value.get("split_by"),
        split=dict(split) if split else None,
        hash=bool(value.get("hash", False)),
        timezone=value.get("timezone"),
        question=str(value.get("question") or ""),
        examples=tuple(str(e) for e in value.get("examples") or []),
        seen=str(value.get("seen") or ""),
        note=str(value.get("note") or ""),
        warning=str(value.get("warning") or ""),
    )


def _scale(scale: Any, where: str) -> tuple[int, int] | None:
    if scale is None:
        return None
    if (
        not isinstance(scale, list)
        or len(scale) != 2
        or not all(isinstance(x, int | float) for x in scale)
        or scale[0] >= scale[1]
    ):
        raise MappingError(f"{where}: scale must be [low, high], got {scale!r}")
    return (int(scale[0]), int(scale[1]))


# --- checking a mapping against a file -----------------------------------------------------


def check_mapping(mapping: Mapping, headers: list[str], origin: str = "") -> list[str]:
    """Raise one MappingError listing every problem (a line each) when `mapping` cannot be
    applied to a file with `headers`; return warnings (file columns the mapping does not
    mention are left out)."""
    where = f"{origin}: " if origin else ""
    problems: list[str] = []
    if mapping.dataset not in DATASETS:
        raise MappingError(
            f"{where}unknown dataset {mapping.dataset!r}; use {' or '.join(DATASETS)}"
        )
    try:
        dates.normalise_order(mapping.date_order)
    except ValueError as exc:
        problems.append(f"{where}{exc}")
    missing = [c.source for c in mapping.mapped() if c.source not in headers]
    if missing:
        problems.append(
            f"{where}columns of the mapping not in the file: {', '.join(map(repr, missing))} "
            f"(its columns: {', '.join(headers)})"
        )
    fields = FIELDS[mapping.dataset]
    seen: dict[str, str] = {}
    for col in mapping.mapped():
        try:
            _check_column(col, mapping, fields, headers, where)
        except MappingError as exc:
            problems.append(str(exc))
            continue
        for key in _filled_keys(col):
            if key in seen:
                problems.append(
                    f"{where}columns {seen[key]!r} and {col.source!r} both map to "
                    f"{key.split(':')[-1]!r}"
                )
            seen.setdefault(key, col.source)
    problems += _dataset_problems(mapping, where)
    if problems:
        raise MappingError("\n".join(problems))
    ignored = [h for h in headers if mapping.column(h) is None]
    return [f"not in the mapping, left out: {', '.join(ignored)}"] if ignored else []


def _filled_keys(col: ColumnMap) -> list[str]:
    if col.to == RATING:
        return [f"rating:{col.touchpoint}"]
    if col.to == VALUE and col.metric:
        return [f"value:{col.metric}"]
    if col.to == SPLIT:
        return list(dict.fromkeys((col.split or {}).values()))
    return [str(col.stored_as)]


def _dataset_problems(mapping: Mapping, where: str) -> list[str]:
    targets = {t for c in mapping.mapped() for t in _filled_keys(c)}
    if mapping.dataset == schema.RESPONSES:
        problems = []
        if not any(t in schema.SCORE_COLUMNS or t.startswith("rating:") for t in targets):
            problems.append(
                f"{where}no score column: map at least one column to nps, csat, ces or a rating"
            )
        if "submitted_at" not in targets:
            problems.append(
                f'{where}no date column: map the column with the response time to "submitted_at" '
                "(a response is never dated at import time)"
            )
        return problems
    wide = [c for c in mapping.mapped() if c.to == VALUE and c.metric]
    long = [c for c in mapping.mapped() if c.to == "metric" or (c.to == VALUE and not c.metric)]
    problems = []
    if wide and long:
        problems.append(
            f"{where}mix of metric columns ({wide[0].source!r}) and a "
            "metric/value pair: use one or the other"
        )
    if not wide and {"metric", VALUE} - {c.to for c in long}:
        problems.append(
            f"{where}map a metric name and a value column, or give each value column its metric"
        )
    if "date" not in targets:
        problems.append(f'{where}no date column: map one to "date"')
    return problems


def _check_column(
    col: ColumnMap, mapping: Mapping, fields: tuple[str, ...], headers: list[str], where: str
) -> None:
    name = f"{where}column {col.source!r}"
    to = str(col.to)
    dataset = mapping.dataset
    if col.hash and to != "customer_id":
        raise MappingError(f"{name}: hash only applies to customer_id")
    if to == RATING:
        if dataset != schema.RESPONSES:
            raise MappingError(f"{name}: ratings belong to the responses dataset")
        if not col.touchpoint or not str(col.touchpoint).strip():
            raise MappingError(f"{name}: a rating needs the touchpoint it rates")
        if col.scale is None:
            raise MappingError(f"{name}: a rating needs its scale, e.g. 1-5")
        return
    if to == TEXT:
        if dataset != schema.RESPONSES or not col.name or not IDENT.match(col.name):
            raise MappingError(f"{name}: an extra text needs a name (a-z, 0-9, _)")
        return
    if to == SPLIT:
        if col.split_by not in headers:
            raise MappingError(f"{name}: split_by must name a column of the file")
        bad = [t for t in (col.split or {}).values() if t not in schema.SCORE_COLUMNS]
        if not col.split or bad:
            raise MappingError(f"{name}: a split must send values to nps, csat or ces")
        return
    if to in schema.SCALES:
        _check_scale(col, to, name)
        return
    if col.rescale:
        raise MappingError(f"{name}: rescale only applies to nps, csat and ces")
    if to == VALUE and dataset == schema.METRICS:
        if col.metric is not None and not str(col.metric).strip():
            raise MappingError(f"{name}: empty metric name")
        return
    if to in fields:
        return
    if to.startswith(schema.EXTRA_TEXT_PREFIX) or not IDENT.match(to):
        raise MappingError(
            f"{name}: {to!r} is neither a field of {dataset} nor a valid "
            f"segment name (a-z, 0-9, _; not starting with a digit or {schema.EXTRA_TEXT_PREFIX})"
        )


def _check_scale(col: ColumnMap, to: str, name: str) -> None:
    """NPS takes 0–10 (and 1–10, a known mistake, as it is); CSAT any scale (top-2-box
    rule, scores.csat_box); CES only 1–7 unless rescaled."""
    target = schema.SCALES[to]
    if col.rescale and not col.scale:
        raise MappingError(f"{name}: rescale needs the column's scale")
    if col.scale is None or col.scale == (target.low, target.high) or col.rescale:
        return
    if to == "nps" and col.scale == (1, 10):
        return
    if to == "csat" and col.scale[1] - col.scale[0] >= 2:
        return
    raise MappingError(
        f"{name} is on a {col.scale[0]}–{col.scale[1]} scale but {to} is "
        f"{target.low}–{target.high}: map it as a rating, or turn on rescale"
    )
