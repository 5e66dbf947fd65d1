"""The keyword taxonomy: inflected forms match through lemmas, wildcards and phrases,
several themes per comment, the editor grid and the saved JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cxdata.voc.taxonomy import (
    DEFAULT_TAXONOMY,
    Matcher,
    Taxonomy,
    Theme,
    compiled,
    load_taxonomy,
    matched_themes,
    save_taxonomy,
    taxonomy_frame,
    taxonomy_from_frame,
    taxonomy_from_json,
    taxonomy_path,
)
from cxdata.voc.tokens import lemmas, words

MATCHER = compiled(DEFAULT_TAXONOMY)


def themes_of(text: str, language: str, matcher: Matcher = MATCHER) -> list[str]:
    tokens = words(text)
    return matched_themes(tokens, lemmas(tokens, language), language, matcher)


# Inflected forms that a plain keyword search for the base form would miss.
@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("no", "Leveringen var elendig."),  # definite singular of levering
        ("no", "Leveringene har vært trege hele året."),  # definite plural
        ("no", "Pakkene kom aldri fram."),  # pakke, definite plural
        ("no", "Hjemleveringen tok en uke."),  # compound ending in -levering
        ("da", "Leveringerne er altid forsinkede."),
        ("da", "Pakkerne blev efterladt ved døren."),
        ("sv", "Leveransen var försenad igen."),
        ("sv", "Paketen kom fram efter tio dagar."),
        ("sv", "Hemleveransen fungerade inte."),
        ("sl", "Z dostavo nisem zadovoljen."),  # instrumental of dostava
        ("sl", "Čakal sem na dostavo tri tedne."),  # accusative
        ("sl", "Dostave so vedno pozne."),  # plural
        ("sl", "Paketa ni bilo, pošiljke tudi ne."),  # genitive of paket, pošiljka
        ("sl", "Dostavljavec je pustil paket pri sosedu."),
        ("en", "Deliveries are always late."),
        ("en", "They delivered the wrong parcels."),
    ],
)  # fmt: skip
def test_inflected_forms_match_the_delivery_theme(language: str, text: str) -> None:
    assert "delivery" in themes_of(text, language)


@pytest.mark.parametrize(
    ("language", "text", "theme"),
    [
        ("no", "Kortbetalingen ble avvist.", "payment"),  # compound *betaling
        ("sv", "Jag väntade länge i telefonkön.", "support_wait"),  # *kö
        ("sl", "Plačila s kartico niso delovala.", "payment"),
        ("sl", "Vračila denarja še nisem dobil.", "returns"),
        ("da", "Returneringen var besværlig.", "returns"),
        ("en", "Short waiting time and a clear answer.", "support_wait"),  # phrase, inflected
        ("sl", "Dolga čakalna vrsta pri službi za stranke.", "support_wait"),  # phrase
        ("no", "Mye for pengene.", "price"),  # phrase
    ],
)  # fmt: skip
def test_other_themes_with_inflections_and_compounds(language: str, text: str, theme: str) -> None:
    assert theme in themes_of(text, language)


def test_a_comment_carries_several_themes() -> None:
    found = themes_of("Appen krasjet under betalingen, og pakken kom for sent.", "no")
    assert {"app", "payment", "delivery"} <= set(found)


def test_keywords_of_another_language_do_not_match() -> None:
    # "dostava" is a Slovenian keyword; in an English comment it is just a word
    assert themes_of("The word dostava means delivery in Slovenian.", "en") == ["delivery"]
    assert themes_of("Ingen ting å melde.", "no") == []
    assert themes_of("Whatever", "xx") == []


def test_short_words_are_not_false_friends() -> None:
    # Norwegian "kort" (short) must not mean payment card
    assert "payment" not in themes_of("Kort ventetid og et tydelig svar.", "no")


def test_wildcards_and_phrases_in_a_custom_taxonomy() -> None:
    tax = Taxonomy((
        Theme("wait", "Waiting", {"sl": ("čakalna vrsta",), "en": ("wait*",)}),
        Theme("fees", "Fees", {"no": ("*gebyr",), "en": ("*fee*",)}),
    ))  # fmt: skip
    m = compiled(tax)
    assert themes_of("Dolge čakalne vrste.", "sl", m) == ["wait"]  # inflected phrase
    assert themes_of("We waited forever.", "en", m) == ["wait"]
    assert themes_of("Et ekspedisjonsgebyr på 49 kr.", "no", m) == ["fees"]
    assert themes_of("Surprising feeless offer.", "en", m) == ["fees"]
    assert themes_of("Vrsta je bila čakalna.", "sl", m) == []  # words not in order


def test_editor_grid_round_trip() -> None:
    frame = taxonomy_frame(DEFAULT_TAXONOMY)
    assert list(frame.columns) == ["theme", "label", "en", "no", "da", "sv", "sl"]
    back = taxonomy_from_frame(frame)
    assert back.digest() == DEFAULT_TAXONOMY.digest()


def test_editor_grid_edits() -> None:
    frame = taxonomy_frame(DEFAULT_TAXONOMY)
    frame.loc[frame["theme"] == "delivery", "no"] += ", postkontor"
    new_row = {
        "theme": None,
        "label": "Gift wrapping",
        "en": "giftwrap*, wrapping",
        "no": "gaveinnpakning",
        "da": None,
        "sv": "",
        "sl": None,
    }
    blank = dict.fromkeys(frame.columns)
    frame = pd.concat([frame, pd.DataFrame([new_row, blank])], ignore_index=True)
    tax = taxonomy_from_frame(frame)
    assert "postkontor" in dict((t.id, t) for t in tax.themes)["delivery"].keywords["no"]
    gift = tax.themes[-1]
    assert (gift.id, gift.label) == ("gift_wrapping", "Gift wrapping")
    assert gift.keywords == {"en": ("giftwrap*", "wrapping"), "no": ("gaveinnpakning",)}
    assert tax.digest() != DEFAULT_TAXONOMY.digest()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"theme": "Bad Id!", "label": "x", "en": "a"}], "theme id"),
        ([{"theme": "a", "label": "x", "en": "b"}, {"theme": "a", "label": "y", "en": "c"}],
         "appears twice"),
        ([{"theme": "a", "label": "x", "en": "**"}], "only wildcards"),
        ([{"theme": "a", "label": "x", "en": "two word*"}], "phrase"),
    ],
)  # fmt: skip
def test_editor_grid_errors_name_the_problem(rows: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        taxonomy_from_frame(pd.DataFrame(rows))


def test_saved_file_is_used_and_default_without_it(tmp_path: Path) -> None:
    assert load_taxonomy(tmp_path) is DEFAULT_TAXONOMY
    tax = Taxonomy((Theme("delivery", "Levering", {"no": ("levering",)}),))
    path = save_taxonomy(tax, tmp_path)
    assert path == taxonomy_path(tmp_path) == tmp_path / "taxonomy.json"
    assert json.loads(path.read_text(encoding="utf-8"))["themes"][0]["label"] == "Levering"
    assert load_taxonomy(tmp_path).digest() == tax.digest()
    assert not list(tmp_path.glob("*.tmp"))


def test_a_broken_file_is_reported_with_its_path(tmp_path: Path) -> None:
    taxonomy_path(tmp_path).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"taxonomy\.json"):
        load_taxonomy(tmp_path)
    with pytest.raises(ValueError, match="themes"):
        taxonomy_from_json({"version": 1})
