"""The suggested mapping of a file: from its platform (platforms.toml), each column's header
and question text (vocabulary.toml) and what its values look like (columns.py).

Rules that keep numbers honest (each suggestion says why in `note`; doubts go in `warning`):
- a column is NPS only when its header or question asks about recommending AND its values
  fit 0–10 (1–10: NPS with a warning); a 0–10 question about anything else is a rating;
- CSAT and CES come from what the question asks (satisfied / easy), or from answer labels;
  CSAT on another scale keeps its scale (top-2-box rule), CES on 1–5 or 1–10 stays a rating;
- personal data (e-mail, name, phone, IP address, user agent, street address) is left out;
- ids and counts are never ratings; a column unique per row is the response id;
- the answer body is the comment, other answer texts are extra text fields;
- count tables (answers per button per hour) go to the metrics dataset.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cxdata import schema
from cxdata.importing.columns import (
    COUNT_WORDS,
    ID_WORDS,
    ColumnProfile,
    declared_scale,
    observed_scale,
    personal_by_header,
    profile_column,
    scale_text,
    seen_in_values,
)
from cxdata.importing.dates import parse_dates
from cxdata.importing.errors import MappingError
from cxdata.importing.fields import candidates, known_segment, segment_name
from cxdata.importing.mapping import (
    DATASETS,
    FIELDS,
    ID_SCOPE_FILE,
    RATING,
    SPLIT,
    TEXT,
    VALUE,
    ColumnMap,
    Mapping,
)
from cxdata.importing.metrics_suggest import count_columns, suggest_metrics
from cxdata.importing.names import display_name, identifier, tokens
from cxdata.importing.platforms import Platform, header_key, recognise
from cxdata.importing.profiles import matching_profile
from cxdata.importing.readers import Source
from cxdata.importing.vocab import asks_about, channel_name, vocabulary

PERSONAL_LABELS: dict[str, str] = {
    "email": "e-mail",
    "name": "name",
    "phone": "phone number",
    "ip_address": "IP address",
    "user_agent": "user agent",
    "street_address": "street address",
}
STAR_WORDS = frozenset(
    ["star", "stars", "stjerner", "stjerne", "stjarnor", "sterne", "zvezdice", "tahdet"]
)
STAR_HEADERS = frozenset({"rating", "star_rating", "stars", "review_stars", "review_rating"})
TITLE_WORDS = frozenset(
    ["title", "subject", "heading", "headline", "tittel", "rubrik", "naslov", "titel", "otsikko"]
)
SIDE_TEXT_WORDS = frozenset(
    [
        "positive",
        "negative",
        "liked",
        "disliked",
        "pros",
        "cons",
        "positiv",
        "negativ",
        "bra",
        "darlig",
    ]
)
SEGMENT_MAX_DISTINCT = 50
TYPE_WORDS = {"nps": "nps", "csat": "csat", "ces": "ces"}
NPS_ON_ONE_TO_TEN = (
    "asked on 1–10, not 0–10 (a common mistake): counted as NPS "
    "(9–10 promoters, 1–6 detractors), but it is not comparable with 0–10 NPS"
)


def suggested_mapping(
    source: Source, *, dataset: str | None = None, data_dir: str | Path | None = None
) -> Mapping:
    """The saved profile for this file shape if there is one, else a fresh suggestion."""
    if data_dir is not None:
        found = matching_profile(source.headers, data_dir, dataset)
        if found is not None:
            return found
    return suggest_mapping(source, dataset)


def suggest_mapping(source: Source, dataset: str | None = None) -> Mapping:
    """The suggested mapping of `source` onto `dataset` (None: the responses dataset, or
    the metrics dataset for a count table). Raises MappingError for an unknown dataset."""
    if dataset is not None and dataset not in DATASETS:
        raise MappingError(f"unknown dataset {dataset!r}; use {' or '.join(DATASETS)}")
    profiles = {h: profile_column(source.frame[h]) for h in source.headers}
    counts = count_columns(source.headers, profiles)
    if dataset == schema.METRICS or (dataset is None and counts):
        mapping = suggest_metrics(source, profiles, counts)
    else:
        mapping = _suggest_responses(source, profiles)
        if counts:
            mapping.notes.append(
                "this looks like a count table (answers per button): import it as the "
                "metrics dataset, not as one response per row"
            )
    questions = _questions(source)
    for col in mapping.columns:
        col.question = questions.get(col.source, "")
        col.examples = tuple(str(e)[:60] for e in profiles[col.source].examples)
        col.seen = seen_in_values(profiles[col.source])
    _unique_segments(mapping.columns, mapping.dataset)
    mapping.sheet = source.sheet
    return mapping


def _questions(source: Source) -> dict[str, str]:
    found = getattr(source, "questions", None) or {}
    return {h: q for h, q in found.items() if q and q != h}


def _text_of(source: Source, header: str) -> str:
    """Header and question text together: what the column asks."""
    question = _questions(source).get(header, "")
    return f"{header} {question}".strip()


# --- responses -------------------------------------------------------------------------------


class _Chosen:
    """Suggestions made so far, and which canonical fields they took."""

    def __init__(self) -> None:
        self.columns: dict[str, ColumnMap] = {}
        self.taken: set[str] = set()

    def put(self, col: ColumnMap) -> None:
        self.columns[col.source] = col
        if col.to == SPLIT:
            self.taken.update((col.split or {}).values())
        elif col.stored_as in FIELDS[schema.RESPONSES]:
            self.taken.add(str(col.stored_as))

    def free(self, header: str) -> bool:
        return header not in self.columns


def _suggest_responses(source: Source, profiles: dict[str, ColumnProfile]) -> Mapping:
    headers = source.headers
    platform = recognise(headers)
    chosen = _Chosen()
    mapping = Mapping(dataset=schema.RESPONSES, platform=platform.key if platform else None)
    _personal(source, profiles, chosen)
    for h in headers:
        if chosen.free(h) and profiles[h].filled == 0:
            chosen.put(ColumnMap(h, None, note="empty in this file"))
    if platform is not None:
        _platform_columns(platform, source, profiles, chosen, mapping)
    _long_layout(headers, profiles, chosen)
    _dates(source, profiles, chosen)
    for h in headers:
        if chosen.free(h):
            _classify(h, _text_of(source, h), profiles[h], chosen)
    _texts(source, profiles, chosen)
    for h in headers:
        if chosen.free(h):
            chosen.put(_segment_or_nothing(h, profiles[h], chosen))
    mapping.columns = [chosen.columns[h] for h in headers]
    _identity(mapping)
    _date_order(mapping, source, platform)
    return mapping


def _personal(source: Source, profiles: dict[str, ColumnProfile], chosen: _Chosen) -> None:
    for h in source.headers:
        if not chosen.free(h):
            continue
        kind = personal_by_header(h, _questions(source).get(h, "")) or profiles[h].personal
        if kind is None:
            continue
        note = f"personal data ({PERSONAL_LABELS[kind]}): not stored"
        if kind == "email":
            note += "; it can be kept as a salted hash: map it to customer_id with hash on"
        chosen.put(ColumnMap(h, None, note=note))


def _platform_columns(
    platform: Platform,
    source: Source,
    profiles: dict[str, ColumnProfile],
    chosen: _Chosen,
    mapping: Mapping,
) -> None:
    headers = source.headers
    id_col = platform.first(platform.id, headers)
    if id_col and chosen.free(id_col) and profiles[id_col].complete:
        chosen.put(ColumnMap(id_col, "response_id", note=f"{platform.label} response id"))
    date_col = platform.first(platform.date, headers)
    if date_col and chosen.free(date_col):
        chosen.put(ColumnMap(date_col, "submitted_at", note=f"{platform.label} response time"))
    customer = platform.first(platform.customer, headers)
    if customer and chosen.free(customer):
        chosen.put(ColumnMap(customer, "customer_id", note=f"{platform.label} person id"))
    for h in headers:
        if chosen.free(h) and header_key(h) in platform.leave_out:
            chosen.put(ColumnMap(h, None, note=f"{platform.label} metadata"))
    if platform.long_score and platform.long_type:
        score = platform.first((platform.long_score,), headers)
        kind = platform.first((platform.long_type,), headers)
        if score and kind and chosen.free(score):
            _put_split(score, kind, profiles, chosen, f"{platform.label}: ")
    mapping.id_scope = ID_SCOPE_FILE if platform.id_scope == ID_SCOPE_FILE else None


def _long_layout(headers: list[str], profiles: dict[str, ColumnProfile], chosen: _Chosen) -> None:
    """One score column and a column saying which score each row holds (nps/csat/ces)."""
    kinds = [
        h
        for h in headers
        if chosen.free(h)
        and profiles[h].filled
        and set(map(str.lower, profiles[h].examples)) <= set(TYPE_WORDS)
        and profiles[h].distinct <= len(TYPE_WORDS)
    ]
    scores = [h for h in headers if chosen.free(h) and profiles[h].rating_like]
    if kinds and len(scores) == 1:
        _put_split(scores[0], kinds[0], profiles, chosen, "")


def _put_split(
    score: str, kind: str, profiles: dict[str, ColumnProfile], chosen: _Chosen, prefix: str
) -> None:
    chosen.put(
        ColumnMap(
            score,
            SPLIT,
            split_by=kind,
            split=dict(TYPE_WORDS),
            note=f"{prefix}one score column; {kind!r} says which score each row holds",
        )
    )
    chosen.put(ColumnMap(kind, None, note=f"says which score {score!r} holds in each row"))


def _dates(source: Source, profiles: dict[str, ColumnProfile], chosen: _Chosen) -> None:
    """The response time: a column whose header says date and whose values are dates; else
    the first column of dates; else a date-named column that did not parse (the import then
    stops and shows its values: a response never gets the import time as its date)."""
    if "submitted_at" in chosen.taken:
        return
    aliases = vocabulary().fields[schema.RESPONSES]["submitted_at"]
    free = [h for h in source.headers if chosen.free(h)]
    named = [h for h in free if aliases.match(tokens(h))]
    for group, least in ((named, 0.5), (free, 0.9)):
        for h in group:
            if profiles[h].dates >= least:
                chosen.put(ColumnMap(h, "submitted_at", note=_date_note(h, named)))
                return
    if named and profiles[named[0]].numeric < 0.5:
        chosen.put(
            ColumnMap(
                named[0],
                "submitted_at",
                note="header says date",
                warning="its values are not dates this importer knows: the import will list them",
            )
        )


def _date_note(header: str, named: list[str]) -> str:
    return "header says date; values are dates" if header in named else "values are dates"


def _classify(header: str, text: str, p: ColumnProfile, chosen: _Chosen) -> None:
    """A column that is neither platform metadata, personal data nor the date."""
    field = _field_alias(header, chosen)
    named = field in schema.SCORE_COLUMNS and _named(header, str(field))
    asks = declared_scale(text) and any(
        asks_about(text, w) for w in ("recommend", "satisfied", "easy")
    )
    if p.labels is not None:
        chosen.put(_labelled(header, text, p, chosen))
    elif named and p.numeric < 0.95:
        chosen.put(
            ColumnMap(
                header,
                field,
                note="the header is the score's name; its values are checked row by row",
            )
        )
    elif asks and p.numeric >= 0.95:
        chosen.put(_score(header, text, p, chosen))
    elif p.numeric >= 0.95 and (p.counter or _count_like(header, p)):
        if p.whole_unique and p.complete and "response_id" not in chosen.taken and _id_like(header):
            chosen.put(ColumnMap(header, "response_id", note="one value per row: an id"))
        elif field is not None and field not in schema.SCORE_COLUMNS:
            chosen.put(ColumnMap(header, field, note=f"header says {field}"))
        elif p.distinct <= SEGMENT_MAX_DISTINCT and _id_like(header):
            chosen.put(ColumnMap(header, identifier(header), note="a code: segment"))
        else:
            chosen.put(ColumnMap(header, None, note="an id, count or duration: never a rating"))
    elif p.numeric >= 0.95 and p.rating_like:
        chosen.put(_score(header, text, p, chosen))
    elif field is not None and field not in schema.SCORE_COLUMNS and field != "submitted_at":
        if field == "comment" and not p.free_text and p.numeric >= 0.95:
            return
        if field != "comment":
            chosen.put(ColumnMap(header, field, note=f"header says {field}"))


def _named(header: str, field: str) -> bool:
    """Whether the whole header is the field's name ("NPS", "csat_score")."""
    return vocabulary().fields[schema.RESPONSES][field].match(tokens(header)) == 2


