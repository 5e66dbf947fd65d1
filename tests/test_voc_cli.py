"""`python -m cxdata themes`: JSON shape, filters, progress on stderr, clear errors."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_voc_impact import voc_frame

from cxdata import cli, schema
from cxdata.errors import CxError, NoData
from cxdata.store import close, connect
from cxdata.voc import cli as voc_cli

THEME_KEYS = {"theme", "label", "source", "languages", "n", "share", "nps_with", "nps_without",
              "nps_impact", "significant", "t", "nps_n_with", "nps_n_without", "nps_with_ci",
              "low_base", "suppressed", "sentiment_mean", "sentiment_n"}  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vcli")
    connect(path).replace_table(schema.RESPONSES, voc_frame(3_000, seed=11))
    close(path)
    return path


def run(data_dir: Path, *argv: str) -> None:
    """Parse and run `themes` exactly as the CLI does, through add_parsers' handler."""
    parser = argparse.ArgumentParser(prog="python -m cxdata")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers = voc_cli.add_parsers(sub)
    args = parser.parse_args(list(argv))
    try:
        handlers[args.command](connect(data_dir), args)
    finally:
        close(data_dir)


def test_before_computing_it_says_what_to_run(data_dir: Path) -> None:
    with pytest.raises(NoData, match="themes --rebuild"):
        run(data_dir, "themes")


def test_rebuild_then_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(data_dir, "themes", "--rebuild", "--json")
    captured = capsys.readouterr()
    assert "100.0%" in captured.err and "themes computed" in captured.err
    doc = json.loads(captured.out)
    assert set(doc) == {"languages", "themes"}
    codes = {x["language"] for x in doc["languages"]}
    assert codes == {"en", "no", "da", "sv", "sl", None}  # None: "Fine." is too short
    assert next(x for x in doc["languages"] if x["language"] is None)["name"] == "undetermined"
    english = next(x for x in doc["languages"] if x["language"] == "en")
    norwegian = next(x for x in doc["languages"] if x["language"] == "no")
    assert english["sentiment_lexicon"].startswith("VADER") and english["sentiment_mean"]
    assert norwegian["sentiment_lexicon"] == "n/a" and norwegian["sentiment_mean"] is None
    assert all(set(t) == THEME_KEYS for t in doc["themes"])
    delivery = next(t for t in doc["themes"] if t["theme"] == "delivery")
    assert delivery["label"] == "Delivery" and delivery["significant"] is True
    assert delivery["nps_impact"] < 0 and delivery["languages"] == ["da", "en", "no", "sl", "sv"]
    assert delivery["nps_impact"] == pytest.approx(
        delivery["nps_with"] - delivery["nps_without"], abs=0.011
    )
    assert {t["source"] for t in doc["themes"]} == {"taxonomy", "auto"}


def test_where_and_source(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(data_dir, "themes", "--rebuild")
    capsys.readouterr()
    run(data_dir, "themes", "--where", "language=sl", "--source", "taxonomy", "--json")
    doc = json.loads(capsys.readouterr().out)
    assert [x["language"] for x in doc["languages"]] == ["sl"]
    assert {t["source"] for t in doc["themes"]} == {"taxonomy"}
    assert all(t["languages"] == ["sl"] for t in doc["themes"])


def test_text_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(data_dir, "themes", "--update", "--source", "taxonomy")
    out = capsys.readouterr()
    assert "themes updated: 0 comments" in out.err
    assert "NPS with" in out.out and "Delivery" in out.out and "yes" in out.out
    tested = re.search(r"after correcting for (\d+) comparisons \(Benjamini–Hochberg, 5% FDR\)",
                       out.out)
    assert tested and int(tested.group(1)) >= 2  # the themes were tested together


def test_unknown_dimension_is_an_error(data_dir: Path) -> None:
    with pytest.raises(CxError, match="dimension"):
        run(data_dir, "themes", "--where", "colour=blue")


def _wired() -> bool:
    return "themes" in cli.build_parser().format_help()


def python_m_cxdata(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m cxdata --data-dir DATA_DIR ARGV…` in a subprocess, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "cxdata", "--data-dir", str(data_dir), *argv],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(not _wired(), reason="`themes` is not wired into cxdata/cli.py yet")
def test_through_python_m_cxdata(data_dir: Path) -> None:
    proc = python_m_cxdata(data_dir, "themes", "--json", "--where", "language=no")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["languages"][0]["language"] == "no"
    bad = python_m_cxdata(data_dir, "themes", "--where", "colour=blue")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
