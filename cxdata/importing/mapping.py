"""Which source column becomes which canonical field: the mapping, its JSON form, the
suggestion from headers and values, the scale warnings and the saved profiles.

A mapping entry sends one source column `to`:
- a canonical field of the dataset (`nps`, `submitted_at`, `comment`, … / `date`, `value`…);
- `"rating"`: a rating of the named `touchpoint` on its own `scale`, stored as long rows in
  `touchpoint_ratings` (wide touchpoint columns, and generic ratings such as a 1–10 overall);
- any other identifier: a segment column stored as text (`region`, `plan`, `would_recommend`);
- null: ignored.

JSON, editable by hand::

    {"dataset": "responses", "date_order": "auto",
     "columns": {"Dato": "submitted_at", "Anbefale": {"to": "nps", "scale": [0, 10]},
                 "SeatComfort": {"to": "rating", "touchpoint": "Seat comfort", "scale": [1, 5]},
                 "Overall": {"to": "rating", "touchpoint": "Overall", "scale": [1, 10],
                             "warning": "1–10 is not the 0–10 NPS scale…"},
                 "Internal": null}}
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxdata import schema
from cxdata.importing.dates import DATE_ORDERS, parse_dates
from cxdata.importing.errors import MappingError
from cxdata.importing.names import display_name, identifier, tokens
from cxdata.importing.numbers import parse_numbers, yes_no_share
from cxdata.importing.readers import Source

RATING = "rating"
VALUE = "value"
DATASETS: tuple[str, ...] = (schema.RESPONSES, schema.METRICS)
FIELDS: dict[str, tuple[str, ...]] = {
    schema.RESPONSES: tuple(schema.RESPONSE_CORE),
    schema.METRICS: tuple(schema.METRIC_CORE),
}
IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
RATING_SCALES: tuple[int, ...] = (5, 7, 10)
SAMPLE_ROWS = 50_000


@dataclass(frozen=True)
class Aliases:
    """How headers name a field: whole headers (`phrases`, folded words joined by _), single
    words anywhere in the header (`words`), or word beginnings (`stems`)."""

    phrases: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    stems: tuple[str, ...] = ()

    def match(self, header_tokens: list[str]) -> int:
        """2 for a whole-header match, 1 for a word or stem match, 0 for none."""
        if "_".join(header_tokens) in self.phrases:
            return 2
        if any(t in self.words or t.startswith(self.stems) for t in header_tokens):
            return 1
        return 0


def _aliases(phrases: str = "", words: str = "", stems: str = "") -> Aliases:
    return Aliases(frozenset(phrases.split()), frozenset(words.split()), tuple(stems.split()))


_DATE_PHRASES = (
    "date datum dato time timestamp submitted submitted_at submission_date date_submitted "
    "created created_at response_date survey_date completed completed_at end_date enddate "
    "datetime date_time tid tidspunkt tidpunkt dato_og_tid datum_och_tid datum_in_cas cas "
    "besvart besvaret besvarad inskickad oddano datum_oddaje datum_odgovora svardato svardatum"
)
_TOUCHPOINT = _aliases(
    "touchpoint touch_point kontaktpunkt kontaktpunkter beroringspunkt sticna_tocka "
    "kontaktna_tocka tocka_stika interaction_point",
    stems="touchpoint kontaktpunkt beroringspunkt",
)

# Canonical fields in English, Norwegian, Danish, Swedish and Slovenian (folded to ASCII).
FIELD_ALIASES: dict[str, dict[str, Aliases]] = {
    schema.RESPONSES: {
        "response_id": _aliases(
            "id response_id responseid response respondent_id respondentid respondent "
            "record_id answer_id svar_id svarid svar_nr svarnummer id_odgovora odgovor_id "
            "id_odziva survey_response_id submission_id"
        ),
        "customer_id": _aliases(
            "customer_id customer customer_no customer_number customerid kunde_id kundeid "
            "kunde kundenr kundenummer kund_id kundid kundnr kundnummer kund stranka "
            "id_stranke stranka_id client_id client member_id user_id"
        ),
        "submitted_at": _aliases(_DATE_PHRASES, stems="dato datum date timestamp"),
        "nps": _aliases(
            "nps nps_score ltr likelihood_to_recommend",
            stems="recommend anbefal rekommend priporoc promoter",
        ),
        "csat": _aliases(
            "csat csat_score", stems="satisf tilfreds nojd zadovolj fornoyd fornojd tevred"
        ),
        "ces": _aliases(
            "ces ces_score customer_effort customer_effort_score",
            words="easy ease lett latt enkel enkelt enkelhet enkelhed",
            stems="effort anstreng anstrang indsats enostav napor",
        ),
        "comment": _aliases(
            "comment comments verbatim text tekst fritekst fritext remarks remark feedback "
            "open_answer opomba opombe besked message sporocilo why hvorfor varfor zakaj "
            "motivering begrunnelse begrundelse obrazlozitev open_text",
            stems="comment kommentar komentar feedback verbatim fritekst fritext opomb "
            "begrunn begrund obrazlo",
        ),
        "language": _aliases(
            "language lang locale sprog sprak jezik spraak", words="language sprog sprak jezik"
        ),
        "touchpoint": _TOUCHPOINT,
        "journey_stage": _aliases(
            "journey_stage stage journey customer_journey journey_phase phase fase faza steg "
            "etapa stadie stadium kundereise kunderejse kundresa faza_nakupa faza_potovanja",
            stems="journey kundereise kunderejse kundresa",
        ),
        "channel": _aliases(
            "channel kanal kanali channel_name contact_channel kontaktkanal kommunikationskanal",
            stems="channel kanal",
        ),
    },
    schema.METRICS: {
        "date": _aliases(
            _DATE_PHRASES + " period month week maned manad mesec uke uge vecka teden dag day",
            stems="dato datum date",
        ),
        "metric": _aliases(
            "metric kpi measure indicator indikator kazalnik nokkeltall "
            "noegletal nyckeltal metrikk maltall metric_name"
        ),
        "value": _aliases(
            "value verdi vaerdi varde vrednost amount belob belop antall antal stevilo"
        ),
        "unit": _aliases("unit units enhet enhed enota"),
        "target": _aliases("target goal mal maal cilj malsetning malvaerdi target_value"),
        "touchpoint": _TOUCHPOINT,
    },
}

# Segment columns with a canonical name (whole-header matches only).
SEGMENT_ALIASES: dict[str, Aliases] = {
    "region": _aliases(
        "region regions regija regije omrade landsdel landsdelen regio fylke lan pokrajina"
    ),
    "country": _aliases("country land drzava nation country_code landskode landskod"),
    "city": _aliases("city town by stad mesto kommune kommun obcina"),
    "gender": _aliases("gender sex kjonn kon spol"),
    "age_group": _aliases(
        "age age_group agegroup alder aldersgruppe aldersgrupp alder_gruppe "
        "starost starostna_skupina age_band age_range"
    ),
    "segment": _aliases("segment customer_segment kundesegment kundsegment segment_kupca"),
    "plan": _aliases("plan subscription abonnement abonnemang paket pakke narocnina tariff tarif"),
    "product": _aliases("product produkt produkter izdelek product_name"),
    "department": _aliases("department avdeling afdeling avdelning oddelek"),
}


@dataclass
class ColumnMap:
    """Where one source column goes; `note` says why it was suggested, `warning` flags a
    scale or meaning problem the user should look at. Both are information only."""

    source: str
    to: str | None
    touchpoint: str | None = None
    metric: str | None = None
    scale: tuple[int, int] | None = None
    rescale: bool = False
    note: str = ""
    warning: str = ""

    def as_json(self) -> str | dict[str, Any] | None:
        """The JSON value: just the target when nothing else is set."""
        extra = {
            "touchpoint": self.touchpoint,
            "metric": self.metric,
            "scale": list(self.scale) if self.scale else None,
            "rescale": self.rescale or None,
            "note": self.note or None,
            "warning": self.warning or None,
        }
        extra = {k: v for k, v in extra.items() if v is not None}
        return {"to": self.to, **extra} if extra else self.to


@dataclass
class Mapping:
    """The mapping of one file shape onto a dataset."""

    dataset: str = schema.RESPONSES
    columns: list[ColumnMap] = field(default_factory=list)
    date_order: str = "auto"
    sheet: str | None = None
    profile: str | None = None

    @property
    def headers(self) -> list[str]:
        """The source headers the mapping knows."""
        return [c.source for c in self.columns]

    def column(self, source: str) -> ColumnMap | None:
        """The entry for a source header, if any."""
        return next((c for c in self.columns if c.source == source), None)

    def mapped(self) -> list[ColumnMap]:
        """The entries that are not ignored."""
        return [c for c in self.columns if c.to is not None]

    def warnings(self) -> list[str]:
        """One line per flagged column: 'Header: what is wrong and what to do'."""
        return [f"{c.source}: {c.warning}" for c in self.columns if c.warning]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form."""
        out: dict[str, Any] = {"dataset": self.dataset, "date_order": self.date_order}
        if self.sheet is not None:
            out["sheet"] = self.sheet
        out["columns"] = {c.source: c.as_json() for c in self.columns}
        return out

    def to_json(self) -> str:
        """Indented JSON, non-ASCII kept readable, scales on one line: [1, 5]."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2)
        return re.sub(r"\[\s+(-?\d+),\s+(-?\d+)\s+\]", r"[\1, \2]", text)

    @classmethod
    def from_dict(cls, data: Any, origin: str = "mapping") -> Mapping:
        """A mapping from its JSON form; `origin` names the file in error messages."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            raise MappingError(f'{origin}: expected an object with a "columns" object')
        columns = [_column_from_json(src, value, origin) for src, value in data["columns"].items()]
        sheet = data.get("sheet")
        return cls(
            dataset=str(data.get("dataset", schema.RESPONSES)),
            columns=columns,
            date_order=str(data.get("date_order", "auto")),
            sheet=None if sheet is None else str(sheet),
        )

    @classmethod
    def from_json(cls, text: str, origin: str = "mapping") -> Mapping:
        """A mapping from JSON text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MappingError(f"{origin}: not valid JSON ({exc})") from None
        return cls.from_dict(data, origin)

    @classmethod
    def from_file(cls, path: str | Path) -> Mapping:
        """A mapping from a JSON file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise MappingError(f"{path}: cannot read the mapping ({exc.strerror})") from None
        return cls.from_json(text, str(path))