def _field_alias(header: str, chosen: _Chosen) -> str | None:
    """A canonical field the header names (by aliases), if not yet taken."""
    fields = vocabulary().fields[schema.RESPONSES]
    return next((f for f in candidates(header, fields) if f not in chosen.taken), None)


def _count_like(header: str, p: ColumnProfile) -> bool:
    words = set(tokens(header))
    if words & COUNT_WORDS or (words & ID_WORDS and not p.rating_like):
        return True
    if words & ID_WORDS and p.rating_like and not (p.high <= 10 and p.distinct <= 11):
        return True
    if "id" in words or header_key(header).endswith("_id"):
        return True
    return not p.rating_like and p.integer >= 0.99


def _id_like(header: str) -> bool:
    words = set(tokens(header))
    return bool(words & ID_WORDS) or header.strip() in ("#",) or "id" in header_key(header)


def _labelled(header: str, text: str, p: ColumnProfile, chosen: _Chosen) -> ColumnMap:
    """Text answers read with a label scale (Likert labels, Good/Bad, Yes/No…)."""
    scale = p.labels
    assert scale is not None
    labels = dict(p.label_values)
    base = ColumnMap(
        header, None, scale=scale.scale, labels=labels, missing=p.missing + p.label_none
    )
    words = f"answers are {scale.name} labels"
    if scale.measure == "yes_no":
        if asks_about(text, "recommend"):
            base.to, base.touchpoint = RATING, _touchpoint(header, text)
            base.note = "yes/no answers to a recommend question: its own yes/no measure"
            base.warning = "yes/no is not NPS (0–10): stored as a 0–1 rating, yes = 1"
            return base
        return ColumnMap(header, segment_name(header), note="yes/no answers: segment")
    if scale.measure == "csat" and "csat" not in chosen.taken:
        base.to, base.note = "csat", f"{words}: CSAT"
        if scale.name == "good/bad":
            base.note += " (Good = satisfied, Bad = not; other answers are no rating)"
        return base
    if scale.measure == "ces" and scale.scale == (1, 7) and "ces" not in chosen.taken:
        base.to, base.note = "ces", f"{words}: CES"
        return base
    base.to, base.touchpoint, base.note = RATING, _touchpoint(header, text), words
    if scale.measure == "ces":
        base.warning = (
            f"effort on {scale_text(scale.scale)}: kept as a rating with its scale, never "
            "mixed with 1–7 CES"
        )
    return base


