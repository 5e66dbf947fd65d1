"""The metric registry: every survey metric declared once (DESIGN §4).

Three layers, in the shape of a semantic layer (measures declared once, metrics refer to
them):

- a **base** is the set of answers a metric is computed over — the NPS, CSAT or CES
  answers, or the scored answers at a touchpoint (friction). Its size is the metric's n,
  and every metric on one base is suppressed together when n < min_n;
- a **measure** is one count the engine pushes down per group: answers on a base whose
  value passes a test (`when`), or the sum / sum of squares of the values;
- a **family** owns the statistics: which measures it reads, how the score and its 95% CI
  follow from the counts, and how two groups are compared (test statistic and its name).
  Share (Wilson CI, two-proportion z), NetScore (NPS: adjusted Wald CI, t on
  Var = p + d − (p − d)²) and Mean (CES: mean ± z·s/√n, Welch t);
- a **metric** names its family and carries what the screen says of it: label, short
  label, unit, number format, direction, help text and definition.

Adding a metric is one `Metric(...)` entry in METRICS (see the README, "How to add a
metric"): the engine aggregates its measures, the score frames carry its value and CI, and
every place a metric can be chosen lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd

from cxdata import stats
from cxdata.config import Thresholds
from cxdata.errors import UnknownName
from cxdata.schema import KEY_CES_W, KEY_CSAT_W, KEY_TP_W, friction_flag

Arr = npt.NDArray[np.float64]
Counts = Mapping[str, Any]  # count column → array-like (a DataFrame, a row, a dict)


# --- bases: the answers a metric is computed over ----------------------------------------


@dataclass(frozen=True)
class Base:
    """The answers one metric's n counts. `values(t)` is the per-response value in the
    engine (NULL when not answered); `decoded(parts)` is the same value from the parts of
    the score key (schema.score_key), NaN when not answered."""

    name: str
    values: Callable[[ir.Table], ir.Value]
    decoded: Callable[[Mapping[str, np.ndarray]], Arr]

    @property
    def n(self) -> str:
        """The count column of the base's size (the n of its metrics)."""
        return f"{self.name}_n"

    @property
    def suppressed(self) -> str:
        """The score-frame column: n < min_n (no value shown)."""
        return f"{self.name}_suppressed"

    @property
    def low_base(self) -> str:
        """The score-frame column: min_n ≤ n < low_base (shown, flagged, not tested)."""
        return f"{self.name}_low_base"


def _missing_as_nan(code: np.ndarray, offset: int = 0) -> Arr:
    """A coded score (0 = missing) as its value, NaN when missing."""
    return np.where(code > 0, code.astype("float64") - offset, np.nan)


def _friction_decoded(p: Mapping[str, np.ndarray]) -> Arr:
    scored_tp = (p["touchpoint"] == 1) & ((p["nps"] > 0) | (p["csat"] > 0) | (p["ces"] > 0))
    nps = p["nps"] - 1
    bad = ((p["ces"] >= 1) & (p["ces"] <= 3)) | ((p["csat"] >= 1) & (p["csat"] <= 2)) | (
        (nps >= 0) & (nps <= 6)
    )
    return np.where(scored_tp, bad.astype("float64"), np.nan)


def _friction_values(t: ir.Table) -> ir.Value:
    return t._friction if "_friction" in t.columns else friction_flag(t)


NPS_BASE = Base("nps", lambda t: t.nps, lambda p: _missing_as_nan(p["nps"], 1))
CSAT_BASE = Base("csat", lambda t: t.csat, lambda p: _missing_as_nan(p["csat"]))
CES_BASE = Base("ces", lambda t: t.ces.cast("float64"), lambda p: _missing_as_nan(p["ces"]))
FRICTION_BASE = Base("friction", _friction_values, _friction_decoded)
BASES: dict[str, Base] = {b.name: b for b in (NPS_BASE, CSAT_BASE, CES_BASE, FRICTION_BASE)}


