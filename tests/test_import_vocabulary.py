"""The data files people extend by hand (vocabulary.toml, platforms.toml) stay consistent:
entries folded as they are matched, no answer label with two meanings, every platform's
id and date columns among the headers it is recognised by or plausible ones."""

from __future__ import annotations

import tomllib

import pytest

from cxdata.importing.names import folded
from cxdata.importing.platforms import PLATFORMS_FILE, platforms, recognise
from cxdata.importing.vocab import VOCABULARY_FILE, asks_about, label_key, vocabulary


def test_vocabulary_parses_and_is_folded() -> None:
    vocab = vocabulary()
    assert {"nps", "csat", "ces", "submitted_at", "comment"} <= set(vocab.fields["responses"])
    for aliases in [*vocab.fields["responses"].values(), *vocab.segments.values()]:
        for word in (*aliases.phrases, *aliases.words, *aliases.stems):
            assert word == folded(word), word


def test_each_answer_label_has_one_value_per_scale() -> None:
    for scale in vocabulary().labels:
        seen: dict[str, int] = {}
        for i, labels in enumerate(scale.points):
            for label in labels:
                assert seen.setdefault(label, i) == i, (scale.name, label)
        assert not set(seen) & scale.none, scale.name
        assert not set(seen) & vocabulary().missing_texts, scale.name


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("How likely are you to recommend us to a friend?", "recommend"),
        ("Hvor sannsynlig er det at du vil anbefale oss?", "recommend"),
        ("Wie wahrscheinlich ist es, dass Sie uns weiterempfehlen?", "recommend"),
        ("Quelle est la probabilité que vous recommandiez …", "recommend"),
        ("Hoe waarschijnlijk is het dat u ons aanbeveelt?", "recommend"),
        ("survey_q6_nps", "recommend"),
        ("Hvor fornøyd er du?", "satisfied"),
        ("Wie zufrieden sind Sie?", "satisfied"),
        ("Kako ste zadovoljni?", "satisfied"),
        ("It was easy to get my issue resolved", "easy"),
        ("Det var enkelt å …", "easy"),
    ],
)
def test_question_meaning(text: str, what: str) -> None:
    assert asks_about(text, what)
    others = {"recommend", "satisfied", "easy"} - {what}
    assert not any(asks_about(text, o) for o in others)


def test_label_keys_ignore_numbering_and_case() -> None:
    assert label_key("5 - Very satisfied") == "very satisfied"
    assert label_key("Svært fornøyd.") == "svaert fornoyd"
    assert label_key("10") == "10"


def test_platform_file_is_consistent() -> None:
    raw = tomllib.loads(PLATFORMS_FILE.read_text(encoding="utf-8"))
    assert len(platforms()) == len(raw)
    for p in platforms():
        assert p.requires <= p.fingerprint, p.key
        assert 1 <= p.min_hits <= len(p.fingerprint), p.key
        assert p.date, p.key
        if p.date_order:
            assert p.date_order in ("dmy", "mdy"), p.key


def test_platform_recognition_needs_enough_of_the_fingerprint() -> None:
    assert (
        recognise(["Respondent ID", "Collector ID", "Start Date", "End Date"]).label
        == "SurveyMonkey"
    )
    assert recognise(["Respondent ID", "Score"]) is None
    assert recognise(["id", "date", "nps"]) is None
    assert VOCABULARY_FILE.is_file()