def _score(header: str, text: str, p: ColumnProfile, chosen: _Chosen) -> ColumnMap:
    """A numeric answer column: NPS, CSAT, CES or a rating, by what the question asks."""
    declared = declared_scale(text)
    whole = p.integer >= 0.99
    decimals = "" if whole else " with decimals"
    if asks_about(text, "recommend") and "nps" not in chosen.taken:
        scale = declared or (0, 10)
        five = p.high <= 5 and p.filled >= 10 and declared is None
        if whole and _fits(p, scale) and scale[1] == 10 and scale[0] in (0, 1) and not five:
            col = ColumnMap(
                header,
                "nps",
                scale=scale,
                missing=p.missing,
                note=f"asks about recommending; values {scale_text(scale)}",
            )
            if scale == (1, 10):
                col.warning = NPS_ON_ONE_TO_TEN
            elif p.low >= 1 and p.filled >= 30:
                col.warning = (
                    f"no answer is 0 among {p.filled}: if the question was asked on 1–10, "
                    "it is not comparable with 0–10 NPS"
                )
            return col
        seen = declared or observed_scale(p)
        rating = _rating(header, text, p, seen)
        outside = 1 - p.share_within(0, 10)
        why = (
            f"{outside:.0%} of the values are outside 0–10"
            if outside >= 0.05
            else f"the values are {scale_text(seen)}{decimals}"
        )
        rating.warning = (
            f"asks about recommending, but {why}: not NPS (NPS needs 0–10 answers); "
            "kept as a rating"
        )
        return rating
    scale = declared or observed_scale(p)
    fits = _fits(p, scale)
    if asks_about(text, "satisfied") and "csat" not in chosen.taken and whole and fits:
        col = ColumnMap(header, "csat", scale=scale, missing=p.missing)
        col.note = f"asks about satisfaction; values {scale_text(scale)}"
        if scale != (1, 5):
            col.note += (
                f"; CSAT = the top two boxes ({scale[1] - 1}–{scale[1]}), the answers are "
                "also kept as a rating with their scale"
            )
        return col
    if asks_about(text, "easy") and "ces" not in chosen.taken and whole and fits:
        if scale == (1, 7):
            return ColumnMap(
                header, "ces", scale=scale, missing=p.missing, note="asks about ease; values 1–7"
            )
        rating = _rating(header, text, p, scale)
        rating.warning = (
            f"effort on {scale_text(scale)}: kept as a rating with its scale, never mixed "
            "with 1–7 CES"
        )
        return rating
    if _stars(header) and scale == (1, 5) and whole and "csat" not in chosen.taken:
        return ColumnMap(
            header,
            "csat",
            scale=scale,
            missing=p.missing,
            note="star rating 1–5: a CSAT candidate (4–5 stars = satisfied)",
        )
    rating = _rating(header, text, p, scale)
    if scale[1] == 10:
        rating.note = (
            f"values {scale_text(scale)}, but it does not ask about recommending: a rating"
        )
        rating.warning = (
            f"{scale_text(scale)} is not NPS unless the question asks about recommending: kept "
            f'as the rating {rating.touchpoint!r}; if it does, map it to nps'
        )
    return rating


