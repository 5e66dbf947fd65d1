"""Kinds of real survey-platform exports, not just the files in tests/field: small invented
exports (e-mails only @example.com, invented names) written in the layout each platform or
tool uses, imported with the suggested mapping untouched into a fresh store, and their exact
results asserted against a plain pandas computation made here from the same data.

Each generator below makes the data first (a DataFrame of what respondents answered) and
then writes it the way the platform would; the expected numbers come from that DataFrame."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxdata import queries, schema
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.importing import (
    ColumnMap,
    ImportResult,
    Mapping,
    import_file,
    read_source,
    suggest_mapping,
)
from cxdata.store import Store, close, connect

SCORES = ("nps", "csat", "ces", "rating", "split")
FIRST = ["Ingrid", "Mateo", "Aiko", "Lars", "Nadia", "Tomaz", "Freja", "Oskar", "Priya", "Jonas"]
LAST = ["Nordvik", "Solberg", "Kranjc", "Lindqvist", "Hartmann", "Moller", "Okafor", "Berglund"]
SENTENCES = [
    "Delivery was quicker than promised and the parcel was intact",
    "The support agent solved my problem on the first call",
    "Checkout kept failing with my card, had to try three times",
    "Prices went up again without any notice to customers",
    "Friendly staff in the store and short queues at the till",
    "The app logs me out every other day which is annoying",
    "Great selection but the website search is hard to use",
    "Waited forty minutes on hold before anyone answered",
]


# --- generators ------------------------------------------------------------------------------


def rng_for(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def people(n: int, seed: int) -> pd.DataFrame:
    """Invented first / last names and their example.com addresses."""
    rng = rng_for(seed)
    first = rng.choice(FIRST, n)
    last = rng.choice(LAST, n)
    emails = [
        f"{f}.{s}{seed}{i:03d}@example.com".lower()
        for i, (f, s) in enumerate(zip(first, last, strict=True))
    ]
    return pd.DataFrame({"first": first, "last": last, "email": emails})


def comments(n: int, seed: int, empty: float = 0.0) -> list[str]:
    """Free-text answers, unique per row; a share `empty` left blank."""
    rng = rng_for(seed)
    out = [f"{rng.choice(SENTENCES)} (order {10_000 + 37 * seed + i})" for i in range(n)]
    return [c if rng.random() >= empty else "" for c in out]


def times(n: int, seed: int, start: str = "2024-03-04 08:00", days: int = 20) -> pd.Series:
    """Distinct response times (whole seconds) in `days` days from `start`, in order."""
    rng = rng_for(seed)
    seconds = np.sort(rng.choice(days * 86_400 - 4 * 3600, n, replace=False))
    return pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s")


def nps_answers(n: int, seed: int, low: int = 0) -> np.ndarray:
    """0–10 (or `low`–10) answers with every kind of respondent present."""
    rng = rng_for(seed)
    values = rng.integers(low, 11, n)
    values[:3] = [low, 9, 10]
    return values


def write_rows(path: Path, rows: Sequence[Sequence[object]], **kw: str) -> Path:
    """Rows (the header rows first) as CSV, quoted as the csv module and Excel do."""
    encoding = kw.get("encoding", "utf-8")
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, delimiter=kw.get("delimiter", ","), lineterminator="\r\n")
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return path


def write_frame(path: Path, frame: pd.DataFrame, **kw: str) -> Path:
    """A frame as CSV (empty cells for missing values)."""
    cells = frame.astype(object).where(frame.notna(), "")
    return write_rows(path, [list(frame.columns), *cells.to_numpy().tolist()], **kw)


def nps(values: pd.Series | np.ndarray, promoter: int = 9, detractor: int = 6) -> tuple[float, int]:
    """NPS (promoters % − detractors %) of the answered values, and their number."""
    v = pd.Series(values, dtype="float64").dropna()
    return 100 * ((v >= promoter).mean() - (v <= detractor).mean()), len(v)


def top2(values: pd.Series | np.ndarray, high: int) -> tuple[float, int]:
    """Top-two-box share (%) of the answered values on a scale up to `high`, and their number."""
    v = pd.Series(values, dtype="float64").dropna()
    return 100 * (v >= high - 1).mean(), len(v)


# --- store and results -------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    """A fresh store in tmp_path/"s", closed at the end."""
    store = connect(tmp_path / "s")
    yield store
    close(tmp_path / "s")


def kpis(store: Store) -> queries.Kpis:
    return queries.kpis(store, Filters(), Thresholds(min_n=1))


def responses(store: Store) -> pd.DataFrame:
    return store.table(schema.RESPONSES).to_pandas()


def ratings(store: Store) -> pd.DataFrame:
    if not store.has(schema.TOUCHPOINT_RATINGS):
        return pd.DataFrame(columns=["response_id", "touchpoint", "rating", "scale"])
    return store.table(schema.TOUCHPOINT_RATINGS).to_pandas()


def suggested(path: Path) -> dict[str, ColumnMap]:
    return {c.source: c for c in suggest_mapping(read_source(path)).columns}


def balanced(result: ImportResult) -> None:
    assert result.read == result.imported + result.rejected + result.already_stored, result


def assert_score(score: queries.Score, want: tuple[float, int]) -> None:
    value, n = want
    assert score.n == n, score
    assert score.value == pytest.approx(value, abs=1e-4), score


def stored_text(frame: pd.DataFrame) -> str:
    """Every text cell stored, one string: to check that personal data is not in it."""
    texts = frame.select_dtypes(exclude=["number", "datetime"])
    return "\n".join(str(v) for v in texts.to_numpy().ravel() if not pd.isna(v))


def left_out_as_personal(result: ImportResult, *headers: str) -> None:
    for h in headers:
        assert h in result.left_out and "personal" in result.left_out[h], (h, result.left_out)


# --- 1. Qualtrics ------------------------------------------------------------------------------

QUALTRICS_META = [
    # id, question row text, ImportId, with time zone
    ("StartDate", "Start Date", "startDate", True),
    ("EndDate", "End Date", "endDate", True),
    ("Status", "Response Type", "status", False),
    ("IPAddress", "IP Address", "ipAddress", False),
    ("Progress", "Progress", "progress", False),
    ("Duration (in seconds)", "Duration (in seconds)", "duration", False),
    ("Finished", "Finished", "finished", False),
    ("RecordedDate", "Recorded Date", "recordedDate", True),
    ("ResponseId", "Response ID", "_recordId", False),
    ("RecipientLastName", "Recipient Last Name", "recipientLastName", False),
    ("RecipientFirstName", "Recipient First Name", "recipientFirstName", False),
    ("RecipientEmail", "Recipient Email", "recipientEmail", False),
    ("ExternalReference", "External Data Reference", "externalDataReference", False),
    ("LocationLatitude", "Location Latitude", "locationLatitude", False),
    ("LocationLongitude", "Location Longitude", "locationLongitude", False),
    ("DistributionChannel", "Distribution Channel", "distributionChannel", False),
    ("UserLanguage", "User Language", "userLanguage", False),
]
QUALTRICS_SATISFACTION = [
    "Extremely dissatisfied",
    "Somewhat dissatisfied",
    "Neither satisfied nor dissatisfied",
    "Somewhat satisfied",
    "Extremely satisfied",
]


def qualtrics_export(path: Path, n: int = 36, seed: int = 1) -> pd.DataFrame:
    """A Qualtrics "CSV, choice text" export: ids row, question row, ImportId row (JSON,
    quoted as Qualtrics writes it) and the data; times in the account's zone (Denver)."""
    rng = rng_for(seed)
    who = people(n, seed)
    recorded = times(n, seed, "2024-03-05 08:00", days=10)  # crosses the DST change (Mar 10)
    duration = rng.integers(60, 900, n)
    alphabet = list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    data = pd.DataFrame(
        {
            "ResponseId": ["R_" + "".join(rng.choice(alphabet, 15)) for _ in range(n)],
            "recorded": recorded,
            "ip": [f"198.51.100.{i + 10}" for i in range(n)],
            "nps": nps_answers(n, seed),
            "sat": rng.integers(1, 6, n).astype("float64"),
            "why": comments(n, seed),
        }
    )
    data.loc[[4, 11], "sat"] = np.nan  # a skipped question
    rows_ids = [m[0] for m in QUALTRICS_META] + ["Q1", "Q2", "Q3_TEXT"]
    rows_q = [m[1] for m in QUALTRICS_META] + [
        "How likely are you to recommend us to a friend or colleague?",
        "How satisfied are you with the onboarding you received?",
        "Why?",
    ]
    import_ids = []
    for _, _, key, zoned in QUALTRICS_META:
        zone = ',"timeZone":"America/Denver"' if zoned else ""
        import_ids.append(f'{{"ImportId":"{key}"{zone}}}')
    import_ids += ['{"ImportId":"QID1"}', '{"ImportId":"QID2"}', '{"ImportId":"QID3_TEXT"}']
    fmt = "%Y-%m-%d %H:%M:%S"
    body = []
    for i, row in data.iterrows():
        start = row.recorded - pd.Timedelta(seconds=int(duration[i]))
        sat = "" if pd.isna(row.sat) else QUALTRICS_SATISFACTION[int(row.sat) - 1]
        body.append(
            [
                start.strftime(fmt),
                row.recorded.strftime(fmt),
                "IP Address",
                row.ip,
                100,
                int(duration[i]),
                "True",
                row.recorded.strftime(fmt),
                row.ResponseId,
                who["last"][i],
                who["first"][i],
                who["email"][i],
                "",
                f"39.{7392 + i}",
                f"-104.{9903 - i}",
                "email",
                "EN",
                int(row.nps),
                sat,
                row.why,
            ]
        )
    write_rows(path, [rows_ids, rows_q, import_ids, *body], encoding="utf-8-sig")
    return pd.concat([data, who], axis=1)


