"""Every comment of a frame → language, sentiment and themes (no store involved).

Work is done once per distinct text (language detection, sentiment) or distinct
(text, language) pair (words, lemmas, taxonomy, automatic themes) and then spread back to
the responses: survey comments repeat a lot ("Fast delivery."), and the result of a text
does not depend on who wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxdata.voc import topics
from cxdata.voc.language import ANALYSED, chosen_languages, detected_language
from cxdata.voc.sentiment import lexicon_sentiment
from cxdata.voc.stopwords import stop_words
from cxdata.voc.taxonomy import Matcher, matched_themes
from cxdata.voc.tokens import lemmas, words

Progress = Callable[[float, str], None]
"""progress(fraction done in [0, 1], what is being done)."""
INPUT_COLUMNS: tuple[str, ...] = ("response_id", "comment", "language", "fingerprint")
_EVERY = 2_000  # report progress every this many items


@dataclass
class Analysis:
    """Per-comment results (voc_comments rows), per-theme rows (comment_themes rows) and
    the automatic-theme models used, by language."""

    comments: pd.DataFrame
    themes: pd.DataFrame
    models: dict[str, topics.TopicModel] = field(default_factory=dict)


def silent(_fraction: float, _message: str) -> None:
    """A progress callback that ignores everything."""


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """A progress callback mapping [0, 1] onto [start, end] of `progress`."""

    def report(fraction: float, message: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)

    return report


def content_document(tokens: list[str], token_lemmas: list[str], language: str | None) -> str:
    """The lemmas that carry content: no stop word (surface or lemma), at least 2 letters,
    space-separated — what the automatic themes are fitted on."""
    stops = stop_words(language)
    return " ".join(
        lem
        for tok, lem in zip(tokens, token_lemmas, strict=True)
        if len(lem) > 1 and tok not in stops and lem not in stops
    )


def analysed_comments(
    frame: pd.DataFrame,
    matcher: Matcher,
    models: Mapping[str, topics.TopicModel] | None = None,
    *,
    auto_themes: int = topics.DEFAULT_THEMES,
    progress: Progress = silent,
) -> Analysis:
    """Language, sentiment, taxonomy themes and automatic themes of every comment.

    `frame` has INPUT_COLUMNS (language = the label stored with the response, may be
    missing). With `models` None, automatic themes are fitted per analysed language on
    these comments; otherwise the given models are used (a language without one gets no
    automatic themes). The work is analysed_pairs on the distinct (comment, language)
    pairs, spread back to the rows.
    """
    frame = frame.reset_index(drop=True)
    n = len(frame)
    given = frame["language"] if "language" in frame else pd.Series([None] * n, dtype="object")
    text_code, _ = pd.factorize(frame["comment"].astype("object"))
    label_code, _ = pd.factorize(given.astype("object"), use_na_sentinel=False)
    rows, _ = pd.factorize(pd.MultiIndex.from_arrays([text_code, label_code]))
    first = np.unique(rows, return_index=True)[1]  # codes are numbered in order of appearance
    pairs = pd.DataFrame(
        {
            "comment": frame["comment"].astype("object").to_numpy()[first],
            "language": given.astype("object").to_numpy()[first],
        }
    )
    result = analysed_pairs(
        pairs, rows, matcher, models, auto_themes=auto_themes, progress=progress
    )
    per_pair = result.pairs
    comments = pd.DataFrame(
        {
            "response_id": frame["response_id"].astype("object"),
            "fingerprint": frame["fingerprint"].astype("object"),
            **{c: per_pair[c].take(rows).reset_index(drop=True) for c in PAIR_COLUMNS},
        }
    )
    themes = _theme_rows(frame["response_id"], rows, result.themes)
    progress(1.0, f"{n:,} comments analysed")
    return Analysis(comments, themes, result.models)


PAIR_COLUMNS: tuple[str, ...] = (
    "language", "language_source", "detected_language", "detected_confidence", "sentiment",
)  # fmt: skip
"""The per-comment results (voc_comments columns) that depend only on the (text, stored
language) pair."""


@dataclass
class PairAnalysis:
    """Results per distinct (comment, stored language) pair, in the order given: `pairs`
    has PAIR_COLUMNS (one row per pair, positions as given), `themes` one row per (pair,
    theme) — pair (position), theme, source, language — and `models` the automatic-theme
    models used, by language."""

    pairs: pd.DataFrame
    themes: pd.DataFrame
    models: dict[str, topics.TopicModel] = field(default_factory=dict)


def analysed_pairs(
    pairs: pd.DataFrame,
    rows: np.ndarray | None,
    matcher: Matcher,
    models: Mapping[str, topics.TopicModel] | None = None,
    *,
    auto_themes: int = topics.DEFAULT_THEMES,
    progress: Progress = silent,
) -> PairAnalysis:
    """analysed_comments for the distinct (comment, stored language) pairs of the comments:
    every result of a comment depends only on its text and the language label stored with
    it, so a caller analyses the pairs and spreads the results to the responses itself (the
    store does it inside the engine, cxdata.voc.persist).

    `pairs` has columns comment and language (the stored label, None when missing), one row
    per distinct pair, in the order each pair first occurs among the comments; `rows` holds,
    for every comment in order, the position of its pair (integers). The automatic themes
    are fitted on one document per comment, as analysed_comments does (repeats weigh, and
    the same sample is drawn), so `rows` is needed when `models` is None; with `models`
    given it is not used. Results are then exactly those analysed_comments gives the same
    comments in the same order. ValueError when `models` and `rows` are both None.
    """
    if models is None and rows is None:
        raise ValueError("fitting automatic themes needs the pair of every comment (rows)")
    pairs = pairs.reset_index(drop=True)
    n = len(pairs)
    texts = pairs["comment"].astype("object")
    text_code, unique_texts = pd.factorize(texts)

    # 1. language of each distinct text, then the language each pair is analysed in
    progress(0.0, f"detecting the language of {len(unique_texts):,} distinct comments")
    det_lang: list[str | None] = []
    det_conf: list[float] = []
    for i, text in enumerate(unique_texts):
        d = detected_language(text)
        det_lang.append(d.language)
        det_conf.append(d.confidence)
        if i % _EVERY == 0:
            progress(0.3 * i / max(len(unique_texts), 1), "detecting languages")
    detected = pd.Series(np.asarray(det_lang, dtype=object)[text_code], dtype="object")
    confidence = pd.Series(np.asarray(det_conf, dtype=np.float64)[text_code])
    given = pairs["language"] if "language" in pairs else pd.Series([None] * n, dtype="object")
    language, source = chosen_languages(given.reset_index(drop=True), detected, confidence)

    # 2. words, lemmas, taxonomy, sentiment and content words per (text, language)
    pair_code, keys = pd.factorize(
        pd.MultiIndex.from_arrays([text_code, language.fillna("").to_numpy()])
    )
    m = len(keys)
    progress(0.3, f"reading {m:,} distinct comment texts")
    pair_themes: list[list[str]] = []
    pair_docs: list[str] = []
    pair_sentiment = np.full(m, np.nan)
    for i, (tcode, lang) in enumerate(keys):
        lang = lang or None
        text = str(unique_texts[tcode])
        toks = words(text)
        lems = lemmas(toks, lang)
        pair_themes.append(matched_themes(toks, lems, lang, matcher))
        pair_docs.append(content_document(toks, lems, lang) if lang in ANALYSED else "")
        score = lexicon_sentiment(text, lang)
        if score is not None:
            pair_sentiment[i] = score
        if i % _EVERY == 0:
            progress(0.3 + 0.4 * i / max(m, 1), "lemmatising, matching the taxonomy")
    pair_lang = np.asarray([lang or None for _, lang in keys], dtype=object)

    # 3. automatic themes per language: fit on every comment (repeats weigh), place pairs
    used: dict[str, topics.TopicModel] = {}
    pair_auto: list[list[str]] = [[] for _ in range(m)]
    row_pair = pair_code[rows] if models is None and rows is not None else np.array([], int)
    doc_array = np.asarray(pair_docs, dtype=object)
    for k, lang in enumerate(ANALYSED):
        progress(0.7 + 0.25 * k / len(ANALYSED), f"automatic themes ({lang})")
        if models is None:
            in_lang = row_pair[(pair_lang == lang)[row_pair]] if m else row_pair
            model = topics.fitted_topics(list(doc_array[in_lang]), lang, auto_themes)
        else:
            model = models.get(lang)
        if model is None:
            continue
        used[lang] = model
        idx = np.flatnonzero(pair_lang == lang)
        weights = topics.topic_weights(model, [pair_docs[i] for i in idx])
        ids = model.theme_ids()
        for i, chosen in zip(idx, topics.assigned_topics(weights), strict=True):
            pair_auto[i] = [ids[j] for j in chosen]

    # 4. results per given pair
    progress(0.95, "assembling the results")
    results = pd.DataFrame(
        {
            "language": language,
            "language_source": source,
            "detected_language": detected,
            "detected_confidence": confidence,
            "sentiment": pair_sentiment[pair_code] if m else np.array([], np.float64),
        }
    )
    per_key = [
        (i, theme, src)
        for i, (tax, auto) in enumerate(zip(pair_themes, pair_auto, strict=True))
        for theme, src in [*((t, "taxonomy") for t in tax), *((t, "auto") for t in auto)]
    ]
    key_themes = pd.DataFrame(per_key, columns=["key", "theme", "source"])
    key_themes["language"] = pair_lang[key_themes["key"].to_numpy(dtype=np.int64)]
    themes = (
        pd.DataFrame({"pair": np.arange(n), "key": pair_code})
        .merge(key_themes, on="key", how="inner")
        .drop(columns="key")
    )
    return PairAnalysis(results, themes, used)


def _theme_rows(
    response_ids: pd.Series, row_pair: np.ndarray, pair_themes: pd.DataFrame
) -> pd.DataFrame:
    """comment_themes rows: every response × each theme of its pair (PairAnalysis.themes)."""
    if pair_themes.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype="object") for c in ("response_id", "theme", "source", "language")}
        )
    rows = pd.DataFrame(
        {"response_id": response_ids.astype("object").to_numpy(), "pair": row_pair}
    )
    out = rows.merge(pair_themes, on="pair", how="inner").drop(columns="pair")
    return out.drop_duplicates(["response_id", "theme"], ignore_index=True)
