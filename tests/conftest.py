"""Shared fixtures: random response data and stores holding it."""

from __future__ import annotations

import compileall
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cxdata import schema
from cxdata.store import Store, close_all, connect

ROOT = Path(__file__).resolve().parents[1]
TEST_MODULE = re.compile(r"(^|/)(test_[^/]*|conftest)\.py$")

TOUCHPOINTS = ["checkout", "parcel delivery", "support call", "product page"]
STAGES = ["purchase", "delivery", "support", "research"]


def pytest_configure(config: pytest.Config) -> None:
    """Compile the app's modules to bytecode once, before any test or worker starts.

    With PYTHONDONTWRITEBYTECODE set (as in CI) no process writes __pycache__, so every
    subprocess the suite starts (hundreds of `python -m cxdata` runs, dozens of dashboard
    servers, which import all of cxdata and pages._shared) compiled the sources again:
    about 0.6 CPU-seconds each. compileall writes the .pyc files whatever that variable
    says; imports read them. Only the controller (or a run without xdist) does it."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        for package in ("cxdata", "pages"):
            compileall.compile_dir(ROOT / package, quiet=1)
        # and the helper modules here (pytest compiles the test modules its own way)
        compileall.compile_dir(ROOT / "tests", quiet=1, rx=TEST_MODULE)


def random_responses(n: int, seed: int = 0) -> pd.DataFrame:
    """Random responses with missing scores, missing dimensions and uneven groups."""
    rng = np.random.default_rng(seed)

    def scores(low: int, high: int, present: float) -> pd.Series:
        values = rng.integers(low, high + 1, n)
        return pd.Series(values, dtype="Int8").where(rng.random(n) < present)

    frame = pd.DataFrame(
        {
            "response_id": [f"T{seed}-{i}" for i in range(n)],
            "submitted_at": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(rng.integers(0, 400 * 86_400, n), unit="s"),
            "nps": scores(0, 10, 0.8),
            "csat": scores(1, 5, 0.6),
            "ces": scores(1, 7, 0.5),
            "comment": None,
            "touchpoint": pd.Series(rng.choice(TOUCHPOINTS, n)).where(rng.random(n) < 0.9),
            "journey_stage": rng.choice(STAGES, n),
            "channel": rng.choice(["web", "phone", "store"], n),
            "region": pd.Series(rng.choice(["Oslo", "Skåne", "Celje"], n, p=[0.6, 0.3, 0.1])).where(
                rng.random(n) < 0.95
            ),
            "plan": rng.choice(["Basic", "Plus", "Premium"], n),
        }
    )
    no_score = frame[["nps", "csat", "ces"]].isna().all(axis=1)
    frame.loc[no_score, "nps"] = 5
    return frame


@pytest.fixture(scope="session")
def reference_frame() -> pd.DataFrame:
    """20k random responses: the data both the engine and the pandas reference see."""
    return random_responses(20_000, seed=42)


@pytest.fixture(scope="session")
def store(
    tmp_path_factory: pytest.TempPathFactory, reference_frame: pd.DataFrame
) -> Iterator[Store]:
    """An embedded store holding `reference_frame`."""
    path: Path = tmp_path_factory.mktemp("store")
    s = connect(path)
    s.replace_table(schema.RESPONSES, reference_frame)
    yield s
    close_all()


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's Chromium; browser tests skip visibly without it, except in CI."""
    from e2e_helpers import find_chromium

    path = find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no Chromium found (apt-get install chromium)")
        pytest.skip("no Chromium found: install Debian's chromium to run the browser tests")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """One headless Chromium per test module."""
    from e2e_helpers import chromium

    with chromium(chromium_path) as b:
        yield b
