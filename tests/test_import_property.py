"""Property test over generated exports: title / period / blank lines above the header, a
total line below the data, a random date format, delimiter and column order — imported with
the suggested mapping untouched, the KPIs equal a plain pandas computation on the rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxdata import queries, schema
from cxdata.filters import Filters
from cxdata.importing import import_file
from cxdata.scores import Thresholds
from cxdata.store import close, connect

GERMAN_MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
                 "September", "Oktober", "November", "Dezember"]  # fmt: skip
GERMAN_DAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
NORWEGIAN_MONTHS = ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august",
                    "september", "oktober", "november", "desember"]  # fmt: skip


def render(stamp: dt.datetime, style: str) -> str:
    """`stamp` (UTC) as a platform or person would write it."""
    if style == "iso":
        return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "google":  # local time one hour ahead of UTC
        local = stamp + dt.timedelta(hours=1)
        return local.strftime("%Y/%m/%d ") + local.strftime("%I:%M:%S %p GMT+1").lstrip("0")
    if style == "surveymonkey":
        return stamp.strftime("%m/%d/%Y %I:%M:%S %p")
    if style == "nordic":
        return stamp.strftime("%d.%m.%Y %H:%M")
    if style == "rfc2822":
        return stamp.strftime("%a, %d %b %Y %H:%M:%S +0000")
    if style == "dmonyyyy":
        return stamp.strftime("%d-%b-%Y %H:%M")
    if style == "german":
        return (
            f"{GERMAN_DAYS[stamp.weekday()]}, {stamp.day}. {GERMAN_MONTHS[stamp.month - 1]} "
            f"{stamp.year} um {stamp:%H:%M:%S}"
        )
    if style == "norwegian":
        return f"{stamp.day}. {NORWEGIAN_MONTHS[stamp.month - 1]} {stamp.year} kl. {stamp:%H:%M}"
    if style == "epoch":
        return str(int(stamp.replace(tzinfo=dt.UTC).timestamp()))
    raise ValueError(style)


STYLES = ["iso", "google", "surveymonkey", "nordic", "rfc2822", "dmonyyyy", "german",
          "norwegian", "epoch"]  # fmt: skip


@st.composite
def exports(draw: st.DrawFn) -> dict:
    n = draw(st.integers(12, 60))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    # Seconds from a day that is > 12 in the first week, so numeric orders are decidable.
    start = dt.datetime(2024, 3, 13, 8, 0, 0)
    stamps = [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 40 * 86_400, n)]
    nps = rng.integers(0, 11, n).astype(object)
    nps[rng.random(n) < 0.1] = ""
    nps[0] = "10"
    csat = rng.integers(1, 6, n).astype(object)
    csat[rng.random(n) < 0.1] = ""
    csat[0] = "5"
    csat[(nps == "") & (csat == "")] = "3"  # a row with no score at all is rejected
    frame = pd.DataFrame(
        {
            "Response ID": [f"R_{seed}_{i}" for i in range(n)],
            "Submitted": "",
            "How likely are you to recommend us to a friend? (0-10)": nps,
            "How satisfied are you with your visit?": csat,
            "Region": rng.choice(["Oslo", "Bergen", "Ljubljana"], n),
        }
    )
    style = draw(st.sampled_from(STYLES))
    frame["Submitted"] = [render(s, style) for s in stamps]
    order = draw(st.permutations(list(frame.columns)))
    return {
        "frame": frame[list(order)],
        "stamps": stamps,
        "title": draw(st.booleans()),
        "total": draw(st.booleans()),
        "delimiter": draw(st.sampled_from([",", ";", "\t"])),
        "style": style,
    }


def write_export(path: Path, case: dict) -> None:
    frame, sep = case["frame"], case["delimiter"]
    lines = []
    if case["title"]:
        lines += ["Customer survey report", "Period: March–April 2024", ""]
    body = frame.to_csv(index=False, sep=sep, lineterminator="\n").splitlines()
    lines += body
    if case["total"]:
        lines += ["", sep.join(["Total", *[""] * (len(frame.columns) - 1)])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def reference(frame: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """NPS and CSAT computed plainly from the generated answers."""
    nps = pd.to_numeric(
        frame["How likely are you to recommend us to a friend? (0-10)"].replace("", None)
    )
    nps = nps.dropna()
    csat = pd.to_numeric(frame["How satisfied are you with your visit?"].replace("", None)).dropna()
    return {
        "nps": (100 * ((nps >= 9).mean() - (nps <= 6).mean()), len(nps)),
        "csat": (100 * (csat >= 4).mean(), len(csat)),
    }


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=exports())
def test_generated_exports_import_exactly(
    tmp_path_factory: pytest.TempPathFactory, case: dict
) -> None:
    folder = tmp_path_factory.mktemp("export")
    path = folder / "export.csv"
    write_export(path, case)
    store = connect(folder / "store")
    try:
        result = import_file(store, path)
        frame = case["frame"]
        counts = (result.read, result.imported, result.rejected)
        assert counts == (len(frame), len(frame), 0), (case["style"], result.warnings)
        k = queries.kpis(store, Filters(), Thresholds(min_n=1))
        want = reference(frame)
        for metric in ("nps", "csat"):
            value, n = want[metric]
            got = getattr(k, metric)
            assert got.n == n and got.value == pytest.approx(value, abs=1e-4), (
                metric,
                case["style"],
            )
        stored = store.table(schema.RESPONSES).to_pandas().set_index("response_id")
        expected = pd.Series(
            [pd.Timestamp(s) for s in case["stamps"]], index=frame["Response ID"].to_numpy()
        )
        if case["style"] in ("nordic", "dmonyyyy", "norwegian"):  # no seconds written
            expected = expected.dt.floor("min")
        got = stored.loc[expected.index, "submitted_at"]
        assert (got.to_numpy() == expected.to_numpy()).all(), case["style"]
    finally:
        close(folder / "store")
