"""The stored voice-of-the-customer results: table names and columns.

- COMMENTS (`voc_comments`): one row per analysed comment —
  response_id, fingerprint (of the comment text, to notice an edited or replaced comment),
  language (the one analysed in), language_source ("given" | "detected" | None),
  detected_language, detected_confidence, sentiment (VADER compound; NULL = no lexicon);
- THEMES (`comment_themes`): one row per (comment, theme) —
  response_id, theme, source ("taxonomy" | "auto"), language;
- TOPICS (`voc_topics`): the automatic themes — language, theme, label, terms, position;
- TOPIC_TERMS (`voc_topic_terms`): their model — language, term, idf, theme, weight;
- RUNS (`voc_runs`): one row per computation — run_at, kind, comments, themes,
  taxonomy (digest of the taxonomy used), seconds;
- BITS (`voc_theme_bits`): each stored (source, theme) numbered — word, bit (< MASK_BITS);
  a source's themes take words of their own, so one source's first 62 themes share one;
- MASKS (`voc_theme_masks`): one row per (analysed comment, word) — response_id, word,
  mask (the sum of 2**bit over the comment's themes in that word; 0: none of them), and
  the comment's voc_language and sentiment (COMMENTS' language and sentiment, so the
  theme counts join the responses with MASKS alone; stores derived before hold only the
  first three and are read with COMMENTS).
  BITS and MASKS restate THEMES ⋈ COMMENTS so that key drivers is one join and one
  grouping; they are derived in the same transaction as every write of THEMES (embedded
  store only: a warehouse never has them and key drivers reads THEMES itself).

The detected language also fills `responses.language` where it is missing (embedded
store); on a warehouse the responses are never modified and the language is read from
`voc_comments`.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

COMMENTS = "voc_comments"
THEMES = "comment_themes"
TOPICS = "voc_topics"
TOPIC_TERMS = "voc_topic_terms"
RUNS = "voc_runs"
BITS = "voc_theme_bits"
MASKS = "voc_theme_masks"
ALL: tuple[str, ...] = (COMMENTS, THEMES, TOPICS, TOPIC_TERMS, RUNS, BITS, MASKS)
MASK_BITS = 62  # themes per int64 mask word (the sign bit and one spare unused)

SOURCES: tuple[str, ...] = ("taxonomy", "auto")

SCHEMAS: dict[str, pa.Schema] = {
    COMMENTS: pa.schema([
        ("response_id", pa.string()), ("fingerprint", pa.string()), ("language", pa.string()),
        ("language_source", pa.string()), ("detected_language", pa.string()),
        ("detected_confidence", pa.float64()), ("sentiment", pa.float64()),
    ]),
    THEMES: pa.schema([
        ("response_id", pa.string()), ("theme", pa.string()), ("source", pa.string()),
        ("language", pa.string()),
    ]),
    TOPICS: pa.schema([
        ("language", pa.string()), ("theme", pa.string()), ("label", pa.string()),
        ("terms", pa.string()), ("position", pa.int64()),
    ]),
    TOPIC_TERMS: pa.schema([
        ("language", pa.string()), ("term", pa.string()), ("idf", pa.float64()),
        ("theme", pa.string()), ("weight", pa.float64()),
    ]),
    RUNS: pa.schema([
        ("run_at", pa.timestamp("us")), ("kind", pa.string()), ("comments", pa.int64()),
        ("themes", pa.int64()), ("taxonomy", pa.string()), ("seconds", pa.float64()),
    ]),
    BITS: pa.schema([
        ("source", pa.string()), ("theme", pa.string()), ("word", pa.int64()),
        ("bit", pa.int64()),
    ]),
    MASKS: pa.schema([
        ("response_id", pa.string()), ("word", pa.int64()), ("mask", pa.int64()),
        ("voc_language", pa.string()), ("sentiment", pa.float64()),
    ]),
}  # fmt: skip


def arrow(name: str, frame: pd.DataFrame) -> pa.Table:
    """`frame` as an Arrow table with exactly the columns and types of table `name`
    (NaN and None become NULL)."""
    schema = SCHEMAS[name]
    arrays = [pa.array(frame[f.name], type=f.type, from_pandas=True) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def empty(name: str) -> pd.DataFrame:
    """An empty frame with the columns of table `name`."""
    return pd.DataFrame({f.name: pd.Series(dtype="object") for f in SCHEMAS[name]})
