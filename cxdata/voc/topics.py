"""Automatic themes per language: TF-IDF over lemmas + non-negative matrix factorisation.

For one language, with documents d (a comment's lemmas without stop words) and terms w:

    tf-idf(d, w) = (1 + ln tf(d, w)) · idf(w),  idf(w) = ln((1 + N) / (1 + df(w))) + 1,
    each row L2-normalised (scikit-learn's TfidfVectorizer, sublinear_tf, smooth_idf);
    X ≈ W · H with W, H ≥ 0 (NMF, Frobenius loss, NNDSVDa start, fixed seed),

H (k × terms) holds the k themes, W (documents × k) each comment's weight on each theme.
A theme's label is its TOP_TERMS heaviest terms. A comment carries theme j when
W[d, j] ≥ ASSIGN_SHARE · max_j W[d, j] and W[d, j] > 0 (several themes are possible).

The model (vocabulary, idf, H) is kept so that comments imported later are placed on the
same themes (W for fixed H) instead of re-fitting and renumbering them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

DEFAULT_THEMES = 10
"""Themes fitted per language (fewer when there are few comments)."""
MIN_DOCUMENTS = 50
"""A language needs this many comments with content words to get automatic themes."""
DOCS_PER_THEME = 25
MAX_FIT_DOCUMENTS = 20_000
"""The model is fitted on a random sample of at most this many comments."""
TOP_TERMS = 3
ASSIGN_SHARE = 0.5
SEED = 7


@dataclass(frozen=True)
class TopicModel:
    """One language's fitted themes: terms with idf, and H (themes × terms)."""

    language: str
    vocabulary: tuple[str, ...]
    idf: np.ndarray
    components: np.ndarray

    @property
    def size(self) -> int:
        """Number of themes."""
        return int(self.components.shape[0])

    def theme_ids(self) -> list[str]:
        """Stable ids: auto:<language>:<number>."""
        return [theme_id(self.language, j) for j in range(self.size)]

    def labels(self, top: int = TOP_TERMS) -> list[str]:
        """Each theme's `top` heaviest terms joined by " · " (made unique per language)."""
        out: list[str] = []
        for row in self.components:
            order = np.argsort(-row, kind="stable")[:top]
            label = " · ".join(self.vocabulary[i] for i in order if row[i] > 0) or "(empty)"
            while label in out:
                label += "′"
            out.append(label)
        return out

    def top_terms(self, top: int = 8) -> list[list[str]]:
        """Each theme's `top` heaviest terms."""
        return [
            [self.vocabulary[i] for i in np.argsort(-row, kind="stable")[:top] if row[i] > 0]
            for row in self.components
        ]


def theme_id(language: str, number: int) -> str:
    """The id of automatic theme `number` of a language, e.g. "auto:no:03"."""
    return f"auto:{language}:{number:02d}"