def _column_from_json(source: str, value: Any, origin: str) -> ColumnMap:
    where = f"{origin}: column {source!r}"
    if value is None or isinstance(value, str):
        return ColumnMap(source, value or None)
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected a target name, null or an object")
    unknown = set(value) - {"to", "touchpoint", "metric", "scale", "rescale", "note", "warning"}
    if unknown:
        raise MappingError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    scale = value.get("scale")
    if scale is not None:
        if (
            not isinstance(scale, list)
            or len(scale) != 2
            or not all(isinstance(x, int | float) for x in scale)
            or scale[0] >= scale[1]
        ):
            raise MappingError(f"{where}: scale must be [low, high], got {scale!r}")
        scale = (int(scale[0]), int(scale[1]))
    to = value.get("to")
    return ColumnMap(
        source=source,
        to=None if to is None else str(to),
        touchpoint=value.get("touchpoint"),
        metric=value.get("metric"),
        scale=scale,
        rescale=bool(value.get("rescale", False)),
        note=str(value.get("note") or ""),
        warning=str(value.get("warning") or ""),
    )


# --- checking a mapping against a file -----------------------------------------------------


def check_mapping(mapping: Mapping, headers: list[str], origin: str = "") -> list[str]:
    """Raise MappingError when `mapping` cannot be applied to a file with `headers`; return
    warnings (file columns the mapping does not mention are ignored)."""
    where = f"{origin}: " if origin else ""
    if mapping.dataset not in DATASETS:
        raise MappingError(
            f"{where}unknown dataset {mapping.dataset!r}; use {' or '.join(DATASETS)}"
        )
    if mapping.date_order not in DATE_ORDERS:
        raise MappingError(f"{where}date_order must be one of {', '.join(DATE_ORDERS)}")
    missing = [c.source for c in mapping.mapped() if c.source not in headers]
    if missing:
        raise MappingError(
            f"{where}column {missing[0]!r} of the mapping is not in the file "
            f"(its columns: {', '.join(headers)})"
        )
    fields = FIELDS[mapping.dataset]
    seen: dict[str, str] = {}
    for col in mapping.mapped():
        _check_column(col, mapping.dataset, fields, where)
        key = (
            f"rating:{col.touchpoint}"
            if col.to == RATING
            else (f"value:{col.metric}" if col.to == VALUE and col.metric else str(col.to))
        )
        if key in seen:
            raise MappingError(
                f"{where}columns {seen[key]!r} and {col.source!r} both map to "
                f"{key.split(':')[-1]!r}"
            )
        seen[key] = col.source
    if mapping.dataset == schema.RESPONSES:
        if not any(c.to in schema.SCORE_COLUMNS or c.to == RATING for c in mapping.mapped()):
            raise MappingError(
                f"{where}no score column: map at least one column to nps, csat, ces or a rating"
            )
    else:
        wide = [c for c in mapping.mapped() if c.to == VALUE and c.metric]
        long = [
            c for c in mapping.mapped() if c.to in ("metric",) or (c.to == VALUE and not c.metric)
        ]
        if wide and long:
            raise MappingError(
                f"{where}mix of metric columns ({wide[0].source!r}) and a "
                "metric/value pair: use one or the other"
            )
        if not wide and {"metric", VALUE} - {c.to for c in long}:
            raise MappingError(
                f'{where}map a metric name and a value column, or set "metric" on each value column'
            )
        if "date" not in {c.to for c in mapping.mapped()}:
            raise MappingError(f'{where}no date column: map one to "date"')
    ignored = [h for h in headers if mapping.column(h) is None]
    return [f"not in the mapping, ignored: {', '.join(ignored)}"] if ignored else []