def test_qualtrics_three_header_rows(db: Store, tmp_path: Path) -> None:
    path = tmp_path / "Onboarding+survey_March+18,+2024_09.12.csv"
    data = qualtrics_export(path)
    result = import_file(db, path)
    balanced(result)
    assert (result.read, result.imported, result.rejected) == (36, 36, 0)
    assert result.platform == "Qualtrics"
    left_out_as_personal(
        result, "IPAddress", "RecipientLastName", "RecipientFirstName", "RecipientEmail"
    )
    stored = responses(db).set_index("response_id")
    assert set(stored.index) == set(data["ResponseId"])
    want = (
        data.set_index("ResponseId")["recorded"]
        .dt.tz_localize("America/Denver")
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
    )
    got = pd.to_datetime(stored["submitted_at"]).reindex(want.index)
    assert (got == want).all(), pd.DataFrame({"got": got, "want": want})
    assert stored.loc[data["ResponseId"], "comment"].tolist() == data["why"].tolist()
    text = stored_text(stored.reset_index())
    for value in [*data["email"], *data["ip"], *data["first"], *data["last"]]:
        assert value not in text
    k = kpis(db)
    assert_score(k.nps, nps(data["nps"]))
    assert_score(k.csat, top2(data["sat"], 5))
    assert k.ces.n == 0


