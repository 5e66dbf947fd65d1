"""Theme ids → readable labels: taxonomy themes from the taxonomy file, automatic themes
from the stored models (their top terms)."""

from __future__ import annotations

from cxdata.store import Store
from cxdata.voc import tables
from cxdata.voc.taxonomy import load_taxonomy, taxonomy_dir


def theme_labels(store: Store) -> dict[str, str]:
    """Every known theme id → its label ("delivery" → "Delivery", "auto:no:03" →
    "levering · pakke · dag")."""
    labels = load_taxonomy(taxonomy_dir(store)).labels()
    if store.has(tables.TOPICS):
        topics = store.small_table(tables.TOPICS)
        labels |= dict(zip(topics["theme"].astype(str), topics["label"].astype(str), strict=True))
    return labels


def label_of(theme: str, labels: dict[str, str]) -> str:
    """The label of a theme id, the id itself when unknown (e.g. removed from the taxonomy
    but still matched until the next re-match)."""
    return labels.get(theme, theme)