def _check_column(col: ColumnMap, dataset: str, fields: tuple[str, ...], where: str) -> None:
    name = f"{where}column {col.source!r}"
    to = str(col.to)
    if to == RATING:
        if dataset != schema.RESPONSES:
            raise MappingError(f"{name}: ratings belong to the responses dataset")
        if not col.touchpoint or not str(col.touchpoint).strip():
            raise MappingError(f'{name}: a rating needs the "touchpoint" it rates')
        if col.scale is None:
            raise MappingError(f'{name}: a rating needs its "scale", e.g. [1, 5]')
        return
    if to in schema.SCALES:
        target = schema.SCALES[to]
        if col.scale and col.scale != (target.low, target.high) and not col.rescale:
            raise MappingError(
                f"{name} is on a {col.scale[0]}–{col.scale[1]} scale but {to} is "
                f'{target.low}–{target.high}: map it as a rating, or set "rescale": true'
            )
        if col.rescale and not col.scale:
            raise MappingError(f'{name}: "rescale" needs the column\'s "scale"')
        return
    if col.rescale:
        raise MappingError(f'{name}: "rescale" only applies to nps, csat and ces')
    if to == VALUE and dataset == schema.METRICS:
        if col.metric is not None and not str(col.metric).strip():
            raise MappingError(f"{name}: empty metric name")
        return
    if to in fields:
        return
    if not IDENT.match(to):
        raise MappingError(
            f"{name}: {to!r} is neither a field of {dataset} nor a valid "
            "segment name (a-z, 0-9, _; not starting with a digit)"
        )