def _fits(p: ColumnProfile, scale: tuple[int, int]) -> bool:
    """Most values lie on the scale (a few typos are rejected rows, not another scale)."""
    return p.share_within(scale[0], scale[1]) >= (0.8 if p.filled >= 30 else 0.5)


def _stars(header: str) -> bool:
    return bool(set(tokens(header)) & STAR_WORDS) or header_key(header) in STAR_HEADERS


def _rating(header: str, text: str, p: ColumnProfile, scale: tuple[int, int]) -> ColumnMap:
    whole = "" if p.integer >= 0.99 else " (with decimals, kept as they are)"
    return ColumnMap(
        header,
        RATING,
        touchpoint=_touchpoint(header, text),
        scale=scale,
        missing=p.missing,
        note=f"a rating on {scale_text(scale)}{whole}",
    )


def _touchpoint(header: str, text: str) -> str:
    """A short label for a rating: the header without its scale, or the question."""
    label = _without_scale(header)
    if len(label) > 60 or (label.lower().startswith(("q", "question")) and len(label) < 6):
        label = _without_scale(text)
    return display_name(label)[:80]


def _without_scale(header: str) -> str:
    stripped = header.replace("(", " ").replace(")", " ").replace("?", " ")
    stripped = re.sub(r"\b(0|1)\s*(?:-|–|—|to|til|till|do|bis)\s*(4|5|7|10)\b", "", stripped)
    stripped = re.sub(r"\bon a scale of\b", "", stripped, flags=re.IGNORECASE)
    return " ".join(stripped.split()).strip(" ,.:-") or header


