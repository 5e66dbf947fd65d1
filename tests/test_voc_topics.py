"""Automatic themes: NMF finds the planted topics of a synthetic corpus, labels them with
their top terms, and a stored model places new comments exactly like the fitted one."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from cxdata.voc import topics
from cxdata.voc.pipeline import content_document
from cxdata.voc.tokens import lemmas, words

TOPIC_WORDS = {
    "delivery": ["levering", "pakke", "sen", "bud", "sporing"],
    "app": ["app", "krasj", "innlogging", "oppdatering", "feil"],
    "staff": ["personale", "hyggelig", "hjelpsom", "butikk", "ansatt"],
}


def corpus(n: int, seed: int = 1) -> tuple[list[str], list[str]]:
    """Documents of 4–6 words from one topic each (plus a shared filler word)."""
    rng = np.random.default_rng(seed)
    names = list(TOPIC_WORDS)
    truth = [names[i] for i in rng.integers(0, len(names), n)]
    docs = [" ".join([*rng.choice(TOPIC_WORDS[t], rng.integers(4, 7)), "kunde"]) for t in truth]
    return docs, truth


@pytest.fixture(scope="module")
def model() -> topics.TopicModel:
    docs, _ = corpus(600)
    fitted = topics.fitted_topics(docs, "no", themes=3)
    assert fitted is not None
    return fitted


def test_fitted_topics_recover_the_planted_ones(model: topics.TopicModel) -> None:
    docs, truth = corpus(300, seed=2)
    assigned = topics.assigned_topics(topics.topic_weights(model, docs))
    # map each fitted theme to the planted topic most of its documents come from
    majority = {}
    for j in range(model.size):
        members = [t for t, a in zip(truth, assigned, strict=True) if j in a]
        majority[j] = max(set(members), key=members.count)
    assert sorted(majority.values()) == sorted(TOPIC_WORDS)
    hits = sum(any(majority[j] == t for j in a) for t, a in zip(truth, assigned, strict=True))
    assert hits / len(truth) >= 0.95
    for j, label in enumerate(model.labels()):
        assert set(label.split(" · ")) <= set(TOPIC_WORDS[majority[j]])


def test_shared_filler_word_is_not_a_label(model: topics.TopicModel) -> None:
    assert all("kunde" not in label for label in model.labels())  # max_df drops it


def test_tfidf_matches_scikit_learn(model: topics.TopicModel) -> None:
    docs, _ = corpus(50, seed=3)
    vec = TfidfVectorizer(
        tokenizer=str.split,
        token_pattern=None,
        lowercase=False,
        sublinear_tf=True,
        vocabulary=list(model.vocabulary),
    )
    vec.idf_ = model.idf
    expected = vec.transform(docs).toarray()
    assert np.allclose(topics.tfidf_matrix(model, docs).toarray(), expected)


def test_stored_model_places_comments_like_the_fitted_one(model: topics.TopicModel) -> None:
    themes, terms = topics.model_frames(model)
    assert list(themes["theme"]) == ["auto:no:00", "auto:no:01", "auto:no:02"]
    back = topics.model_from_frames("no", themes, terms)
    assert back is not None and back.size == model.size
    docs, _ = corpus(40, seed=4)
    assert np.allclose(topics.topic_weights(back, docs), topics.topic_weights(model, docs))
    assert back.labels() == model.labels()


def test_too_few_documents_give_no_model() -> None:
    docs, _ = corpus(topics.MIN_DOCUMENTS - 1)
    assert topics.fitted_topics(docs, "no") is None
    assert topics.fitted_topics([""] * 500, "no") is None


def test_assignment_rule() -> None:
    w = np.array([[0.0, 0.0, 0.0], [0.2, 0.11, 0.0], [0.2, 0.09, 0.05]])
    assert topics.assigned_topics(w) == [[], [0, 1], [0]]


def test_content_document_drops_stop_words_in_any_form() -> None:
    tokens = words("Pakken ble levert altfor sent, og jeg ventet i ukevis.")
    doc = content_document(tokens, lemmas(tokens, "no"), "no")
    assert doc.split() == ["pakke", "levere", "sen", "vente", "ukevis"]