# --- suggestion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnProfile:
    """What a sample of a column's values looks like."""

    filled: int
    numeric: float
    integer: float
    low: float
    high: float
    distinct: int
    yes_no: float
    dates: float
    text_length: float
    unique: float
    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def share_within(self, low: int, high: int) -> float:
        """Share of the numeric values inside [low, high] (1.0 when there are none)."""
        if len(self.numbers) == 0:
            return 1.0
        return float(np.mean((self.numbers >= low) & (self.numbers <= high)))

    @property
    def rating_like(self) -> bool:
        """Whole numbers on a small 0–10 scale."""
        return (
            self.filled > 0
            and self.numeric >= 0.95
            and self.integer >= 0.98
            and self.low >= 0
            and self.high <= 10
            and self.distinct <= 11
        )


def profile_column(texts: pd.Series) -> ColumnProfile:
    """Profile the values of a column (a sample of up to 50,000 rows is enough)."""
    texts = texts.iloc[:SAMPLE_ROWS]
    nums = parse_numbers(texts)
    present = ~nums.missing
    filled = int(present.sum())
    if filled == 0:
        return ColumnProfile(0, 0.0, 0.0, np.nan, np.nan, 0, 0.0, 0.0, 0.0, 0.0)
    valid = nums.values[present & ~nums.invalid]
    numeric = len(valid) / filled
    integer = float(np.mean(valid == np.floor(valid))) if len(valid) else 0.0
    common, counts = np.unique(valid, return_counts=True)
    if len(valid) >= 50:  # a stray typo (an 11 among 0–10 answers) does not set the scale
        common = common[counts >= 0.01 * len(valid)]
    values = texts[present].astype("str").str.strip()
    dates = parse_dates(values)
    return ColumnProfile(
        filled=filled,
        numeric=numeric,
        integer=integer,
        low=float(common.min()) if len(common) else np.nan,
        high=float(common.max()) if len(common) else np.nan,
        distinct=len(common) if numeric >= 0.95 else int(values.nunique()),
        yes_no=yes_no_share(values),
        dates=float(np.mean(~dates.invalid)) if numeric < 0.95 or _epoch_like(valid) else 0.0,
        text_length=float(values.str.len().mean()),
        unique=values.nunique() / filled,
        numbers=valid,
    )