def theme_count(documents: int, wanted: int = DEFAULT_THEMES) -> int:
    """k = min(wanted, documents // DOCS_PER_THEME), at least 2."""
    return max(2, min(wanted, documents // DOCS_PER_THEME))


def fitted_topics(
    documents: Sequence[str], language: str, themes: int = DEFAULT_THEMES, seed: int = SEED
) -> TopicModel | None:
    """Fit themes on `documents` (space-separated lemmas, stop words removed; duplicates
    count, so frequent comments weigh more); None when there are fewer than MIN_DOCUMENTS
    non-empty documents or too few shared terms."""
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [d for d in documents if d]
    if len(docs) < MIN_DOCUMENTS:
        return None
    rng = np.random.default_rng(seed)
    if len(docs) > MAX_FIT_DOCUMENTS:
        docs = [docs[i] for i in rng.choice(len(docs), MAX_FIT_DOCUMENTS, replace=False)]
    min_df = max(2, int(0.001 * len(docs)))
    vectorizer = TfidfVectorizer(
        tokenizer=str.split,
        token_pattern=None,
        lowercase=False,
        sublinear_tf=True,
        min_df=min_df,
        max_df=0.5,
    )
    try:
        x = vectorizer.fit_transform(docs)
    except ValueError:  # no term in at least min_df documents
        return None
    k = min(theme_count(len(docs), themes), x.shape[1] - 1)
    if k < 2:
        return None
    nmf = NMF(n_components=k, init="nndsvda", max_iter=400, random_state=seed)
    with np.errstate(invalid="ignore"):  # sklearn's error norm: sqrt of a tiny negative
        nmf.fit(x)
    vocab = tuple(vectorizer.get_feature_names_out().tolist())
    return TopicModel(
        language, vocab, vectorizer.idf_.astype(np.float64), nmf.components_.astype(np.float64)
    )


def tfidf_matrix(model: TopicModel, documents: Sequence[str]) -> sparse.csr_matrix:
    """The documents' TF-IDF rows in the model's vocabulary (same formula as the fit)."""
    index = {t: i for i, t in enumerate(model.vocabulary)}
    rows, cols, vals = [], [], []
    for r, doc in enumerate(documents):
        counts: dict[int, int] = {}
        for term in doc.split():
            i = index.get(term)
            if i is not None:
                counts[i] = counts.get(i, 0) + 1
        for i, c in counts.items():
            rows.append(r)
            cols.append(i)
            vals.append((1.0 + np.log(c)) * model.idf[i])
    x = sparse.csr_matrix((vals, (rows, cols)), shape=(len(documents), len(model.vocabulary)))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return sparse.diags(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)) @ x


def topic_weights(model: TopicModel, documents: Sequence[str]) -> np.ndarray:
    """W (documents × themes) for the model's fixed H: min ‖X − W·H‖² over W ≥ 0."""
    from sklearn.decomposition import non_negative_factorization

    if not documents:
        return np.zeros((0, model.size))
    x = tfidf_matrix(model, documents)
    w, _, _ = non_negative_factorization(
        x,
        H=model.components,
        n_components=model.size,
        update_H=False,
        init="custom",
        max_iter=400,
        random_state=SEED,
    )
    return np.asarray(w)


def assigned_topics(weights: np.ndarray, share: float = ASSIGN_SHARE) -> list[list[int]]:
    """Per document, the themes j with W[d, j] > 0 and W[d, j] ≥ share · max W[d, ·]."""
    out: list[list[int]] = []
    for row in weights:
        top = row.max() if row.size else 0.0
        out.append([] if top <= 0 else [int(j) for j in np.flatnonzero(row >= share * top)])
    return out


# --- storage as frames ------------------------------------------------------------------


def model_frames(model: TopicModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(themes, terms) frames of a model: themes = language, theme, label, terms, position;
    terms = language, term, idf, theme, weight (one row per non-zero H entry, plus one row
    with theme None for a term that no theme uses, so the vocabulary is complete)."""
    ids = model.theme_ids()
    themes = pd.DataFrame(
        {
            "language": model.language,
            "theme": ids,
            "label": model.labels(),
            "terms": [", ".join(t) for t in model.top_terms()],
            "position": np.arange(model.size, dtype=np.int64),
        }
    )
    parts = []
    for i, term in enumerate(model.vocabulary):
        col = model.components[:, i]
        nz = np.flatnonzero(col > 0)
        if nz.size == 0:
            parts.append((term, model.idf[i], None, 0.0))
        parts.extend((term, model.idf[i], ids[j], float(col[j])) for j in nz)
    terms = pd.DataFrame(parts, columns=["term", "idf", "theme", "weight"])
    terms.insert(0, "language", model.language)
    return themes, terms


def model_from_frames(
    language: str, themes: pd.DataFrame, terms: pd.DataFrame
) -> TopicModel | None:
    """One language's model back from its stored themes and terms frames (None when the
    language has no themes)."""
    own = themes[themes["language"] == language]
    rows = terms[terms["language"] == language]
    if own.empty or rows.empty:
        return None
    position = dict(zip(own["theme"], own["position"].astype(int), strict=True))
    vocab = tuple(sorted(rows["term"].unique()))
    index = {t: i for i, t in enumerate(vocab)}
    used = rows[rows["theme"].isin(list(position))]
    h = np.zeros((len(position), len(vocab)))
    h[
        used["theme"].map(position).to_numpy(dtype=np.int64),
        used["term"].map(index).to_numpy(dtype=np.int64),
    ] = used["weight"].to_numpy(dtype=np.float64)
    idf = rows.groupby("term")["idf"].first().reindex(list(vocab)).to_numpy(dtype=np.float64)
    return TopicModel(language, vocab, idf, h)