def _texts(source: Source, profiles: dict[str, ColumnProfile], chosen: _Chosen) -> None:
    """Free-text columns: the answer body becomes the comment, others extra text fields."""
    comment_aliases = vocabulary().fields[schema.RESPONSES]["comment"]
    candidates = [
        h
        for h in source.headers
        if chosen.free(h)
        and (
            profiles[h].free_text
            or (comment_aliases.match(tokens(h)) and profiles[h].words)
            or (set(tokens(h)) & TITLE_WORDS and profiles[h].words >= 0.5)
        )
    ]
    if not candidates:
        return

    def rank(h: str) -> tuple[int, float]:
        words = set(tokens(h))
        score = 2 * comment_aliases.match(tokens(h))
        score += 1 if asks_about(_text_of(source, h), "recommend") else 0
        score -= 4 if words & TITLE_WORDS else 0
        return score, profiles[h].text_length

    body = [h for h in candidates if not set(tokens(h)) & SIDE_TEXT_WORDS]
    if body and "comment" not in chosen.taken:
        best = max(body, key=rank)
        chosen.put(ColumnMap(best, "comment", note="the answer text: comment"))
    for h in candidates:
        if chosen.free(h):
            chosen.put(
                ColumnMap(
                    h,
                    TEXT,
                    name=identifier(h)[:40],
                    note="another answer text: shown with the comment, searchable",
                )
            )


