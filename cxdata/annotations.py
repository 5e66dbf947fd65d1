"""Annotations: events (a release, a price change, "checkout fix") drawn on every trend chart.

One dataset, `annotations`, one row per event:

| column      | type      | meaning                                                    |
|-------------|-----------|------------------------------------------------------------|
| id          | string    | 12 hex characters, made on add                             |
| date        | date      | the day of the event                                       |
| label       | string    | 1–120 characters, cleaned of control and bidi characters   |
| scope_dim   | string    | the dimension it concerns (a responses dimension), or NULL |
| scope_value | string    | that dimension's value, or NULL (no scope: everywhere)     |
| author      | string    | who added it (the Store's author)                          |
| created_at  | timestamp | when (UTC, naive)                                          |

Annotations hold no customer rows, so they are not a customer dataset (cxdata.store): adding
and deleting one needs the "import" right (analysts and admins), never "manage"; every write
is one lake snapshot recorded as kind "annotation". A row-restricted Store may not write
them and does not see those scoped to a value outside its restriction (Store.table).
"""

from __future__ import annotations

import datetime as dt
import uuid

import ibis
import pandas as pd
import pyarrow as pa

from cxdata.errors import CxError, NoData
from cxdata.filters import NOT_SET, Filters
from cxdata.lake import Commit
from cxdata.store import Store, WriteOp
from cxdata.textsafe import clean_text

ANNOTATIONS = "annotations"
SCHEMA = pa.schema([
    ("id", pa.string()), ("date", pa.date32()), ("label", pa.string()),
    ("scope_dim", pa.string()), ("scope_value", pa.string()), ("author", pa.string()),
    ("created_at", pa.timestamp("us")),
])  # fmt: skip
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
MAX_LABEL = 120
MAX_VALUE = 200
# Before and after this no event of a CX programme lies: a typo ("0026-03-01"), not a date.
EARLIEST, LATEST = dt.date(1990, 1, 1), dt.date(2100, 12, 31)


class AnnotationError(CxError):
    """An annotation that cannot be stored: one line naming the field and the problem."""


def clean_label(text: object) -> str:
    """`text` as a label: control and bidi characters removed, runs of white space (line
    breaks too) one space, trimmed; AnnotationError unless 1–MAX_LABEL characters."""
    label = " ".join(clean_text(text).split())
    if not label:
        raise AnnotationError("the label is empty: give 1 to 120 characters")
    if len(label) > MAX_LABEL:
        raise AnnotationError(
            f"the label has {len(label)} characters; at most {MAX_LABEL} are allowed"
        )
    return label


