"""Does the taxonomy fit these comments? Three signs that it does not, each a sentence the
Themes view shows with what to do.

Inside the filters, over the analysed comments C (impact.analysed):

1. coverage:  matched = |comments of C with at least one taxonomy theme|;
              poor when 100 · matched / |C| < MIN_MATCHED_PCT;
2. topics:    the automatic themes (fitted on the data itself, cxdata.voc.topics) whose top
              terms contain no taxonomy keyword are what customers talk about that the
              taxonomy has no theme for; poor when the comments carrying such a theme are
              ≥ MAX_UNMATCHED_TOPIC_PCT % of C (retail themes on airline reviews: seat ·
              legroom, crew · cabin … match nothing, while "return flight" is counted as
              Returns & refunds);
3. languages: comments of C analysed in a language for which the taxonomy has no keyword
              can never carry a taxonomy theme; poor when ≥ MAX_UNCOVERED_LANGUAGE_PCT % of C.

Counted in the engine (three grouped queries); shares in percent of |C|.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxdata.filters import NOT_SET, Filters
from cxdata.store import Store
from cxdata.voc import impact, masked, tables
from cxdata.voc.language import language_name
from cxdata.voc.taxonomy import Taxonomy, load_taxonomy, taxonomy_dir
from cxdata.voc.tokens import words

MIN_MATCHED_PCT = 50.0
MAX_UNMATCHED_TOPIC_PCT = 40.0
MAX_UNCOVERED_LANGUAGE_PCT = 20.0
EXAMPLES = 3  # unmatched automatic themes named in the sentence


@dataclass(frozen=True)
class TaxonomyFit:
    """How well the taxonomy covers the analysed comments inside the filters: counts of
    comments (|C|, with a taxonomy theme, carrying an automatic theme that no keyword
    matches, in a language without keywords), those themes' labels (largest first), those
    languages, and `problems`: one plain sentence per sign of a poor fit (empty = fits)."""

    comments: int
    matched: int
    unmatched_topic_comments: int
    unmatched_topics: tuple[str, ...]
    topics: int
    uncovered_language_comments: int
    uncovered_languages: tuple[str, ...]
    problems: tuple[str, ...]


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def taxonomy_fit(store: Store, filters: Filters) -> TaxonomyFit:
    """The TaxonomyFit of the analysed comments inside `filters` (NoData when no themes
    are computed)."""
    base = impact.analysed(store, filters)
    ct = store.table(tables.THEMES)
    tax = load_taxonomy(taxonomy_dir(store))
    unmatched: list[str] = []
    topic_ids: list[str] = []
    n_topics = 0
    if store.has(tables.TOPICS):
        topics = store.small_table(tables.TOPICS)
        n_topics = len(topics)
        for _, t in topics.iterrows():
            terms = [w for term in str(t["terms"]).split(",") for w in words(term)]
            if not keyword_in(terms, tax, str(t["language"])):
                topic_ids.append(str(t["theme"]))
                unmatched.append(str(t["label"]))
    auto = ct.filter((ct.source == "auto") & ct.theme.isin(topic_ids) if topic_ids
                     else ibis.literal(False))  # fmt: skip
    rows = impact.counted_rows(store, filters)
    from_masks = masked.one_snapshot(store, lambda: _counts_from_masks(store, rows, topic_ids))
    by_lang = (_counts_by_language(base, ct, auto) if from_masks is None
               else from_masks[0])
    # largest first: the order the uncovered languages are named in
    by_lang = by_lang.sort_values(["n", "voc_language"], ascending=[False, True],
                                  ignore_index=True)
    comments, matched = int(by_lang["n"].sum()), int(by_lang["matched"].sum())
    topic_n = int(by_lang["unmatched_topic"].sum())

    covered = {lang for t in tax.themes for lang, kws in t.keywords.items() if kws}
    missing = by_lang[~by_lang["voc_language"].isin(covered) & by_lang["voc_language"].notna()]
    uncovered_n = int(missing["n"].sum())
    uncovered_langs = tuple(language_name(str(c)) for c in missing["voc_language"])

    labels: tuple[str, ...] = ()
    if topic_ids and topic_n:
        if from_masks is None:
            sizes = (
                base.inner_join(auto.select("response_id", "theme"), "response_id")
                .group_by("theme")
                .aggregate(n=ibis._.count())
                .to_pandas()
            )
            size = dict(zip(sizes["theme"], sizes["n"], strict=True))
        else:
            size = from_masks[1]
        order = sorted(range(len(topic_ids)), key=lambda i: -size.get(topic_ids[i], 0))
        labels = tuple(unmatched[i] for i in order if size.get(topic_ids[i], 0) > 0)
    return TaxonomyFit(
        comments=comments,
        matched=matched,
        unmatched_topic_comments=topic_n,
        unmatched_topics=labels,
        topics=n_topics,
        uncovered_language_comments=uncovered_n,
        uncovered_languages=tuple(x for x in uncovered_langs if x != NOT_SET),
        problems=fit_problems(comments, matched, topic_n, labels, uncovered_n, uncovered_langs),
    )


def _counts_from_masks(
    store: Store, base: ir.Table | None, topic_ids: list[str]
) -> tuple[pd.DataFrame, dict[str, int]] | None:
    """What _counts_by_language gives, and the mentions of each automatic theme in
    `topic_ids`, from one grouping of `base`, the answers with their stored masks
    (impact.counted_rows; cxdata.voc.masked). None when the masks are not stored, or the
    taxonomy's or those themes' bits span more than one word (then "with any of them" is
    not one mask test)."""
    bits = masked.stored_bits(store)
    if bits is None or base is None:
        return None
    tax = bits[bits["source"] == "taxonomy"]
    topics = bits[(bits["source"] == "auto") & bits["theme"].isin(topic_ids)]
    if tax["word"].nunique() > 1 or topics["word"].nunique() > 1:
        return None
    total = int((tax if len(tax) else bits)["word"].min())
    words = {total, *(int(w) for w in topics["word"])}
    # the rows the impact ranking, trend and matrix count (impact.counted_rows): their
    # counts of these words come from this one join
    per = masked.mask_counts(store, base, ["voc_language"], sorted(words))
    word, mask = per["word"].to_numpy(), per["mask"].to_numpy()
    n = per["n"].to_numpy()
    topic_mask = sum(1 << int(b) for b in topics["bit"])
    topic_word = int(topics["word"].iloc[0]) if len(topics) else None
    on_total = word == total
    flags = pd.DataFrame({
        "voc_language": per["voc_language"],
        "n": np.where(on_total, n, 0),
        # the taxonomy's word holds only its own themes: any bit set is a taxonomy theme
        "matched": np.where(on_total & (mask != 0), n, 0) if len(tax) else 0,
        "unmatched_topic": np.where((word == topic_word) & (mask & topic_mask != 0), n, 0),
    })
    by_lang = flags.groupby("voc_language", dropna=False, as_index=False, sort=False).sum()
    size = {
        str(t.theme): int(n[(word == int(t.word)) & ((mask >> int(t.bit)) & 1 == 1)].sum())
        for t in topics.itertuples(index=False)
    }
    return by_lang[by_lang["n"] > 0].reset_index(drop=True), size


def _counts_by_language(base: ir.Table, themes: ir.Table, auto: ir.Table) -> pd.DataFrame:
    """Per analysed language (`voc_language`) of `base`: n comments, `matched` (with a
    taxonomy theme) and `unmatched_topic` (with one of the automatic themes `auto`), from
    one pass over `base` (the fit read it once per count before: five joins at 10M)."""
    tax_ids = themes.filter(themes.source == "taxonomy").select("response_id").distinct()
    auto_ids = auto.select("response_id").distinct()
    flagged = base.mutate(
        _tax=base.response_id.isin(tax_ids.response_id),
        _auto=base.response_id.isin(auto_ids.response_id),
    )
    return (
        flagged.group_by("voc_language")
        .aggregate(
            n=flagged.count(),
            matched=flagged._tax.cast("int64").sum(),
            unmatched_topic=flagged._auto.cast("int64").sum(),
        )
        .to_pandas()
    )


def _hit(term: str, keyword: str) -> bool:
    """Whether one topic term (a lemma) is a keyword of the taxonomy syntax: equal, or
    matching its word*, *word or *word* pattern (phrases are not single terms)."""
    core = keyword.strip("*")
    if keyword.startswith("*") and keyword.endswith("*"):
        return core in term
    if keyword.endswith("*"):
        return term.startswith(core)
    if keyword.startswith("*"):
        return term.endswith(core)
    return term == keyword


def keyword_in(terms: list[str], taxonomy: Taxonomy, language: str) -> bool:
    """Whether any of `terms` (an automatic theme's top terms, lemmas) is a keyword of
    `taxonomy` in `language`. Compared as written, without lemmatising the keywords:
    they are base forms already, and loading the lemma dictionaries would cost seconds
    on a page view."""
    keywords = [kw for t in taxonomy.themes for kw in t.keywords.get(language, ())]
    return any(_hit(term, kw) for term in terms for kw in keywords if " " not in kw)


def fit_problems(
    comments: int,
    matched: int,
    topic_comments: int,
    topic_labels: tuple[str, ...],
    language_comments: int,
    languages: tuple[str, ...],
) -> tuple[str, ...]:
    """The sentences of the signs of a poor fit (see the module docstring), with counts."""
    if comments == 0:
        return ()
    out = []
    share = _pct(matched, comments)
    if share < MIN_MATCHED_PCT:
        out.append(
            f"only {share:.0f}% of the {comments:,} analysed comments ({matched:,}) mention "
            "any taxonomy theme"
        )
    topic_share = _pct(topic_comments, comments)
    if topic_labels and topic_share >= MAX_UNMATCHED_TOPIC_PCT:
        examples = "; ".join(f"“{label}”" for label in topic_labels[:EXAMPLES])
        out.append(
            f"{topic_share:.0f}% of the comments ({topic_comments:,}) are about topics found "
            f"in the data that no taxonomy keyword matches, e.g. {examples}"
        )
    lang_share = _pct(language_comments, comments)
    if lang_share >= MAX_UNCOVERED_LANGUAGE_PCT:
        out.append(
            f"{lang_share:.0f}% of the comments ({language_comments:,}) are in "
            f"{', '.join(languages)}, for which the taxonomy has no keywords"
        )
    return tuple(out)
