"""The `suggest-mapping` and `import` subcommands, run as cxdata.cli runs its handlers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from import_corpus import slovenian_cp1250, survey_mixed_scales

from cxdata import schema
from cxdata.errors import CxError
from cxdata.importing.cli import add_parsers
from cxdata.store import Store, connect


def run(store: Store, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Parse and dispatch like `python -m cxdata`: errors are one line and exit code 1."""
    parser = argparse.ArgumentParser(prog="python -m cxdata")
    handlers = add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        handlers[args.command](store, args)
        code = 0
    except (CxError, ValueError) as exc:
        print(f"python -m cxdata {args.command}: error: {exc}", file=__import__("sys").stderr)
        code = 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return connect(tmp_path / "store")


def test_suggest_mapping_prints_editable_json(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = survey_mixed_scales(tmp_path)
    code, out, err = run(store, ["suggest-mapping", str(expected.path)], capsys)
    assert code == 0
    mapping = json.loads(out)
    assert mapping["dataset"] == "responses"
    assert mapping["columns"]["Overall"]["to"] == "rating"
    assert mapping["columns"]["Land"] == {
        "to": "country",
        "examples": ["Sverige", "Slovenija", "Norge"],
        "seen": "text (3 different)",
        "note": "known segment",
    }
    assert "warning: Overall: 1–10 is not NPS unless the question asks about recommending" in err


def test_import_with_edited_mapping_and_json_output(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = survey_mixed_scales(tmp_path)
    _, out, _ = run(store, ["suggest-mapping", str(expected.path)], capsys)
    mapping = json.loads(out)
    mapping["columns"]["Overall"] = {"to": "nps", "scale": [1, 10], "rescale": True}
    mapping["columns"]["Route"] = None
    mapping["columns"]["Would recommend"] = None
    mapping_file = tmp_path / "airline.json"
    mapping_file.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    code, out, _ = run(
        store,
        [
            "import",
            str(expected.path),
            "--mapping",
            str(mapping_file),
            "--json",
            "--save-profile",
            "airline",
        ],
        capsys,
    )
    assert code == 0
    result = json.loads(out)
    assert (result["read"], result["imported"], result["rejected"]) == (60, 58, 2)
    assert Path(result["rejects_file"]).is_file()
    t = store.table(schema.RESPONSES)
    assert "route" not in t.columns
    assert t.nps.notnull().sum().execute() == 58
    assert (Path(store.location) / "mappings" / "airline.json").is_file()

    again = tmp_path / "again.csv"
    again.write_text(expected.path.read_text().replace(",A", ",Z"))
    code, out, _ = run(
        store, ["import", str(again), "--profile", "airline", "--mode", "replace"], capsys
    )
    assert code == 0
    assert out.startswith(
        "again.csv → responses (replace): read 60, imported 58, rejected 2, already stored 0"
    )
    assert store.row_count(schema.RESPONSES) == 58


def test_unreadable_file_is_one_line_and_exit_1(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "export.csv"
    garbage.write_bytes(bytes(range(256)) * 10)
    code, out, err = run(store, ["import", str(garbage)], capsys)
    assert code == 1 and out == ""
    assert err == (
        "python -m cxdata import: error: export.csv: binary content, not a CSV, "
        "Excel or Parquet file\n"
    )
    code, _, err = run(store, ["import", str(tmp_path / "missing.csv")], capsys)
    assert (code, err.count("\n")) == (1, 1) and "missing.csv: no such file" in err


def test_unknown_profile_and_bad_mapping(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = slovenian_cp1250(tmp_path)
    code, _, err = run(store, ["import", str(expected.path), "--profile", "nope"], capsys)
    assert code == 1 and "no mapping profile 'nope'" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"columns": {"Regija": "Region!"}}')
    code, _, err = run(store, ["import", str(expected.path), "--mapping", str(bad)], capsys)
    assert code == 1
    assert "column 'Regija': 'Region!' is neither a field of responses" in err
    assert not store.has(schema.RESPONSES)