def _epoch_like(values: np.ndarray) -> bool:
    return len(values) > 0 and bool(np.all((values >= 1e8) & (values < 1e13)))


def suggest_mapping(source: Source, dataset: str = schema.RESPONSES) -> Mapping:
    """The suggested mapping of `source` onto `dataset`, from its headers and values."""
    if dataset not in DATASETS:
        raise MappingError(f"unknown dataset {dataset!r}; use {' or '.join(DATASETS)}")
    profiles = {h: profile_column(source.frame[h]) for h in source.headers}
    if dataset == schema.METRICS:
        columns = _suggest_metrics(source.headers, profiles)
    else:
        columns = _suggest_responses(source.headers, profiles)
    _unique_segments(columns, dataset)
    return Mapping(dataset=dataset, columns=columns, sheet=source.sheet)


def _field_candidates(header: str, aliases: dict[str, Aliases]) -> list[str]:
    words = tokens(header)
    scored = [(a.match(words), i, name) for i, (name, a) in enumerate(aliases.items())]
    return [name for score, _, name in sorted(scored, key=lambda s: (-s[0], s[1])) if score]


def _declared_scale(header: str) -> tuple[int, int] | None:
    found = re.search(r"(\d{1,2})\s*(?:-|–|—|to|til|do)\s*(\d{1,2})", header)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _observed_scale(p: ColumnProfile) -> tuple[int, int]:
    low = 0 if p.low == 0 else 1
    high = next((s for s in RATING_SCALES if p.high <= s), int(p.high))
    return (low, 1) if p.high <= 1 else (low, high)


def _scale_text(scale: tuple[int, int]) -> str:
    return f"{scale[0]}–{scale[1]}"


def _as_rating(header: str, p: ColumnProfile, warning: str = "", note: str = "") -> ColumnMap:
    scale = _declared_scale(header) or _observed_scale(p)
    return ColumnMap(
        header,
        RATING,
        touchpoint=display_name(_without_scale(header)),
        scale=scale,
        note=note,
        warning=warning,
    )


def _without_scale(header: str) -> str:
    return (
        re.sub(r"\(?\s*\d{1,2}\s*(?:-|–|—|to|til|do)\s*\d{1,2}\s*\)?", "", header).strip() or header
    )