# --- 2. Trustpilot -----------------------------------------------------------------------------


# Titles as reviewers write them: short and long, some common ones repeated.
TITLES = [
    "Great service",
    "Never again",
    "Fast delivery, well packed",
    "Good value for money",
    "Disappointed with how my refund was handled",
    "Excellent!",
    "Ordered on Monday, arrived on Tuesday",
    "Customer service did not answer my emails",
    "Would buy here again",
    "Wrong size sent twice",
    "Easy returns",
    "The jacket looks even better than in the pictures",
    "Slow",
    "Five stars from me",
    "Not what I expected",
    "Helpful staff on the chat",
]


def trustpilot_export(
    path: Path, n: int = 40, seed: int = 2, *, organic_without_reference: bool = False
) -> pd.DataFrame:
    """Trustpilot's review export; the Reference Id is the shop's order reference, which
    organic (uninvited) reviews do not have."""
    rng = rng_for(seed)
    stars = rng.choice([1, 2, 3, 4, 5], n, p=[0.15, 0.1, 0.15, 0.25, 0.35])
    titles = list(rng.choice(TITLES, n))
    frame = pd.DataFrame(
        {
            "Review Created (UTC)": times(n, seed).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Review Consumer User Id": [
                "".join(rng.choice(list("0123456789abcdef"), 24)) for _ in range(n)
            ],
            "Review Title": titles,
            "Review Content": comments(n, seed),
            "Review Stars": stars,
            "Source Of Review": rng.choice(["InvitationApi", "Organic", "BasicLink"], n),
            "Review Language": rng.choice(["en", "da", "de"], n),
            "Reference Id": [f"ORD-{48_000 + 7 * i}" for i in range(n)],
        }
    )
    if organic_without_reference:
        frame.loc[frame["Source Of Review"] == "Organic", "Reference Id"] = ""
    write_frame(path, frame)
    return frame


