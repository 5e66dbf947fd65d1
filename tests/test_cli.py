"""`python -m cxdata` end to end in a subprocess, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


def cx(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CX_DATA_DIR": str(data_dir)}
    env.pop("CX_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "cxdata", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    # no test here reads the comment themes (seconds at 20k rows): the demo with themes runs
    # through the CLI in e2e_helpers.make_demo_store
    done = cx(path, "demo", "--rows", "20000", "--seed", "3", "--skip-themes")
    assert done.returncode == 0, done.stderr
    assert "20000 responses" in done.stdout
    return path


def test_kpis_json_shape(demo_dir: Path) -> None:
    done = cx(demo_dir, "kpis", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["responses"] == 20000
    for metric in ("nps", "csat", "ces"):
        assert {"value", "n", "ci_low", "ci_high", "low_base", "suppressed"} <= set(out[metric])
        assert out[metric]["ci_low"] <= out[metric]["value"] <= out[metric]["ci_high"]
    assert -100 <= out["nps"]["value"] <= 100
    nps = out["nps"]
    assert nps["promoters"] + nps["passives"] + nps["detractors"] == nps["n"]


def test_kpis_by_and_where(demo_dir: Path) -> None:
    done = cx(demo_dir, "kpis", "--json", "--by", "country", "--from", "2000-01-01",
              "--where", "channel=web", "--where", "channel=store")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out["by"]) == {"Norway", "Denmark", "Sweden", "Slovenia"}
    assert sum(v["responses"] for v in out["by"].values()) == out["responses"]
    web = json.loads(cx(demo_dir, "kpis", "--json", "--where", "channel=web").stdout)
    assert 0 < web["responses"] < out["responses"]


def test_kpis_text_output(demo_dir: Path) -> None:
    done = cx(demo_dir, "kpis", "--where", "city=Celje", "--min-n", "100000")
    assert done.returncode == 0, done.stderr
    assert "n too small (n=" in done.stdout


def test_trend_and_friction_csv(demo_dir: Path) -> None:
    done = cx(demo_dir, "trend", "--grain", "month", "--by", "country", "--top", "2")
    assert done.returncode == 0, done.stderr
    trend = pd.read_csv(io.StringIO(done.stdout))
    assert list(trend.columns) == ["period", "country", "metric", "value", "n", "ci_low",
                                   "ci_high", "suppressed", "low_base"]
    assert len(set(trend["country"])) == 3 and "Other" in set(trend["country"])
    done = cx(demo_dir, "friction", "--cols", "channel", "--metric", "ces")
    assert done.returncode == 0, done.stderr
    friction = pd.read_csv(io.StringIO(done.stdout))
    assert {"touchpoint", "channel", "metric", "value", "n", "friction"} <= set(friction.columns)
    assert (friction["metric"] == "ces").all()


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["kpis", "--from", "2025-13-01"], 2, "not a date"),
        (["kpis", "--where", "country"], 2, "expected DIM=VALUE"),
        (["trend", "--grain", "fortnight"], 2, "invalid choice"),
        (["kpis", "--by", "galaxy"], 1, "unknown dimension 'galaxy'; allowed:"),
        (["trend", "--metric", "happiness"], 1, "unknown metric 'happiness'; allowed:"),
        (["kpis", "--from", "2025-05-01", "--to", "2025-04-01"], 1, "date range is empty"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_bad_arguments_give_one_clear_line(
    demo_dir: Path, args: list[str], code: int, needle: str
) -> None:
    done = cx(demo_dir, *args)
    assert done.returncode == code
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert needle in done.stderr


def test_no_data_yet_says_what_to_do(tmp_path: Path) -> None:
    done = cx(tmp_path, "kpis")
    assert done.returncode == 1
    assert "no responses data yet" in done.stderr and "cxdata demo" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_engine_prints_no_progress_bar(tmp_path: Path) -> None:
    """DuckDB writes a progress bar to stdout, even into a pipe, for a query over 2 s: on a
    big store it corrupted `--json` output. Every connection of the store has it off (the
    process's connection, its cursors and the Ibis backend's), checked in a fresh
    interpreter as the command line runs (this test process may have set it already)."""
    code = (
        "import sys; from pathlib import Path; from cxdata.store import connect\n"
        "s = connect(Path(sys.argv[1]))\n"
        "q = \"SELECT current_setting('enable_progress_bar')\"\n"
        "print([c.execute(q).fetchone()[0] for c in (s.raw, s.cursor(), s.backend.con)])\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, check=True, cwd=root)  # fmt: skip
    assert done.stdout.strip() == "[False, False, False]", done.stdout


@pytest.mark.parametrize("command", ["kpis", "trend", "friction"])
def test_a_read_waits_for_maintenance_instead_of_reading_beside_it(
    demo_dir: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a dashboard run does (lake.hold_snapshot): a query beside maintenance could fail
    or, before maintenance merged first, read 0 rows."""
    from cxdata import lake

    monkeypatch.setenv("CX_WRITE_TIMEOUT", "1")
    with lake.runs_drained(demo_dir):  # maintenance working for longer than the wait
        done = cx(demo_dir, command)
    assert done.returncode == 1, done.stdout
    assert "under maintenance" in done.stderr
    assert done.stdout == ""  # no numbers
    done = cx(demo_dir, command)
    assert done.returncode == 0, done.stderr