def _score_fit(field_name: str, header: str, p: ColumnProfile, *, named: bool) -> ColumnMap:
    """A header-matched score column: kept as that score when its values fit the scale (or
    the header is the score's own name, `named`), else a flagged generic rating, or a
    segment for yes/no answers."""
    target = schema.SCALES[field_name]
    label = field_name.upper()
    if p.filled and p.yes_no >= 0.8:
        seg = _segment_name(_without_scale(header))
        return ColumnMap(
            header,
            seg,
            note="yes/no answers",
            warning=(
                f"yes/no answers are not {label} ({_scale_text((target.low, target.high))}): kept "
                f'as the segment {seg!r}. To count it as a rating instead, set "to": "rating", '
                f'"touchpoint": "{display_name(header)}", "scale": [0, 1] (yes = 1).'
            ),
        )
    declared = _declared_scale(header)
    observed = _observed_scale(p) if p.filled and p.numeric >= 0.95 else None
    scale = declared or observed
    if declared is not None:
        fits = declared == (target.low, target.high)
    elif observed is None or named:
        fits = True  # "NPS" says what it is; no answers or text: the rows say what is wrong
    else:
        # A few typos (an 11) are rejected rows; many values off the scale mean another scale.
        fits = p.share_within(target.low, target.high) >= (0.5 if p.filled < 30 else 0.8)
        if field_name == "nps" and p.filled >= 30:
            fits = fits and p.high >= 8
    if fits:
        col = ColumnMap(
            header, field_name, scale=(target.low, target.high), note=f"header suggests {label}"
        )
        if observed and p.filled >= 30 and field_name == "nps" and observed[0] >= 1:
            col.warning = (
                f"no answer is 0 among {p.filled}: if the question was asked on a "
                "1–10 scale this is not NPS; map it as a rating or rescale it"
            )
        elif observed and p.filled >= 30 and observed[1] < target.high:
            col.warning = (
                f"no answer is above {int(p.high)} among {p.filled}: if the question "
                f'was asked on a {_scale_text(observed)} scale, set "scale" and '
                '"rescale": true'
            )
        return col
    rating = _as_rating(header, p, note=f"header suggests {label}")
    rating.warning = (
        f"{_scale_text(rating.scale or scale)} is not the {label} scale "
        f"({_scale_text((target.low, target.high))}): stored as the rating "
        f'{rating.touchpoint!r}, not as {label}. To use it as {label}, set "to": '
        f'"{field_name}" and "rescale": true (linear, rounded).'
    )
    return rating


def _suggest_responses(headers: list[str], profiles: dict[str, ColumnProfile]) -> list[ColumnMap]:
    aliases = FIELD_ALIASES[schema.RESPONSES]
    chosen: dict[str, ColumnMap] = {}
    taken: set[str] = set()
    for header in headers:
        p = profiles[header]
        for name in _field_candidates(header, aliases):
            if name in taken:
                continue
            if name in schema.SCORE_COLUMNS:
                if p.filled and p.numeric < 0.5 and p.yes_no < 0.8:
                    continue  # text under a score-like header: a comment or a segment
                named = aliases[name].match(tokens(header)) == 2
                col = _score_fit(name, header, p, named=named)
            elif name == "submitted_at":
                if p.filled and p.dates < 0.5:
                    continue
                col = ColumnMap(header, name, note="header suggests the response date")
            elif name == "comment" and p.filled and p.numeric >= 0.95:
                continue
            else:
                col = ColumnMap(header, name, note=f"header suggests {name}")
            chosen[header] = col
            if col.to in FIELDS[schema.RESPONSES]:
                taken.add(str(col.to))
            break
    for header in headers:
        if header not in chosen:
            segment = _segment_alias(header)
            if segment:
                chosen[header] = ColumnMap(header, segment, note="known segment")

    ratings: list[str] = []
    for header in headers:
        if header in chosen:
            continue
        p = profiles[header]
        if p.filled and p.dates >= 0.9 and "submitted_at" not in taken:
            chosen[header] = ColumnMap(header, "submitted_at", note="values are dates")
            taken.add("submitted_at")
        elif p.rating_like and p.high > 1:
            ratings.append(header)
        elif (
            p.filled
            and p.numeric < 0.5
            and p.text_length >= 25
            and p.unique >= 0.5
            and "comment" not in taken
        ):
            chosen[header] = ColumnMap(header, "comment", note="values are free text")
            taken.add("comment")
        else:
            chosen[header] = ColumnMap(header, _segment_name(header), note="segment")
    chosen.update(_suggest_ratings(ratings, profiles, taken))
    return [chosen[h] for h in headers]