def key_parts(score_key: np.ndarray) -> dict[str, np.ndarray]:
    """The coded scores inside schema.score_key: nps (value + 1), csat, ces (0 = missing)
    and touchpoint (1 = the response names one)."""
    k = score_key.astype(np.int64)
    return {
        "nps": k % KEY_CSAT_W,
        "csat": (k // KEY_CSAT_W) % (KEY_CES_W // KEY_CSAT_W),
        "ces": (k // KEY_CES_W) % (KEY_TP_W // KEY_CES_W),
        "touchpoint": k // KEY_TP_W,
    }


# --- measures: the counts the engine pushes down ----------------------------------------


@dataclass(frozen=True)
class Measure:
    """One pushed-down count on a base: the answers whose value passes `when` (a function
    that works on an Ibis column and on a numpy array alike), or with `power` 1 / 2 the
    sum / sum of squares of the values. Its column in a counts frame is `name`."""

    name: str
    base: Base
    when: Callable[[Any], Any] | None = None
    power: int = 0

    @property
    def is_sum(self) -> bool:
        """Whether the column is a float sum rather than an integer count."""
        return self.power > 0

    def aggregate(self, values: ir.Value) -> ir.Value:
        """The Ibis aggregate over the base's values."""
        if self.power == 1:
            return values.sum()
        if self.power == 2:
            return (values * values).sum()
        assert self.when is not None, f"measure {self.name} needs `when` or `power`"
        return self.when(values).sum()

    def weighted(self, values: Arr, weights: np.ndarray) -> Arr:
        """Each decoded value's part of the count, given its weight (responses): summed
        over the rows of a group, the group's count (float for a sum, else int64)."""
        if self.power:
            return weights * np.nan_to_num(values) ** self.power
        with np.errstate(invalid="ignore"):
            return np.where(np.asarray(self.when(values), dtype=bool), weights, 0)  # type: ignore[misc]


# --- families: score, CI and comparison from counts ---------------------------------------


class Family(Protocol):
    """How a kind of metric is scored and compared. `test` names the comparison."""

    test: str

    def measures(self) -> tuple[Measure, ...]:
        """The measures (besides the base's n) the family reads."""
        ...

    def score(self, c: Counts, n: Arr) -> tuple[Arr, Arr, Arr]:
        """(value, ci_low, ci_high) per row, in the metric's unit."""
        ...

    def statistic(self, a: Counts, n_a: Arr, b: Counts, n_b: Arr) -> Arr:
        """The test statistic of a − b (|stat| > 1.96: significant at 95%)."""
        ...

    def extras(self, c: Counts, n: Arr) -> dict[str, Arr]:
        """Further score-frame columns of the family."""
        ...

    def extra_columns(self) -> dict[str, bool]:
        """The extras' names → whether each is a count (an integer, never blanked) rather
        than a score (blanked with the base when n < min_n)."""
        ...


def _col(c: Counts, name: str) -> Arr:
    values = np.asarray(c[name])
    if values.dtype.kind in "biuf":  # the usual case: no pandas round trip (rerun cost)
        return values.astype("float64", copy=False)
    # object columns (Decimal sums, None for a missing count) are parsed by pandas
    return np.asarray(pd.to_numeric(pd.Series(values)), dtype="float64")


@dataclass(frozen=True)
class Share:
    """A share of answers in %: hits / n. CI: Wilson score interval. Comparison: unpooled
    two-proportion z = (p₁ − p₂)/√(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂)."""

    hits: Measure
    test: str = "two-proportion z-test"

    def measures(self) -> tuple[Measure, ...]:
        """The hits."""
        return (self.hits,)

    def score(self, c: Counts, n: Arr) -> tuple[Arr, Arr, Arr]:
        """share_pct(hits, n) with its Wilson interval."""
        hits = _col(c, self.hits.name)
        low, high = stats.wilson_ci(hits, n)
        return stats.share_pct(hits, n), low, high

    def statistic(self, a: Counts, n_a: Arr, b: Counts, n_b: Arr) -> Arr:
        """Two-proportion z."""
        return stats.proportion_change_z(_col(a, self.hits.name), n_a, _col(b, self.hits.name), n_b)

    def extras(self, c: Counts, n: Arr) -> dict[str, Arr]:
        """None."""
        return {}

    def extra_columns(self) -> dict[str, bool]:
        """None."""
        return {}


@dataclass(frozen=True)
class NetScore:
    """A net score in points: 100·(plus − minus)/n (NPS). CI: adjusted Wald (Rocks 2016).
    Comparison: t = (S₁ − S₂)/√(Var₁/n₁ + Var₂/n₂), Var = p + d − (p − d)². `middle` names
    the count of answers that are neither (passives), with its share `<middle>_pct`."""

    plus: Measure
    minus: Measure
    middle: str
    middle_pct: str
    test: str = "t-test on NPS (Var = p + d − (p − d)²)"

    def measures(self) -> tuple[Measure, ...]:
        """Plus and minus."""
        return (self.plus, self.minus)

    def score(self, c: Counts, n: Arr) -> tuple[Arr, Arr, Arr]:
        """nps_value with the adjusted-Wald interval."""
        p, d = _col(c, self.plus.name), _col(c, self.minus.name)
        low, high = stats.nps_ci(p, d, n)
        return stats.nps_value(p, d, n), low, high

    def statistic(self, a: Counts, n_a: Arr, b: Counts, n_b: Arr) -> Arr:
        """The NPS t statistic."""
        return stats.nps_change_t(
            _col(a, self.plus.name), _col(a, self.minus.name), n_a,
            _col(b, self.plus.name), _col(b, self.minus.name), n_b,
        )  # fmt: skip

    def extras(self, c: Counts, n: Arr) -> dict[str, Arr]:
        """The middle count and its share."""
        middle = n - _col(c, self.plus.name) - _col(c, self.minus.name)
        return {self.middle: middle, self.middle_pct: stats.share_pct(middle, n)}

    def extra_columns(self) -> dict[str, bool]:
        """The middle count and its share."""
        return {self.middle: True, self.middle_pct: False}


@dataclass(frozen=True)
class Mean:
    """A mean on the answer scale. CI: mean ± z·s/√n (s: sample SD from the sum and sum of
    squares). Comparison: Welch t = (m₁ − m₂)/√(s₁²/n₁ + s₂²/n₂). `sd` names the SD column."""

    total: Measure
    squares: Measure
    sd: str
    test: str = "Welch t-test"

    def measures(self) -> tuple[Measure, ...]:
        """The sum and the sum of squares."""
        return (self.total, self.squares)

    def _moments(self, c: Counts, n: Arr) -> tuple[Arr, Arr]:
        return stats.mean_and_sd(_col(c, self.total.name), _col(c, self.squares.name), n)

    def score(self, c: Counts, n: Arr) -> tuple[Arr, Arr, Arr]:
        """The mean with its normal-approximation interval."""
        mean, sd = self._moments(c, n)
        low, high = stats.mean_ci(mean, sd, n)
        return mean, low, high

    def statistic(self, a: Counts, n_a: Arr, b: Counts, n_b: Arr) -> Arr:
        """Welch t."""
        mean_a, sd_a = self._moments(a, n_a)
        mean_b, sd_b = self._moments(b, n_b)
        return stats.mean_change_t(mean_a, sd_a, n_a, mean_b, sd_b, n_b)

    def extras(self, c: Counts, n: Arr) -> dict[str, Arr]:
        """The sample SD."""
        return {self.sd: self._moments(c, n)[1]}

    def extra_columns(self) -> dict[str, bool]:
        """The SD (a score)."""
        return {self.sd: False}


# --- metrics --------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One metric: its family (with the measures and base), the score-frame columns it
    fills (`value`, `ci_low`, `ci_high`; its n is the base's), and what the UI says of it.

    unit: "points", "%" or "" (the answer scale); decimals: digits shown; change_unit:
    "pts", "pp" or "" for a difference; higher_is_better: the direction colours follow."""

    name: str
    family: Share | NetScore | Mean
    label: str
    short_label: str
    unit: str
    decimals: int
    change_unit: str
    higher_is_better: bool
    help: str
    definition: str
    value: str = ""
    ci_low: str = ""
    ci_high: str = ""
    base: Base = field(init=False)

    def __post_init__(self) -> None:
        # Column names default to the metric's name; the base is the family's measures'.
        object.__setattr__(self, "value", self.value or self.name)
        object.__setattr__(self, "ci_low", self.ci_low or f"{self.name}_ci_low")
        object.__setattr__(self, "ci_high", self.ci_high or f"{self.name}_ci_high")
        object.__setattr__(self, "base", self.family.measures()[0].base)

    @property
    def n(self) -> str:
        """The count column of the metric's n."""
        return self.base.n

    @property
    def columns(self) -> tuple[str, str, str]:
        """The score-frame columns the metric fills: value, ci_low, ci_high."""
        return (self.value, self.ci_low, self.ci_high)


def at_least(k: float) -> Callable[[Any], Any]:
    """`value >= k`, on an Ibis column or a numpy array."""
    return lambda v: v >= k


def at_most(k: float) -> Callable[[Any], Any]:
    """`value <= k`, on an Ibis column or a numpy array (NaN/NULL: not counted)."""
    return lambda v: v <= k


def equal_to(k: float) -> Callable[[Any], Any]:
    """`value == k`, on an Ibis column or a numpy array."""
    return lambda v: v == k


PROMOTERS = Measure("promoters", NPS_BASE, at_least(9))
DETRACTORS = Measure("detractors", NPS_BASE, at_most(6))
_CI = "95% CI:"

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "nps", NetScore(PROMOTERS, DETRACTORS, "passives", "passive_pct"),
            "NPS", "NPS", "points", 1, "pts", True,
            help="Net Promoter Score = % promoters (9–10) − % detractors (0–6) of all 0–10 "
            f"answers; −100…100. {_CI} adjusted Wald (Rocks 2016).",
            definition="% of 0–10 answers that are 9–10 minus % that are 0–6, in points.",
        ),
        Metric(
            "csat", Share(Measure("csat_top2", CSAT_BASE, at_least(4))),
            "CSAT (top-2-box %)", "CSAT", "%", 1, "pp", True,
            help=f"Customer satisfaction: share of 4 or 5 on the 1–5 scale (top-2-box). {_CI} "
            "Wilson.",
            definition="Share of 1–5 CSAT answers that are 4 or 5.",
        ),
        Metric(
            "csat_top_box", Share(Measure("csat_fives", CSAT_BASE, equal_to(5))),
            "CSAT top-box % (5 of 5)", "CSAT top-box", "%", 1, "pp", True,
            help=f"Share of 5s (very satisfied) among the 1–5 CSAT answers. {_CI} Wilson.",
            definition="Share of 1–5 CSAT answers that are 5.",
        ),
        Metric(
            "ces", Mean(Measure("ces_sum", CES_BASE, power=1),
                        Measure("ces_sumsq", CES_BASE, power=2), "ces_sd"),
            "CES (mean, 1–7)", "CES", "", 2, "", True,
            help="Customer effort: mean of the 1–7 answers to “made it easy” (7 = very easy). "
            f"{_CI} mean ± 1.96·s/√n.",
            definition="Mean of the 1–7 CES answers (7 = very easy).",
        ),
        Metric(
            "ces_easy", Share(Measure("ces_easy", CES_BASE, at_least(5))),
            "CES % easy (5–7)", "CES % easy", "%", 1, "pp", True,
            help=f"Share of 5–7 (easy) among the 1–7 CES answers. {_CI} Wilson.",
            definition="Share of 1–7 CES answers that are 5, 6 or 7.",
            value="ces_easy_pct",
        ),
        Metric(
            "friction", Share(Measure("friction_events", FRICTION_BASE, equal_to(1))),
            "Friction rate %", "Friction rate", "%", 1, "pp", False,
            help=f"Share of scored answers at a touchpoint that report friction. {_CI} Wilson.",
            definition="Friction rate = friction answers ÷ answers at a touchpoint that carry "
            "at least one score, in %. An answer reports friction when CES ≤ 3 (hard), "
            "CSAT ≤ 2, or NPS ≤ 6 (detractor). Only answers tied to a touchpoint count: a "
            "touchpoint-tagged answer is a transactional survey about that touchpoint, which "
            "is when a detractor score is friction there.",
        ),
        Metric(
            "detractor_pct", Share(DETRACTORS), "Detractors %", "Detractors", "%", 1, "pp",
            False, help=f"Share of 0–6 among the 0–10 NPS answers. {_CI} Wilson.",
            definition="Share of 0–10 answers that are 0–6.",
            ci_low="detractor_ci_low", ci_high="detractor_ci_high",
        ),
        Metric(
            "promoter_pct", Share(PROMOTERS), "Promoters %", "Promoters", "%", 1, "pp", True,
            help=f"Share of 9–10 among the 0–10 NPS answers. {_CI} Wilson.",
            definition="Share of 0–10 answers that are 9 or 10.",
            ci_low="promoter_ci_low", ci_high="promoter_ci_high",
        ),
    )
}