def test_trustpilot_reviews(db: Store, tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    data = trustpilot_export(path)
    result = import_file(db, path)
    balanced(result)
    assert (result.imported, result.rejected, result.platform) == (40, 0, "Trustpilot")
    k = kpis(db)
    assert_score(k.csat, top2(data["Review Stars"], 5))
    assert k.nps.n == 0
    cols = suggested(path)
    title = cols["Review Title"]
    assert title.to == "text" and str(title.stored_as).startswith(schema.EXTRA_TEXT_PREFIX)
    stored = responses(db).set_index("response_id").loc[data["Reference Id"]]
    assert stored["comment"].tolist() == data["Review Content"].tolist()
    assert stored[title.stored_as].tolist() == data["Review Title"].tolist()
    assert stored["language"].tolist() == data["Review Language"].tolist()
    assert title.stored_as not in db.dimensions()
    assert not any(c.to in SCORES for h, c in cols.items() if h != "Review Stars")


def test_trustpilot_organic_reviews_without_reference_id(db: Store, tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    data = trustpilot_export(path, organic_without_reference=True)
    assert (data["Reference Id"] == "").sum() == 7
    result = import_file(db, path)
    balanced(result)
    assert (result.read, result.imported, result.rejected) == (40, 40, 0)
    assert_score(kpis(db).csat, top2(data["Review Stars"], 5))
    assert sorted(responses(db)["comment"]) == sorted(data["Review Content"])


# --- 3. Booking-style hotel reviews ----------------------------------------------------------


def booking_export(path: Path, n: int = 60, seed: int = 3) -> pd.DataFrame:
    rng = rng_for(seed)
    who = people(n, seed)
    scores = np.round(rng.uniform(2.5, 10.0, n), 1)
    scores[:4] = [7.5, 10.0, 8.8, 5.0]
    frame = pd.DataFrame(
        {
            "Review date": times(n, seed).strftime("%Y-%m-%d"),
            "Reviewer name": who["first"] + " " + who["last"].str[0] + ".",
            "Reviewer country": rng.choice(["Norway", "Germany", "Slovenia", "Denmark"], n),
            "Review score": [f"{s:.1f}" if i % 4 else f"{s:g}" for i, s in enumerate(scores)],
            "Review title": rng.choice(["Superb", "Good", "Pleasant", "Disappointing"], n),
            "Positive review": [
                f"{rng.choice(['Great breakfast', 'Quiet room', 'Helpful staff'])}, "
                f"and the location near the station was perfect for us ({i})"
                for i in range(n)
            ],
            "Negative review": [
                "" if i % 5 == 0 else f"The wifi in room {300 + i} kept dropping all evening"
                for i in range(n)
            ],
            "Room type": rng.choice(["Double Room", "Twin Room", "Suite"], n),
            "Nights": rng.integers(1, 6, n),
            "Traveler type": rng.choice(["Couple", "Family", "Solo traveler"], n),
        }
    )
    write_frame(path, frame)
    return frame.assign(score=scores)


def test_booking_scores_keep_decimals(db: Store, tmp_path: Path) -> None:
    path = tmp_path / "hotel_reviews.csv"
    data = booking_export(path)
    result = import_file(db, path)
    balanced(result)
    assert (result.imported, result.rejected) == (60, 0)
    left_out_as_personal(result, "Reviewer name")
    cols = suggested(path)
    assert cols["Review score"].to == "rating" and cols["Review score"].scale == (1, 10)
    got = ratings(db)
    assert set(got["scale"]) == {"1-10"}
    assert sorted(got["rating"]) == sorted(data["score"])  # 7.5 stays 7.5
    k = kpis(db)
    assert (k.nps.n, k.csat.n, k.ces.n) == (0, 0, 0)
    stored = responses(db)
    for header in ("Positive review", "Negative review"):
        col = cols[header]
        assert col.to == "text", col
        name = str(col.stored_as)
        assert name.startswith(schema.EXTRA_TEXT_PREFIX) and name not in db.dimensions()
        want = data[header].replace("", np.nan).dropna()
        assert sorted(stored[name].dropna()) == sorted(want)
    text = stored_text(stored)
    assert not any(name in text for name in data["Reviewer name"])


# --- 4. Google Play ----------------------------------------------------------------------------


def google_play_export(path: Path, n: int = 30, seed: int = 4) -> pd.DataFrame:
    """Play Console's monthly reviews CSV: UTF-16 with a BOM, times in UTC."""
    rng = rng_for(seed)
    at = times(n, seed)
    millis = (at - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    text = comments(n, seed, empty=0.3)
    frame = pd.DataFrame(
        {
            "Package Name": "com.example.fjordbank",
            "App Version Code": rng.choice([412, 415, 418], n),
            "App Version Name": rng.choice(["4.1.2", "4.1.5", "4.1.8"], n),
            "Reviewer Language": rng.choice(["en", "no", "sv"], n),
            "Device": rng.choice(["a52q", "oriole", "dm3q"], n),
            "Review Submit Date and Time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Review Submit Millis Since Epoch": millis,
            "Review Last Update Date and Time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Review Last Update Millis Since Epoch": millis,
            "Star Rating": rng.integers(1, 6, n),
            "Review Title": "",
            "Review Text": text,
            "Developer Reply Date and Time": "",
            "Developer Reply Millis Since Epoch": "",
            "Developer Reply Text": "",
            "Review Link": [
                f"https://play.google.com/apps/publish?reviewId=gp:AOqpTO{seed}{i:04d}"
                for i in range(n)
            ],
        }
    )
    write_frame(path, frame, encoding="utf-16")
    return frame.assign(at=at)


def test_google_play_reviews(db: Store, tmp_path: Path) -> None:
    path = tmp_path / "reviews_reviews_com.example.fjordbank_202403.csv"
    data = google_play_export(path)
    result = import_file(db, path)
    balanced(result)
    assert (result.imported, result.rejected) == (30, 0)
    assert result.platform == "Google Play reviews"
    k = kpis(db)
    assert_score(k.csat, top2(data["Star Rating"], 5))
    assert k.nps.n == 0
    stored = responses(db).sort_values("submitted_at", ignore_index=True)
    assert (pd.to_datetime(stored["submitted_at"]) == data["at"]).all()
    assert stored["comment"].fillna("").tolist() == data["Review Text"].tolist()
    assert stored["language"].tolist() == data["Reviewer Language"].tolist()
    for header in ("Device", "Package Name", "Review Submit Millis Since Epoch"):
        assert header in result.left_out
    cols = suggested(path)
    assert [h for h, c in cols.items() if c.to in SCORES] == ["Star Rating"]


# --- 5. Likert labels in several languages --------------------------------------------------

LIKERT = {
    # satisfaction question, its five labels (lowest first), ease statement, seven labels
    "no": (
        "Hvor fornøyd er du med kundeservicen?",
        ["Svært misfornøyd", "Misfornøyd", "Verken fornøyd eller misfornøyd", "Fornøyd",
         "Svært fornøyd"],
        "Det var lett å få hjelp",
        ["Helt uenig", "Uenig", "Litt uenig", "Verken enig eller uenig", "Litt enig", "Enig",
         "Helt enig"],
    ),
    "da": (
        "Hvor tilfreds er du med kundeservice?",
        ["Meget utilfreds", "Utilfreds", "Hverken tilfreds eller utilfreds", "Tilfreds",
         "Meget tilfreds"],
        "Det var let at få hjælp",
        ["Helt uenig", "Uenig", "Delvis uenig", "Hverken enig eller uenig", "Delvis enig",
         "Enig", "Helt enig"],
    ),
    "sv": (
        "Hur nöjd är du med kundtjänsten?",
        ["Mycket missnöjd", "Missnöjd", "Varken nöjd eller missnöjd", "Nöjd", "Mycket nöjd"],
        "Det var lätt att få hjälp",
        ["Instämmer inte alls", "Instämmer inte", "Instämmer delvis inte", "Varken eller",
         "Instämmer delvis", "Instämmer", "Instämmer helt"],
    ),
    "sl": (
        "Kako zadovoljni ste z našo podporo?",
        ["Zelo nezadovoljen", "Nezadovoljen", "Niti zadovoljen niti nezadovoljen",
         "Zadovoljen", "Zelo zadovoljen"],
        "Bilo je enostavno dobiti pomoč",
        ["Popolnoma se ne strinjam", "Se ne strinjam", "Deloma se ne strinjam",
         "Niti se strinjam niti ne strinjam", "Deloma se strinjam", "Se strinjam",
         "Popolnoma se strinjam"],
    ),
    "de": (
        "Wie zufrieden sind Sie mit unserem Kundenservice?",
        ["Sehr unzufrieden", "Unzufrieden", "Weder zufrieden noch unzufrieden", "Zufrieden",
         "Sehr zufrieden"],
        "Es war einfach, Hilfe zu bekommen",
        ["Stimme gar nicht zu", "Stimme nicht zu", "Stimme eher nicht zu", "Weder noch",
         "Stimme eher zu", "Stimme zu", "Stimme voll zu"],
    ),
}  # fmt: skip
# How each language's export is written: date header and format, encoding, delimiter.
LIKERT_FILES = {
    "no": ("Dato", "%d.%m.%Y %H:%M", "utf-8-sig", ";"),
    "da": ("Dato", "%d-%m-%Y %H:%M", "cp1252", ";"),
    "sv": ("Datum", "%Y-%m-%d %H:%M", "utf-8", ";"),
    "sl": ("Datum", "%d. %m. %Y %H:%M", "cp1250", ";"),
    "de": ("Datum", "%d.%m.%Y %H:%M", "utf-8", ","),
}


def likert_export(path: Path, lang: str, n: int = 35, seed: int = 5) -> pd.DataFrame:
    rng = rng_for(seed)
    sat_q, sat_labels, ease_q, ease_labels = LIKERT[lang]
    date_h, fmt, encoding, delimiter = LIKERT_FILES[lang]
    sat = rng.integers(1, 6, n).astype("float64")
    ease = rng.integers(1, 8, n).astype("float64")
    ease[:7] = np.arange(1, 8)  # every label is used
    sat[:5] = np.arange(1, 6)
    sat[[8, 20]] = np.nan
    ease[[12]] = np.nan
    dates = pd.Series(times(n, seed).strftime(fmt))
    if lang == "sl":  # "5. 3. 2024 8:05": no leading zeros
        dates = dates.str.replace(r"(?<![\d:])0(\d)", r"\1", regex=True)
    frame = pd.DataFrame(
        {
            date_h: dates,
            sat_q: [sat_labels[int(v) - 1] if v == v else "" for v in sat],
            ease_q: [ease_labels[int(v) - 1] if v == v else "" for v in ease],
        }
    )
    write_frame(path, frame, encoding=encoding, delimiter=delimiter)
    return frame.assign(sat=sat, ease=ease)


@pytest.mark.parametrize("lang", list(LIKERT))
def test_likert_labels_by_language(db: Store, tmp_path: Path, lang: str) -> None:
    path = tmp_path / f"undersokelse_{lang}.csv"
    data = likert_export(path, lang)
    result = import_file(db, path)
    balanced(result)
    assert (result.imported, result.rejected) == (35, 0)
    k = kpis(db)
    assert_score(k.csat, top2(data["sat"], 5))
    ease = data["ease"].dropna()
    assert (k.ces.n, k.ces.value) == (len(ease), pytest.approx(ease.mean(), abs=1e-4))
    assert k.nps.n == 0


# --- 6. Missing-answer codes ---------------------------------------------------------------------

MISSING_HEADERS = {
    "no": (
        "Dato",
        "Hvor sannsynlig er det at du vil anbefale oss til en venn eller kollega?",
        "Hvor fornøyd er du med oss totalt sett? (1-5)",
    ),
    "da": (
        "Dato",
        "Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega?",
        "Hvor tilfreds er du samlet set? (1-5)",
    ),
    "sv": (
        "Datum",
        "Hur troligt är det att du skulle rekommendera oss till en vän eller kollega?",
        "Hur nöjd är du totalt sett? (1-5)",
    ),
    "en": (
        "Date",
        "How likely are you to recommend us to a friend or colleague?",
        "How satisfied are you overall? (1-5)",
    ),
}


@pytest.mark.parametrize(
    ("lang", "code"),
    [
        ("no", "Vet ikke"),
        ("da", "Ved ikke"),
        ("sv", "Vet ej"),
        ("en", "Don't know"),
        ("en", "N/A"),
        ("en", "99"),
        ("en", "-1"),
    ],
)
def test_missing_answer_codes(db: Store, tmp_path: Path, lang: str, code: str) -> None:
    n, seed = 40, 6
    rng = rng_for(seed)
    date_h, nps_h, sat_h = MISSING_HEADERS[lang]
    score = nps_answers(n, seed).astype(object)
    sat = rng.integers(1, 6, n).astype(object)
    score[[5, 9, 17, 30]] = code
    sat[[6, 22, 31]] = code
    frame = pd.DataFrame(
        {
            date_h: times(n, seed).strftime("%d.%m.%Y %H:%M"),
            nps_h: score,
            sat_h: sat,
            "Kommentar" if lang != "en" else "Comment": comments(n, seed, empty=0.4),
        }
    )
    path = write_frame(tmp_path / "svar.csv", frame, delimiter=";" if lang != "en" else ",")
    result = import_file(db, path)
    balanced(result)
    assert (result.read, result.imported, result.rejected) == (n, n, 0)
    assert result.missing_answers == {nps_h: 4, sat_h: 3}
    k = kpis(db)
    answered = pd.Series(score)[pd.Series(score) != code].astype(int)
    assert_score(k.nps, nps(answered))
    sat_answered = pd.Series(sat)[pd.Series(sat) != code].astype(int)
    assert_score(k.csat, top2(sat_answered, 5))


# --- 7. Ids and counts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "counter",
    [
        "",
        "Row",
        "No.",
    ],
)
def test_ids_and_counts_are_never_ratings(db: Store, tmp_path: Path, counter: str) -> None:
    n, seed = 20, 7
    rng = rng_for(seed)
    score = nps_answers(n, seed)
    sat = rng.integers(1, 6, n)
    counts = {
        counter: np.arange(1, n + 1),
        "bank_id": rng.integers(1, 6, n),
        "likes": rng.poisson(2, n),
        "review_count": rng.poisson(3, n) + 1,
        "duration_seconds": rng.integers(5, 600, n),
    }
    frame = pd.DataFrame(
        {
            **{h: v for h, v in counts.items() if h == counter},
            "Date": times(n, seed).strftime("%Y-%m-%d %H:%M"),
            **{h: v for h, v in counts.items() if h != counter},
            "How likely are you to recommend Fjordbank to a friend?": score,
            "Satisfaction (1-5)": sat,
            "Review": comments(n, seed),
        }
    )
    path = write_frame(tmp_path / "bank_reviews.csv", frame)
    cols = suggested(path)
    headers = read_source(path).headers
    for header in [*headers[:1], "bank_id", "likes", "review_count", "duration_seconds"]:
        assert cols[header].to not in SCORES, cols[header]
    result = import_file(db, path)
    balanced(result)
    assert (result.imported, result.rejected) == (n, 0)
    k = kpis(db)
    assert_score(k.nps, nps(score))
    assert_score(k.csat, top2(sat, 5))
    assert ratings(db).empty


# --- 8. What is NPS and what is not ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "values", "want"),
    [
        ("How would you rate our mobile app? (0-10)", "0-10", "rating 0-10"),
        ("NPS", "1-5", "rating 1-5"),
        ("survey_q6_nps", "0-10", "nps"),
        ("Q1_NPS", "0-10", "nps"),
        ("How likely are you to recommend us to a friend? (1-10)", "1-10", "nps 1-10"),
        ("How likely are you to recommend us to a friend?", "1-10", "nps 1-10"),
        ("Would you recommend us?", "yes/no", "rating 0-1"),
    ],
)
def test_what_is_nps(db: Store, tmp_path: Path, header: str, values: str, want: str) -> None:
    n, seed = 30, 8
    rng = rng_for(seed)
    if values == "yes/no":
        answers = pd.Series(rng.choice(["Yes", "No"], n, p=[0.7, 0.3]))
        numbers = (answers == "Yes").astype(float)
    else:
        low, high = map(int, values.split("-"))
        numbers = pd.Series(rng.integers(low, high + 1, n)).astype(float)
        numbers[:2] = [low, high]
        answers = numbers.astype(int).astype(str)
    frame = pd.DataFrame({"Date": times(n, seed).strftime("%Y-%m-%d %H:%M"), header: answers})
    path = write_frame(tmp_path / "survey.csv", frame)
    col = suggested(path)[header]
    result = import_file(db, path)
    balanced(result)
    assert (result.imported, result.rejected) == (n, 0)
    k = kpis(db)
    got = ratings(db)
    if want.startswith("nps"):
        assert col.to == "nps", col
        assert_score(k.nps, nps(numbers))
        assert got.empty
        if want == "nps 1-10":
            assert "1–10" in col.warning, col
    else:
        scale = want.split()[1]
        assert col.to == "rating" and col.scale == tuple(map(int, scale.split("-"))), col
        assert k.nps.n == 0 and k.csat.n == 0
        assert set(got["scale"]) == {scale}
        assert sorted(got["rating"]) == sorted(numbers)
        assert "not NPS" in col.warning and scale.replace("-", "–") in col.warning, col


# --- 9. CSAT and CES on other scales -------------------------------------------------------------


@pytest.mark.parametrize("high", [10, 7])
def test_csat_top_two_box_and_ces_scales(db: Store, tmp_path: Path, high: int) -> None:
    n, seed = 30, 9
    rng = rng_for(seed)
    ease5 = rng.integers(1, 6, n)
    sat = rng.integers(1, high + 1, n)
    sat[:2] = [1, high]
    ces7 = rng.integers(1, 8, n)
    sat_h = f"How satisfied were you with your visit? (1-{high})"
    ease5_h = "How easy was it to book your appointment? (1-5)"
    ces7_h = "It was easy to find the clinic (1-7)"
    frame = pd.DataFrame(
        {
            "Date": times(n, seed).strftime("%Y-%m-%d %H:%M"),
            ease5_h: ease5,
            sat_h: sat,
            ces7_h: ces7,
        }
    )
    path = write_frame(tmp_path / "clinic.csv", frame)
    cols = suggested(path)
    assert (cols[sat_h].to, cols[sat_h].scale) == ("csat", (1, high))
    assert (cols[ease5_h].to, cols[ease5_h].scale) == ("rating", (1, 5))
    assert (cols[ces7_h].to, cols[ces7_h].scale) == ("ces", (1, 7))
    result = import_file(db, path)
    balanced(result)
    assert (result.imported, result.rejected) == (n, 0)
    k = kpis(db)
    assert_score(k.csat, top2(sat, high))
    assert (k.ces.n, k.ces.value) == (n, pytest.approx(ces7.mean(), abs=1e-4))
    got = ratings(db)
    by_scale = {s: sorted(g["rating"]) for s, g in got.groupby("scale")}
    assert by_scale == {f"1-{high}": sorted(sat.astype(float)), "1-5": sorted(ease5.astype(float))}


# --- 10. Personal data found by its values ----------------------------------------------------


def contact_export(path: Path, emails: list[str], seed: int) -> pd.DataFrame:
    n = len(emails)
    frame = pd.DataFrame(
        {
            "Response": [f"FB-{seed}{i:03d}" for i in range(n)],
            "Submitted": times(n, seed).strftime("%Y-%m-%d %H:%M"),
            "Contact": emails,
            "Source": [f"203.0.113.{(seed * 31 + i) % 250 + 1}" for i in range(n)],
            "How likely are you to recommend us?": nps_answers(n, seed),
            "Comment": comments(n, seed),
        }
    )
    write_frame(path, frame)
    return frame


def test_personal_data_by_values_and_hashed_ids(db: Store, tmp_path: Path) -> None:
    pool = list(people(30, 10)["email"])
    first = contact_export(tmp_path / "feedback_march.csv", pool[:20], 11)
    result = import_file(db, tmp_path / "feedback_march.csv")
    balanced(result)
    assert result.imported == 20
    left_out_as_personal(result, "Contact", "Source")
    assert "e-mail" in result.left_out["Contact"] and "IP" in result.left_out["Source"]
    text = stored_text(responses(db))
    assert "@" not in text and not any(ip in text for ip in first["Source"])

    april = contact_export(tmp_path / "feedback_april.csv", pool[5:25], 12)
    may = contact_export(tmp_path / "feedback_may.csv", pool[15:30], 13)
    edited = suggest_mapping(read_source(tmp_path / "feedback_april.csv")).to_dict()
    edited["columns"]["Contact"] = {"to": "customer_id", "hash": True}
    mapping = Mapping.from_dict(edited)
    for path in ("feedback_april.csv", "feedback_may.csv"):
        result = import_file(db, tmp_path / path, mapping=mapping)
        balanced(result)
        assert (result.imported, result.rejected) == (20 if "april" in path else 15, 0)
    stored = responses(db).set_index("response_id")["customer_id"]
    both = pd.concat([april, may]).set_index("Response")["Contact"]
    ids = stored.reindex(both.index)
    assert ids.notna().all()
    assert not any("@" in str(v) or v in pool for v in ids)
    # one address, one id, across the two imports; different addresses, different ids
    per_address = ids.groupby(both).nunique()
    assert (per_address == 1).all()
    assert ids.groupby(both).first().nunique() == both.nunique()
    assert both.loc[both.duplicated(keep=False)].nunique() == 10  # pool[15:25] in both
    assert "customer_id" not in db.dimensions()


# --- 11. Cumulative export without an id -------------------------------------------------------


def test_cumulative_export_downloaded_twice(db: Store, tmp_path: Path) -> None:
    n, seed = 30, 14
    rng = rng_for(seed)
    frame = pd.DataFrame(
        {
            "Timestamp": times(n, seed).strftime("%Y-%m-%d %H:%M:%S"),
            "How likely are you to recommend us?": nps_answers(n, seed),
            "Satisfaction (1-5)": rng.integers(1, 6, n),
            "Region": rng.choice(["Oslo", "Skåne", "Celje"], n),
            "Anything else?": comments(n, seed, empty=0.3),
        }
    )
    write_frame(tmp_path / "export.csv", frame.iloc[:25])
    write_frame(tmp_path / "export (1).csv", frame.iloc[::-1])  # newest first, 5 more
    first = import_file(db, tmp_path / "export.csv")
    second = import_file(db, tmp_path / "export (1).csv")
    for result in (first, second):
        balanced(result)
    assert (first.read, first.imported, first.rejected) == (25, 25, 0)
    assert (second.read, second.imported, second.already_stored) == (30, 5, first.imported)
    assert second.rejected == 0
    k = kpis(db)
    assert k.responses == 30
    assert_score(k.nps, nps(frame["How likely are you to recommend us?"]))
    assert_score(k.csat, top2(frame["Satisfaction (1-5)"], 5))


# --- 12. Microsoft Forms: every form numbered from 1 ------------------------------------------


FORMS_NPS = "How likely are you to recommend Contoso to a friend or colleague?"


def forms_responses(n: int, seed: int) -> pd.DataFrame:
    """A Microsoft Forms results workbook's rows: ID from 1, real date-time cells."""
    rng = rng_for(seed)
    who = people(n, seed)
    done = times(n, seed)
    frame = pd.DataFrame(
        {
            "ID": np.arange(1, n + 1),
            "Start time": (
                done - pd.to_timedelta(rng.integers(30, 600, n), unit="s")
            ).to_pydatetime(),
            "Completion time": done.to_pydatetime(),
            "Email": who["email"],
            "Name": who["first"] + " " + who["last"],
            "Last modified time": None,
            FORMS_NPS: nps_answers(n, seed),
            "Any other comments?": comments(n, seed, empty=0.3),
        }
    )
    return frame


def forms_workbook(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_excel(path, sheet_name="Sheet1", index=False, engine="openpyxl")
    return path


def test_microsoft_forms_two_forms_both_from_one(db: Store, tmp_path: Path) -> None:
    customers = forms_responses(15, 15)
    training = forms_responses(8, 16)
    files = [
        forms_workbook(tmp_path / "Customer survey(1-12).xlsx", customers.iloc[:12]),
        forms_workbook(tmp_path / "Training feedback(1-8).xlsx", training),
    ]
    results = [import_file(db, path) for path in files]
    for result in results:
        balanced(result)
        assert result.platform == "Microsoft Forms"
        assert (result.rejected, result.already_stored) == (0, 0)
        left_out_as_personal(result, "Email", "Name")
    assert [r.imported for r in results] == [12, 8]
    assert responses(db)["response_id"].nunique() == 20
    # the first form downloaded again later (IDs 1–15): its first 12 are the same responses
    again = import_file(db, forms_workbook(tmp_path / "Customer survey(1-15).xlsx", customers))
    balanced(again)
    assert (again.imported, again.already_stored, again.rejected) == (3, 12, 0)
    stored = responses(db)
    assert stored["response_id"].nunique() == 23
    both = pd.concat([customers, training])
    assert_score(kpis(db).nps, nps(both[FORMS_NPS]))
    assert not any(e in stored_text(stored) for e in both["Email"])


# --- 13. Report layouts: title block and total row; multi-select over option columns ---------


def test_excel_report_with_title_and_total(db: Store, tmp_path: Path) -> None:
    n, seed = 24, 17
    rng = rng_for(seed)
    at = times(n, seed)
    sat = rng.integers(1, 6, n)
    score = nps_answers(n, seed)
    header = [
        "Date",
        "Store",
        "How satisfied were you with your visit? (1-5)",
        "How likely are you to recommend us? (0-10)",
        "Comment",
    ]
    rows: list[list[object]] = [
        ["Customer feedback report – Oslo stores", None, None, None, None],
        ["Period: 01.03.2024 – 31.03.2024", None, None, None, None],
        [None] * 5,
        header,
    ]
    notes = comments(n, seed, empty=0.5)
    stores = rng.choice(["Storgata", "Majorstuen", "Grünerløkka"], n)
    for i in range(n):
        rows.append(
            [at[i].to_pydatetime(), stores[i], int(sat[i]), int(score[i]), notes[i] or None]
        )
    rows.append(["Total", None, int(sat.sum()), int(score.sum()), None])
    path = tmp_path / "feedback_report_march.xlsx"
    pd.DataFrame(rows).to_excel(path, header=False, index=False, engine="openpyxl")
    result = import_file(db, path)
    balanced(result)
    assert (result.read, result.imported, result.rejected) == (n, n, 0)
    k = kpis(db)
    assert_score(k.csat, top2(sat, 5))
    assert_score(k.nps, nps(score))
    segment = str(suggested(path)["Store"].to)
    assert sorted(responses(db)[segment].dropna()) == sorted(stores)


def test_surveymonkey_multi_select_merged(db: Store, tmp_path: Path) -> None:
    n, seed = 25, 18
    rng = rng_for(seed)
    who = people(n, seed)
    options = ["Reports", "Dashboards", "Alerts"]
    chosen = rng.random((n, len(options))) < 0.5
    chosen[0] = [True, True, True]
    chosen[1] = [False, False, False]
    score = nps_answers(n, seed)
    at = times(n, seed)
    question = "Which of these features do you use?"
    row1 = [
        "Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
        "Email Address", "First Name", "Last Name", "Custom Data 1",
        "How likely is it that you would recommend Fjordbank to a friend or colleague?",
        question, "", "", "", "What is the one thing we could do better?",
    ]  # fmt: skip
    row2 = ["", "", "", "", "", "", "", "", "", "Response", *options]
    row2 += ["Other (please specify)", "Open-Ended Response"]
    body = []
    fmt = "%m/%d/%Y %I:%M:%S %p"
    for i in range(n):
        other = "Exports to Excel" if i % 6 == 2 else ""
        body.append(
            [
                str(11_400_000_000 + 37 * i), "431234567",
                (at[i] - pd.Timedelta(minutes=4)).strftime(fmt), at[i].strftime(fmt),
                f"203.0.113.{i + 1}", who["email"][i], who["first"][i], who["last"][i], "",
                int(score[i]),
                *[o if c else "" for o, c in zip(options, chosen[i], strict=True)],
                other, comments(n, seed)[i],
            ]
        )  # fmt: skip
    path = write_rows(tmp_path / "Sheet_1.csv", [row1, row2, *body])
    source = read_source(path)
    assert source.options.get(question) == options
    col = suggested(path)[question]
    assert col.to not in (None, *SCORES), col
    result = import_file(db, path)
    balanced(result)
    assert (result.imported, result.rejected, result.platform) == (n, 0, "SurveyMonkey")
    left_out_as_personal(result, "IP Address", "Email Address", "First Name", "Last Name")
    stored = responses(db).set_index("response_id")
    ids = [str(11_400_000_000 + 37 * i) for i in range(n)]
    want = ["; ".join(o for o, c in zip(options, row, strict=True) if c) or None for row in chosen]
    got = stored.loc[ids, str(col.to)].tolist()
    assert [None if pd.isna(v) else v for v in got] == want
    assert_score(kpis(db).nps, nps(score))