def _suggest_ratings(
    headers: list[str], profiles: dict[str, ColumnProfile], taken: set[str]
) -> dict[str, ColumnMap]:
    """Unnamed rating columns: a lone one on a score's scale becomes that score (0–10 with
    zeros → NPS, 1–5 → CSAT, 1–7 → CES); the rest become ratings of the touchpoint their
    header names. A 1–10 column is never taken as NPS."""
    out: dict[str, ColumnMap] = {}
    zero_to_ten = [h for h in headers if profiles[h].low == 0 and profiles[h].high > 7]
    if len(zero_to_ten) == 1 and "nps" not in taken:
        out[zero_to_ten[0]] = ColumnMap(
            zero_to_ten[0], "nps", scale=(0, 10), note="values are 0–10"
        )
        taken.add("nps")
    rest = [h for h in headers if h not in out]
    if len(rest) == 1 and len(headers) == 1:
        p = profiles[rest[0]]
        for name in ("csat", "ces"):
            scale = schema.SCALES[name]
            if name not in taken and p.low >= 1 and _observed_scale(p)[1] == scale.high:
                out[rest[0]] = ColumnMap(
                    rest[0],
                    name,
                    scale=(scale.low, scale.high),
                    note=f"values are {scale.low}–{scale.high}",
                )
                taken.add(name)
                return out
    for header in rest:
        p = profiles[header]
        rating = _as_rating(header, p, note="rating of a touchpoint")
        if rating.scale and rating.scale[1] == 10:
            rating.note = "values are " + _scale_text(rating.scale)
            rating.warning = (
                f"{_scale_text(rating.scale)} is not the 0–10 NPS scale: stored as the rating "
                f'{rating.touchpoint!r}. To use it as NPS, set "to": "nps" and "rescale": '
                "true (linear, rounded)."
            )
        out[header] = rating
    return out


def _segment_alias(header: str) -> str | None:
    words = tokens(header)
    return next((name for name, a in SEGMENT_ALIASES.items() if a.match(words) == 2), None)


def _suggest_metrics(headers: list[str], profiles: dict[str, ColumnProfile]) -> list[ColumnMap]:
    aliases = FIELD_ALIASES[schema.METRICS]
    chosen: dict[str, ColumnMap] = {}
    taken: set[str] = set()
    for header in headers:
        for name in _field_candidates(header, aliases):
            if name not in taken:
                chosen[header] = ColumnMap(header, name, note=f"header suggests {name}")
                taken.add(name)
                break
    if "date" not in taken:
        for header in headers:
            if header not in chosen and profiles[header].dates >= 0.9:
                chosen[header] = ColumnMap(header, "date", note="values are dates")
                taken.add("date")
                break
    wide = not {"metric", VALUE} <= taken
    for header in headers:
        if header in chosen:
            continue
        p = profiles[header]
        segment = _segment_alias(header)
        if wide and not segment and p.filled and p.numeric >= 0.95:
            chosen[header] = ColumnMap(
                header, VALUE, metric=identifier(header), note="numeric column: one metric"
            )
        else:
            chosen[header] = ColumnMap(
                header, segment or _segment_name(header, schema.METRICS), note="segment"
            )
    return [chosen[h] for h in headers]


def _segment_name(header: str, dataset: str = schema.RESPONSES) -> str:
    """A segment identifier that cannot be mistaken for a field: "NPS" (text) → "nps_text"."""
    name = identifier(header)
    return f"{name}_text" if name in (*FIELDS[dataset], RATING, VALUE) else name


def _unique_segments(columns: list[ColumnMap], dataset: str) -> None:
    fields = set(FIELDS[dataset]) | {RATING, VALUE}
    used = {str(c.to) for c in columns if c.to in fields}
    for col in columns:
        if col.to is None or col.to in fields:
            continue
        name, k = col.to, 2
        while name in used:
            name, k = f"{col.to}_{k}", k + 1
        col.to = name
        used.add(name)


# --- profiles ------------------------------------------------------------------------------


def profiles_dir(data_dir: str | Path) -> Path:
    """Where named mappings live: <data dir>/mappings."""
    return Path(data_dir) / "mappings"


def _profile_path(name: str, data_dir: str | Path) -> Path:
    if not PROFILE_NAME.match(name):
        raise MappingError(
            f"invalid profile name {name!r} (letters, digits, space, _ . -; at most 64)"
        )
    return profiles_dir(data_dir) / f"{name}.json"