def metric_def(name: str) -> Metric:
    """The metric called `name`, or UnknownName listing the allowed ones."""
    if name not in METRICS:
        raise UnknownName("metric", name, METRICS)
    return METRICS[name]


def base_of(metric: str) -> str:
    """The base (nps, csat, ces, friction) whose answers are a metric's n."""
    return metric_def(metric).base.name


def metrics_on(base: str) -> tuple[Metric, ...]:
    """The metrics whose n is `base`'s, in registry order."""
    return tuple(m for m in METRICS.values() if m.base.name == base)


def measures_of(base: str) -> tuple[Measure, ...]:
    """The distinct measures the metrics on `base` read, in registry order."""
    seen: dict[str, Measure] = {}
    for m in metrics_on(base):
        for measure in m.family.measures():
            seen.setdefault(measure.name, measure)
    return tuple(seen.values())


def count_columns(bases: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """`responses` and, per base, its n and measures: the columns of a counts frame."""
    out = ["responses"]
    for b in bases or tuple(BASES):
        out += [BASES[b].n, *(m.name for m in measures_of(b))]
    return tuple(out)


def sum_columns() -> frozenset[str]:
    """The count columns that are float sums (the rest are integer counts)."""
    return frozenset(m.name for b in BASES for m in measures_of(b) if m.is_sum)


def counts_needed(metric: str) -> tuple[str, ...]:
    """The count columns `metric`'s score and test read: its n and its family's measures."""
    m = metric_def(metric)
    return (m.n, *(x.name for x in m.family.measures()))


def score_columns(base: str) -> tuple[str, ...]:
    """The score-frame columns blanked together when `base`'s n is below min_n."""
    out: list[str] = []
    for m in metrics_on(base):
        scores = [c for c, is_count in m.family.extra_columns().items() if not is_count]
        out += [c for c in (*m.columns, *scores) if c not in out]
    return tuple(out)


def score(metric: str, counts: Counts) -> tuple[Arr, Arr, Arr]:
    """(value, ci_low, ci_high) of `metric` from a counts frame, row by row, before any
    suppression. Raises UnknownName for an unknown metric, KeyError if a count is absent."""
    m = metric_def(metric)
    return m.family.score(counts, _col(counts, m.n))


# --- comparisons ------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """a − b for one metric, row by row. difference is in the metric's unit (NaN when
    either side is suppressed); stat is NaN and significant NA where no test is run (either
    side under min_n or low base); test names the test (DESIGN §4). significant is each
    row's own test at 95%; p_value (two-sided, NaN where not tested) lets a caller that
    tests many rows at once correct for it (stats.bh_significant)."""

    difference: Arr
    stat: Arr
    significant: pd.arrays.BooleanArray
    test: str
    p_value: Arr
    value_a: Arr  # each side's score (NaN under min_n), as the difference used
    value_b: Arr


def tested(n_a: Arr, n_b: Arr, th: Thresholds) -> npt.NDArray[np.bool_]:
    """Whether a test is run: both sides have at least low_base answers (Thresholds keeps
    low_base ≥ min_n, so neither side is suppressed)."""
    return (np.nan_to_num(n_a) >= th.low_base) & (np.nan_to_num(n_b) >= th.low_base)


def compare(metric: str, a: Counts, b: Counts, th: Thresholds) -> Comparison:
    """Compare `metric` between two groups given their counts (each a mapping from count
    column to an array, e.g. two count frames with rows aligned; missing counts are 0).
    Raises UnknownName for an unknown metric."""
    m = metric_def(metric)
    needed = counts_needed(metric)
    a, b = _zero_filled(a, needed), _zero_filled(b, needed)
    n_a, n_b = _col(a, m.n), _col(b, m.n)
    value_a = np.where(n_a >= th.min_n, m.family.score(a, n_a)[0], np.nan)
    value_b = np.where(n_b >= th.min_n, m.family.score(b, n_b)[0], np.nan)
    ok = tested(n_a, n_b, th)
    stat = np.where(ok, m.family.statistic(a, n_a, b, n_b), np.nan)
    significant = pd.array(stats.is_significant(stat), dtype="boolean")
    significant[~ok] = pd.NA
    return Comparison(
        value_a - value_b, stat, significant, m.family.test, stats.p_value(stat), value_a, value_b
    )


def _zero_filled(c: Counts, columns: tuple[str, ...]) -> dict[str, Arr]:
    return {k: np.nan_to_num(_col(c, k)) for k in columns}
