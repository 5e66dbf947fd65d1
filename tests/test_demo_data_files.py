"""Data out of code: the demo phrasebook and the default theme taxonomy are package data files
(cxdata/data), read and checked by the same code as users' files; the move changed nothing."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from cxdata import demo
from cxdata.demo import demo_metrics, demo_responses, load_phrasebook
from cxdata.voc.taxonomy import (
    DEFAULT_FILE_NAME,
    DEFAULT_TAXONOMY,
    load_taxonomy,
    read_taxonomy_file,
    taxonomy_from_json,
    taxonomy_json,
    taxonomy_path,
)

DATA = resources.files("cxdata").joinpath("data")
PHRASEBOOK = Path(str(DATA.joinpath(demo.PHRASEBOOK_FILE)))
TAXONOMY = Path(str(DATA.joinpath(DEFAULT_FILE_NAME)))
END = date(2026, 6, 30)

# Recorded with the phrasebook and DEFAULT_TAXONOMY still in code (demo.py / voc/taxonomy.py),
# before they moved to cxdata/data: the regression guard that the move changed nothing. Any
# intended change to the demo data (a new sentence, a new draw) must update these on purpose.
# The metrics' optional `base` column (customers / contacts behind each rate) was added
# later on purpose: the metrics digest is of the frame without it, so the values it had
# stay guarded, and the full frame has its own digest.
DIGESTS = {  # (seed, rows) -> sha256 of demo_responses, demo_metrics without and with base
    (7, 20_000): (
        "88f75742d8bfbb08d201669ff6dddea19a6a36f65d14e51768bdecefa382bb19",
        "960794f254affdf2f8d1fc6a7d2fd2f23a5c8e4b6c51f37c22b5c39b0e09918c",
        "974293a42343573a664fde659a4d4577caaa37242c0d7f9deabd410e1334b08c",
    ),
    (2024, 5_000): (
        "c438608703ff21018fdab214ceef0dd8ff01a8c2a12816f18bff20be243724bb",
        "545c72fac0eced6644bf4b1b8edb0ac963faf4d0d559142a5dae24fa58c06dc5",
        "06db415c2a9cf89cdc0fee3fbfdefc7ae58ff4c02bfb9de88907114699e388ff",
    ),
}
DEFAULT_TAXONOMY_DIGEST = "e4fef8e49598"  # DEFAULT_TAXONOMY.digest(), recorded likewise


def sha256_csv(frame: Any) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()


@pytest.mark.parametrize(("seed", "rows"), list(DIGESTS))
def test_demo_output_is_byte_identical_for_a_seed(seed: int, rows: int) -> None:
    responses, metrics, with_base = DIGESTS[seed, rows]
    assert sha256_csv(demo_responses(rows=rows, seed=seed, end=END)) == responses
    frame = demo_metrics(seed=seed, end=END)
    assert sha256_csv(frame.drop(columns="base")) == metrics
    assert sha256_csv(frame) == with_base


def test_default_taxonomy_is_unchanged() -> None:
    assert DEFAULT_TAXONOMY.digest() == DEFAULT_TAXONOMY_DIGEST
    assert len(DEFAULT_TAXONOMY.themes) == 15


def test_data_files_are_readable_utf8() -> None:
    for path in (PHRASEBOOK, TAXONOMY):
        text = path.read_text(encoding="utf-8")
        assert "\\u" not in text  # written with ensure_ascii=False
        json.loads(text)
    assert "Dessverre" in PHRASEBOOK.read_text(encoding="utf-8")
    assert "pošiljka" in TAXONOMY.read_text(encoding="utf-8")


# --- the default taxonomy is a user's taxonomy file ---------------------------------------------


def test_default_taxonomy_file_goes_through_the_user_checker(tmp_path: Path) -> None:
    doc = json.loads(TAXONOMY.read_text(encoding="utf-8"))
    assert doc == taxonomy_json(DEFAULT_TAXONOMY)  # canonical: the checker rewrites nothing
    assert read_taxonomy_file(TAXONOMY) == DEFAULT_TAXONOMY
    # the shipped file, saved as a user's taxonomy.json, is loaded as the same taxonomy
    user = taxonomy_path(tmp_path)
    user.write_bytes(TAXONOMY.read_bytes())
    loaded = load_taxonomy(tmp_path)
    assert loaded is not DEFAULT_TAXONOMY
    assert loaded == DEFAULT_TAXONOMY


def _bad_id(doc: dict[str, Any]) -> None:
    doc["themes"][2]["theme"] = "Bad Id!"


def _twice(doc: dict[str, Any]) -> None:
    doc["themes"].append(copy.deepcopy(doc["themes"][0]))


def _wildcards(doc: dict[str, Any]) -> None:
    doc["themes"][0]["keywords"]["no"].append("**")


def _language(doc: dict[str, Any]) -> None:
    doc["themes"][4]["keywords"]["42"] = ["word"]


def _no_themes(doc: dict[str, Any]) -> None:
    del doc["themes"]


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_bad_id, r": theme 3: theme id 'Bad Id!'"),
        (_twice, r": theme 'delivery' appears twice"),
        (_wildcards, r": theme 1: keyword '\*\*' is only wildcards"),
        (_language, r": theme 5: '42' is not a language code"),
        (_no_themes, r": expected an object with a list of 'themes'"),
    ],
)
def test_a_broken_default_file_fails_like_a_user_file(
    tmp_path: Path, breakage: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = json.loads(TAXONOMY.read_text(encoding="utf-8"))
    breakage(doc)
    text = json.dumps(doc, ensure_ascii=False)
    default_copy = tmp_path / "package" / DEFAULT_FILE_NAME
    default_copy.parent.mkdir()
    default_copy.write_text(text, encoding="utf-8")
    user = taxonomy_path(tmp_path / "user")
    user.parent.mkdir()
    user.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match=message) as as_default:
        read_taxonomy_file(default_copy)
    with pytest.raises(ValueError, match=message) as as_user:
        load_taxonomy(user.parent)
    with pytest.raises(ValueError, match=message) as as_document:
        taxonomy_from_json(doc, "SOURCE")
    # the same message, only the file named differs
    expected = str(as_document.value)
    assert str(as_default.value) == expected.replace("SOURCE", str(default_copy), 1)
    assert str(as_user.value) == expected.replace("SOURCE", str(user), 1)


def test_an_unreadable_taxonomy_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILE_NAME
    path.write_text('{"themes": [', encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read the taxonomy") as err:
        read_taxonomy_file(path)
    assert str(path) in str(err.value)


# --- the demo phrasebook ------------------------------------------------------------------------


def test_phrasebook_file_is_what_the_demo_uses() -> None:
    book = load_phrasebook()
    assert book == load_phrasebook(PHRASEBOOK) == load_phrasebook(str(PHRASEBOOK))
    assert (book.sentences, book.openers, book.closers) == (
        demo._SENTENCES,
        demo._OPENERS,
        demo._CLOSERS,
    )
    assert list(book.sentences) == list(demo.LANGUAGES)
    assert set(book.sentences["sl"]["pos"]) == set(demo._THEMES)
    assert isinstance(book.sentences["no"]["neg"]["delivery"], tuple)
    assert isinstance(book.closers["sv"]["mixed"], tuple)


def _set(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return change


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]

    return change


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_drop("sentences", "no", "neg", "delivery"),
         r": sentences\.no\.neg: missing key 'delivery'"),
        (_drop("sentences", "da"), r": sentences: missing key 'da'"),
        (_drop("closers"), r": missing key 'closers'"),
        (_set("sentences", "fi", value={}), r": sentences: unknown key 'fi'"),
        (_set("openers", "en", "angry", value=["Grr."]), r": openers\.en: unknown key 'angry'"),
        (_set("sentences", "sv", "pos", "staff", value=[]),
         r": sentences\.sv\.pos\.staff: expected a non-empty list of non-empty strings"),
        (_set("sentences", "sl", "neg", "price", value="Predrago."),
         r": sentences\.sl\.neg\.price: expected a non-empty list"),
        (_set("openers", "sv", "mixed", value=["Okej.", 3]), r": openers\.sv\.mixed: expected"),
        (_set("closers", "en", "pos", value=["Thanks!", "  "]), r": closers\.en\.pos: expected"),
        (_set("closers", "no", value=["Takk."]), r": closers\.no: expected an object"),
        (_set("extra", value=1), r": unknown key 'extra'"),
    ],
)  # fmt: skip
def test_phrasebook_loader_rejects_a_broken_file_naming_the_key(
    tmp_path: Path, breakage: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = json.loads(PHRASEBOOK.read_text(encoding="utf-8"))
    breakage(doc)
    path = tmp_path / demo.PHRASEBOOK_FILE
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_phrasebook(path)
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize("content", [b'{"sentences": {', b"[1, 2]", b'{"version": 1}\xff'])
def test_phrasebook_loader_rejects_an_unreadable_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / demo.PHRASEBOOK_FILE
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"cannot read|expected an object") as err:
        load_phrasebook(path)
    assert str(path) in str(err.value)
