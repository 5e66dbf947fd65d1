"""Score targets set by the admins: a small TOML file named by $CX_TARGETS_FILE.

    # targets.toml: one line per survey metric (any name of the metric registry)
    nps = 30        # NPS points, −100…100
    csat = 80       # CSAT %, 0…100
    ces = 5.5       # mean CES on its 1–7 scale

Whoever may edit the file on the server sets the targets; the app only reads it. The file
fails closed: a syntax error, an unknown metric, a value that is not a number or lies
outside the metric's range makes `load_targets` raise TargetsError (one line naming the
file, the key and the problem) and the dashboard shows no target at all, never a partial
or guessed set.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cxdata.errors import CxError
from cxdata.metrics import METRICS, Mean, NetScore, metric_def
from cxdata.schema import SCALES

TARGETS_ENV = "CX_TARGETS_FILE"


class TargetsError(CxError):
    """The targets file cannot be used: says which file, key and problem."""


@dataclass(frozen=True)
class Targets:
    """Target value per metric name, in the metric's unit (NPS points, % or the scale)."""

    values: tuple[tuple[str, float], ...] = ()

    def get(self, metric: str) -> float | None:
        """The target of `metric`, None when none is set."""
        return dict(self.values).get(metric)


def targets_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The targets file named by $CX_TARGETS_FILE, None when unset (no targets)."""
    value = (os.environ if env is None else env).get(TARGETS_ENV, "").strip()
    return Path(value) if value else None


def value_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: −100…100 for a net score, 0…100 for a share, the
    answer scale for a mean (CES 1…7)."""
    family = metric_def(metric).family
    if isinstance(family, NetScore):
        return -100.0, 100.0
    if isinstance(family, Mean):
        scale = SCALES[family.total.base.name]
        return float(scale.low), float(scale.high)
    return 0.0, 100.0


def parse_targets(text: str, source: str = "the targets file") -> Targets:
    """Targets from TOML text (`metric = number` lines); TargetsError on any mistake."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetsError(f"{source}: not valid TOML ({exc})") from None
    values: list[tuple[str, float]] = []
    for key, value in raw.items():
        if key not in METRICS:
            raise TargetsError(
                f"{source}: unknown metric {key!r}; allowed: {', '.join(sorted(METRICS))}"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise TargetsError(f"{source}: {key} = {value!r} is not a number")
        low, high = value_range(key)
        if not low <= value <= high:
            raise TargetsError(f"{source}: {key} = {value} is outside {low:g} to {high:g}")
        values.append((key, float(value)))
    return Targets(tuple(sorted(values)))


def load_targets(path: Path | None) -> Targets:
    """The targets in the file at `path` (no targets when `path` is None); TargetsError when
    the file is missing, unreadable or wrong (the error's web line names no server path)."""
    if path is None:
        return Targets()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(
            f"{path}: cannot be read ({type(exc).__name__})",
            web=f"{TARGETS_ENV}: the file cannot be read ({type(exc).__name__})",
        ) from None
    return parse_targets(text, path.name)


def on_target(metric: str, value: float, target: float) -> bool:
    """Whether `value` meets `target`: at or above it when higher is better (NPS, CSAT,
    CES), at or below it otherwise (friction, detractors)."""
    if metric_def(metric).higher_is_better:
        return value >= target
    return value <= target


def targets_or_none(path: Path | None = None) -> tuple[Targets, str]:
    """The targets of `path` (default: $CX_TARGETS_FILE) and "" — or, when the file is
    wrong, no targets at all and the problem (fail closed: never a partial set)."""
    try:
        return load_targets(path or targets_path()), ""
    except TargetsError as exc:
        return Targets(), str(exc)