def save_profile(mapping: Mapping, name: str, data_dir: str | Path) -> Path:
    """Save `mapping` as the profile `name` (replacing one of that name); returns its path."""
    path = _profile_path(name, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
    ) as tmp:
        tmp.write(mapping.to_json() + "\n")
    os.replace(tmp.name, path)
    return path


def load_profile(name: str, data_dir: str | Path) -> Mapping:
    """The saved profile `name`."""
    path = _profile_path(name, data_dir)
    if not path.is_file():
        known = profile_names(data_dir)
        raise MappingError(
            f"no mapping profile {name!r} in {profiles_dir(data_dir)}; "
            f"saved: {', '.join(known) or 'none'}"
        )
    return replace(Mapping.from_file(path), profile=name)


def profile_names(data_dir: str | Path) -> list[str]:
    """Names of the saved profiles, sorted."""
    folder = profiles_dir(data_dir)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def matching_profile(
    headers: list[str], data_dir: str | Path, dataset: str | None = None
) -> Mapping | None:
    """The most recently saved profile made for a file with exactly these headers."""
    folder = profiles_dir(data_dir)
    if not folder.is_dir():
        return None
    wanted = set(headers)
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            mapping = Mapping.from_file(path)
        except MappingError:
            continue
        if set(mapping.headers) == wanted and dataset in (None, mapping.dataset):
            return replace(mapping, profile=path.stem)
    return None


def suggested_mapping(
    source: Source, *, dataset: str | None = None, data_dir: str | Path | None = None
) -> Mapping:
    """The saved profile for this file shape if there is one, else a fresh suggestion."""
    if data_dir is not None:
        found = matching_profile(source.headers, data_dir, dataset)
        if found is not None:
            return found
    return suggest_mapping(source, dataset or schema.RESPONSES)


# --- the mapping as an editable table (the Data page's editor) -------------------------------

TABLE_COLUMNS: tuple[str, ...] = (
    "column",
    "example",
    "to",
    "touchpoint",
    "metric",
    "scale",
    "rescale",
    "note",
    "warning",
)


def mapping_table(mapping: Mapping, source: Source | None = None) -> pd.DataFrame:
    """One row per source column: the column, an example value and the editable target,
    touchpoint, metric, scale ("1-5") and rescale, with the note and warning."""
    rows = []
    for col in mapping.columns:
        example = ""
        if source is not None and col.source in source.frame.columns:
            values = source.frame[col.source].dropna()
            example = str(values.iloc[0])[:60] if len(values) else ""
        rows.append(
            {
                "column": col.source,
                "example": example,
                "to": col.to or "",
                "touchpoint": col.touchpoint or "",
                "metric": col.metric or "",
                "scale": f"{col.scale[0]}-{col.scale[1]}" if col.scale else "",
                "rescale": col.rescale,
                "note": col.note,
                "warning": col.warning,
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def mapping_from_table(
    table: pd.DataFrame, *, dataset: str, date_order: str = "auto", sheet: str | None = None
) -> Mapping:
    """The mapping an edited `mapping_table` describes (an empty target means ignored)."""
    columns = []
    for row in table.to_dict("records"):
        source = str(row["column"])

        def text(key: str, row: dict[str, Any] = row) -> str:
            value = row.get(key)
            return (
                ""
                if value is None or (isinstance(value, float) and np.isnan(value))
                else str(value).strip()
            )

        scale = None
        if text("scale"):
            found = re.fullmatch(r"(-?\d+)\s*[-–]\s*(-?\d+)", text("scale"))
            if not found or int(found.group(1)) >= int(found.group(2)):
                raise MappingError(
                    f"column {source!r}: scale must look like 1-5, got {text('scale')!r}"
                )
            scale = (int(found.group(1)), int(found.group(2)))
        columns.append(
            ColumnMap(
                source=source,
                to=text("to") or None,
                touchpoint=text("touchpoint") or None,
                metric=text("metric") or None,
                scale=scale,
                rescale=bool(row.get("rescale")),
                note=text("note"),
                warning=text("warning"),
            )
        )
    return Mapping(dataset=dataset, columns=columns, date_order=date_order, sheet=sheet)
