"""The metrics suggestion: KPI files, and count tables (answers per button per hour, smiley
terminals) that must never become one response per row."""

from __future__ import annotations

import numpy as np

from cxdata import schema
from cxdata.importing.columns import ColumnProfile
from cxdata.importing.fields import candidates, known_segment, segment_name
from cxdata.importing.mapping import VALUE, ColumnMap, Mapping
from cxdata.importing.names import identifier
from cxdata.importing.numbers import parse_numbers
from cxdata.importing.readers import Source
from cxdata.importing.vocab import label_key, vocabulary


def count_columns(headers: list[str], profiles: dict[str, ColumnProfile]) -> list[str]:
    """Columns of whole counts named after the answers of one label scale (Very positive,
    Positive, …): a count table, when there are at least two."""
    by_scale: dict[str, list[str]] = {}
    for h in headers:
        p = profiles[h]
        if not (p.filled and p.numeric >= 0.99 and p.integer >= 0.99 and p.low >= 0):
            continue
        key = label_key(h)
        for scale in vocabulary().labels:
            if scale.measure != "yes_no" and key in scale.values():
                by_scale.setdefault(scale.name, []).append(h)
                break
    best = max(by_scale.values(), key=len, default=[])
    return best if len(best) >= 2 else []


def _count_summary(source: Source, counts: list[str]) -> str:
    """'544 answers in all; 65.07% positive (Very positive + Positive)'."""
    scale = next(s for s in vocabulary().labels if label_key(counts[0]) in s.values())
    values = scale.values()
    middle = (scale.scale[0] + scale.scale[1]) / 2
    totals = {h: float(np.nansum(_numbers(source, h))) for h in counts}
    total = sum(totals.values())
    good = [h for h in counts if values[label_key(h)] > middle]
    share = 100 * sum(totals[h] for h in good) / total if total else float("nan")
    return (
        f"count table: {total:,.0f} answers in all ({', '.join(counts)}); "
        f"{share:.2f}% positive ({' + '.join(good)})"
    )


def _numbers(source: Source, header: str) -> np.ndarray:
    return parse_numbers(source.frame[header]).values


def suggest_metrics(
    source: Source, profiles: dict[str, ColumnProfile], counts: list[str]
) -> Mapping:
    headers = source.headers
    fields = vocabulary().fields[schema.METRICS]
    chosen: dict[str, ColumnMap] = {}
    taken: set[str] = set()
    for h in headers:
        for name in candidates(h, fields):
            if name not in taken and not (counts and name == VALUE):
                chosen[h] = ColumnMap(h, name, note=f"header says {name}")
                taken.add(name)
                break
    if "date" not in taken:
        for h in headers:
            if h not in chosen and profiles[h].dates >= 0.9:
                chosen[h] = ColumnMap(h, "date", note="values are dates")
                taken.add("date")
                break
    count_sum = _sum_column(source, headers, counts, chosen)
    wide = not {"metric", VALUE} <= taken
    for h in headers:
        if h in chosen:
            continue
        p = profiles[h]
        known = known_segment(h)
        if h in counts:
            chosen[h] = ColumnMap(
                h, VALUE, metric=identifier(h), note="answers per button: a count"
            )
        elif h == count_sum:
            chosen[h] = ColumnMap(h, None, note="the sum of the count columns")
        elif wide and not counts and not known and p.filled and p.numeric >= 0.95:
            chosen[h] = ColumnMap(h, VALUE, metric=identifier(h), note="numeric column: one metric")
        else:
            chosen[h] = ColumnMap(h, known or segment_name(h, schema.METRICS), note="segment")
    mapping = Mapping(dataset=schema.METRICS, columns=[chosen[h] for h in headers])
    if counts:
        mapping.notes.append(_count_summary(source, counts))
        mapping.notes.append(
            "stored as the metrics dataset (one count per button and row), not as one "
            "response per row"
        )
    return mapping


def _sum_column(
    source: Source, headers: list[str], counts: list[str], chosen: dict[str, ColumnMap]
) -> str | None:
    """A column equal to the sum of the count columns in every row (a "Total")."""
    if not counts:
        return None
    total = np.nansum(np.column_stack([_numbers(source, h) for h in counts]), axis=1)
    for h in headers:
        if h in counts or h in chosen:
            continue
        values = _numbers(source, h)
        if len(values) and np.allclose(np.nan_to_num(values, nan=-1), total):
            return h
    return None