def _segment_or_nothing(header: str, p: ColumnProfile, chosen: _Chosen) -> ColumnMap:
    """What is left: a channel, a known or plain segment, an id, or left out."""
    channel = _channel_share(p)
    if channel >= 0.6 and "channel" not in chosen.taken:
        return ColumnMap(header, "channel", note="values are channels")
    field = _field_alias(header, chosen)
    if field in ("touchpoint", "journey_stage", "language", "channel", "customer_id"):
        return ColumnMap(header, field, note=f"header says {field}")
    known = known_segment(header)
    if (p.unique >= 0.98 and p.filled >= 5 and p.distinct > SEGMENT_MAX_DISTINCT) or (
        p.unique >= 0.98 and p.filled >= 20
    ):
        free_id = "response_id" not in chosen.taken and p.complete
        if free_id and (_id_like(header) or (p.text_length <= 40 and p.words < 0.5)):
            return ColumnMap(header, "response_id", note="one value per row: the response id")
        return ColumnMap(header, None, note=f"{p.distinct} different values: not a filter")
    if known:
        return ColumnMap(header, known, note="known segment")
    if p.distinct > SEGMENT_MAX_DISTINCT and p.unique > 0.5:
        return ColumnMap(header, None, note=f"{p.distinct} different values: too many for a filter")
    if p.numeric >= 0.95 and not p.rating_like:
        return ColumnMap(header, None, note="numbers on no rating scale: map by hand if needed")
    return ColumnMap(header, segment_name(header), note="segment")


def _channel_share(p: ColumnProfile) -> float:
    if not p.filled or p.numeric > 0.5:
        return 0.0
    parts = [part.strip().lower() for e in p.examples for part in e.split(";") if part.strip()]
    return float(np.mean([channel_name(x) is not None for x in parts])) if parts else 0.0


def _identity(mapping: Mapping) -> None:
    """Say how responses are identified: by the id column (kept per file when the platform
    numbers each form from 1), or by a fingerprint of the answers."""
    id_col = next((c for c in mapping.columns if c.to == "response_id"), None)
    if id_col is None:
        mapping.notes.append(
            "no response id column: each response is identified by a fingerprint of its "
            "answers, so re-importing the same rows stores them once"
        )
        return
    if mapping.id_scope == ID_SCOPE_FILE:
        id_col.note += "; numbered per form, so kept apart per file"


def _date_order(mapping: Mapping, source: Source, platform: Platform | None) -> None:
    """The day/month order: the platform's, else decided from the column at import time;
    a warning when nothing decides it."""
    col = next((c for c in mapping.columns if c.to == "submitted_at"), None)
    if col is None:
        return
    zone = (getattr(source, "import_ids", None) or {}).get(col.source, {}).get("timeZone")
    if zone:
        col.timezone = str(zone)
        col.note += f"; times in {zone}, stored as UTC"
    hint = platform.date_order if platform is not None else None
    if hint:
        col.note += f"; {platform.label} writes {hint} dates"
    parsed = parse_dates(source.frame[col.source].iloc[:50_000], "auto", hint=hint)
    if parsed.undecided:
        col.warning = parsed.note


def _unique_segments(columns: list[ColumnMap], dataset: str) -> None:
    fields = set(FIELDS[dataset]) | {RATING, VALUE, TEXT, SPLIT}
    used = {str(c.to) for c in columns if c.to in fields}
    used |= {str(c.stored_as) for c in columns if c.to == TEXT}
    for col in columns:
        if col.to is None or col.to in fields:
            if col.to == TEXT:
                name, k = str(col.name), 2
                while f"{schema.EXTRA_TEXT_PREFIX}{name}" in used - {col.stored_as}:
                    name, k = f"{col.name}_{k}", k + 1
                col.name = name
            continue
        name, k = col.to, 2
        while name in used:
            name, k = f"{col.to}_{k}", k + 1
        col.to = name
        used.add(name)