def parse_date(value: object) -> dt.date:
    """A date or "YYYY-MM-DD" text as a date between 1990 and 2100; AnnotationError else."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise AnnotationError(
                f"date {clean_text(value)!r} is not a date: use YYYY-MM-DD"
            ) from None
    if not EARLIEST <= value <= LATEST:
        raise AnnotationError(f"date {value} is outside {EARLIEST.year}–{LATEST.year}")
    return value


def parse_scope(text: str | None) -> tuple[str, str] | None:
    """"DIM=VALUE" as (dim, value); None for None or ""; AnnotationError without "="."""
    if text is None or not text.strip():
        return None
    dim, sep, value = text.partition("=")
    if not sep or not dim.strip() or not value.strip():
        raise AnnotationError(f"scope {clean_text(text)!r} is not DIM=VALUE (e.g. region=Oslo)")
    return dim.strip(), value.strip()


def _checked_scope(store: Store, scope: tuple[str, str] | None) -> tuple[str | None, str | None]:
    """(dim, value) checked against the stored responses: the dimension must exist and the
    value occur in it (a typo would otherwise hide the annotation on every filtered view)."""
    if scope is None:
        return None, None
    dim, value = scope[0].strip(), clean_text(scope[1]).strip()
    dims = store.dimensions()
    if dim not in dims:
        raise AnnotationError(
            f"scope dimension {clean_text(dim)!r} is not a stored dimension; allowed: "
            f"{', '.join(sorted(dims)) or 'none (no responses yet)'}"
        )
    if not value or value == NOT_SET or len(value) > MAX_VALUE:
        raise AnnotationError(f"scope value {value!r} is not a value of {dim}")
    t = store.responses()
    if int(t.filter(t[dim] == value).count().execute()) == 0:
        raise AnnotationError(f"{dim} has no value {value!r} in the data")
    return dim, value


def add_annotation(
    store: Store,
    date: dt.date | str,
    label: str,
    scope: tuple[str, str] | None = None,
) -> str:
    """Store one annotation (see the module docstring); returns its id.

    `scope` is (dimension, value) or None (everywhere). Needs the "import" right
    (AccessDenied below analyst; CxError on a restricted Store). AnnotationError (one line)
    for an empty or too long label, a bad date, or a scope naming no stored dimension or a
    value that does not occur in it."""
    store.require_write("import", "add annotations")
    day, text = parse_date(date), clean_label(label)
    dim, value = _checked_scope(store, scope)
    ident = uuid.uuid4().hex[:12]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    row = pa.table(
        [[ident], [day], [text], [dim], [value], [store.author], [now]], schema=SCHEMA
    )
    record = Commit("annotation", details={"annotation": ident, "action": "add",
                                           "label": text, "date": day.isoformat()})
    store.apply([WriteOp.append(ANNOTATIONS, row)], record)
    return ident


def delete_annotation(store: Store, ident: str) -> None:
    """Delete the annotation `ident`. Needs the "import" right, as adding does; NoData when
    no annotation this Store can see has that id."""
    store.require_write("import", "delete annotations")
    ident = str(ident).strip()
    if not store.has(ANNOTATIONS) or store.table(ANNOTATIONS).filter(
        ibis._.id == ident
    ).count().execute() == 0:
        raise NoData(f"no annotation {clean_text(ident)!r} (`python -m cxdata annotate list`)")
    record = Commit("annotation", details={"annotation": ident, "action": "delete"})
    store.apply([WriteOp.delete_ids(ANNOTATIONS, [ident], key="id")], record)


def scope_text(dim: object, value: object) -> str:
    """"region = Oslo", or "" for an annotation without a scope."""
    if dim is None or pd.isna(dim) or not str(dim):
        return ""
    return f"{dim} = {value}"


def _frame(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with the COLUMNS (dates as datetime.date) plus `scope` text, by date then
    creation."""
    out = rows.reindex(columns=list(COLUMNS)).copy()
    out["date"] = pd.to_datetime(out["date"]).dt.date
    out = out.astype({"scope_dim": object, "scope_value": object})
    out = out.where(out.notna(), None)
    out["scope"] = [scope_text(d, v) for d, v in zip(out["scope_dim"], out["scope_value"],
                                                     strict=True)]  # fmt: skip
    return out.sort_values(["date", "created_at"], kind="stable").reset_index(drop=True)


def list_annotations(store: Store) -> pd.DataFrame:
    """Every annotation this Store sees (a restricted one: not those scoped outside its
    restriction), oldest first: COLUMNS plus `scope` ("region = Oslo" or "")."""
    if not store.has(ANNOTATIONS):
        return _frame(pd.DataFrame(columns=list(COLUMNS)))
    return _frame(store.table(ANNOTATIONS).to_pandas())


def annotations_in(store: Store, filters: Filters) -> pd.DataFrame:
    """The annotations of a view, oldest first (shape of list_annotations): dated inside the
    filters' date range (open ends: no bound), and either without a scope or scoped to a
    dimension the view does not filter, or to a value its filter includes. A scoped one is
    shown on an unfiltered view because that view contains the segment; its label names the
    scope."""
    if not store.has(ANNOTATIONS):
        return list_annotations(store)
    t = store.table(ANNOTATIONS)
    preds = []
    if filters.start is not None:
        preds.append(t.date >= ibis.date(filters.start))
    if filters.end is not None:
        preds.append(t.date <= ibis.date(filters.end))
    for dim, values in filters.where:
        preds.append(t.scope_dim.isnull() | (t.scope_dim != dim) | t.scope_value.isin(values))
    return _frame((t.filter(preds) if preds else t).to_pandas())


def as_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """list_annotations' frame as JSON-ready dicts (dates and times as ISO text)."""
    out = []
    for r in frame.itertuples(index=False):
        out.append({
            "id": r.id, "date": r.date.isoformat(), "label": r.label,
            "scope_dim": r.scope_dim, "scope_value": r.scope_value, "author": r.author,
            "created_at": pd.Timestamp(r.created_at).isoformat() if r.created_at else None,
        })  # fmt: skip
    return out

