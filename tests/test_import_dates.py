"""Dates as survey platforms and people write them → naive UTC timestamps (cxdata.importing.dates).

One test per format with exact UTC instants, the day/month order rules (a silently wrong
date is the worst outcome: undecided columns must say so), Excel serials and epochs, and a
property test rendering random instants in random formats and parsing them back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxdata.importing import dates
from cxdata.importing.dates import (
    DATE_ORDERS,
    DAY_FIRST,
    MONTH_FIRST,
    ParsedDates,
    normalise_order,
    parse_dates,
)


def parse(values: list[str | None], **kwargs: str) -> ParsedDates:
    return parse_dates(pd.Series(values, dtype="str"), **kwargs)


def stamp(text: str) -> np.datetime64:
    return np.datetime64(text, "us")


def check(cases: dict[str, str], **kwargs: str) -> ParsedDates:
    """Each text parses (in one column) to the expected naive-UTC instant."""
    parsed = parse(list(cases), **kwargs)
    got = {text: str(value) for text, value in zip(cases, parsed.values, strict=True)}
    want = {text: str(stamp(expected)) for text, expected in cases.items()}
    assert got == want
    assert not parsed.invalid.any(), parsed.reasons
    return parsed


# --- formats --------------------------------------------------------------------------------


def test_iso_8601() -> None:
    parsed = check(
        {
            "2024-03-14": "2024-03-14T00:00",
            "2024-03-14T10:22": "2024-03-14T10:22",
            "2024-03-14 10:22:33": "2024-03-14T10:22:33",
            "2024-03-14 10:22:33.123456": "2024-03-14T10:22:33.123456",
            "2024-03-14T10:22:33.5Z": "2024-03-14T10:22:33.5",
            "2024-03-14T10:22:33.123456789Z": "2024-03-14T10:22:33.123456",
            "2024-03-14T10:22:00 UTC": "2024-03-14T10:22",
            "2024-03-14T10:22:00+01:00": "2024-03-14T09:22",
            "2024-03-14T10:22:00+0100": "2024-03-14T09:22",
            "2024-03-14T01:22:00-05:00": "2024-03-14T06:22",
            "2024-03-14T00:30:00+02:00": "2024-03-13T22:30",
        }
    )
    assert parsed.kind == "ISO 8601" and parsed.order is None and not parsed.undecided


def test_google_forms_gmt_offsets_and_twelve_hour_clock() -> None:
    parsed = check(
        {
            "2024/03/01 8:00:00 AM GMT+1": "2024-03-01T07:00",
            "2024/03/01 8:00:00 PM GMT-5": "2024-03-02T01:00",
            "2024/03/01 8:00:00 a.m. GMT+5:30": "2024-03-01T02:30",
            "2024/03/01 12:30:00 AM GMT": "2024-03-01T00:30",
            "2024/03/01 12:30:00 p.m. GMT+1": "2024-03-01T11:30",
        }
    )
    assert parsed.kind == "YYYY/MM/DD hh:mm:ss AM zone"


def test_surveymonkey_month_first_with_am_pm() -> None:
    parsed = check(
        {
            "03/14/2024 10:22:00 AM": "2024-03-14T10:22",
            "03/14/2024 12:05:00 AM": "2024-03-14T00:05",
            "3/4/2024 1:02:03 PM": "2024-03-04T13:02:03",
        }
    )
    assert parsed.order == MONTH_FIRST and parsed.kind == "MM/DD/YYYY hh:mm:ss AM"


def test_dotted_day_first_slovenian_finnish_nordic() -> None:
    parsed = check(
        {
            "14.03.2024 10:22": "2024-03-14T10:22",
            "04.03.2024 10:22": "2024-03-04T10:22",
            "4. 3. 2024 9:05": "2024-03-04T09:05",
            "14. 3. 2024": "2024-03-14T00:00",
            "14.3.2024 klo 10.22": "2024-03-14T10:22",
            "14.3.2024 kl. 10:22": "2024-03-14T10:22",
            "14.03.24 10:22": "2024-03-14T10:22",
        }
    )
    assert parsed.order == DAY_FIRST and not parsed.undecided
    # Only dotted dates, none with a day over 12: day-first by convention, not undecided.
    alone = check({"04.03.2024 10:22": "2024-03-04T10:22"})
    assert alone.order == DAY_FIRST and "convention" in alone.note


def test_rfc_2822() -> None:
    parsed = check(
        {
            "Thu, 14 Mar 2024 10:22:00 +0100": "2024-03-14T09:22",
            "Thu, 14 Mar 2024 10:22:00 GMT": "2024-03-14T10:22",
            "Fri, 01 Mar 2024 23:30:00 -0500": "2024-03-02T04:30",
        }
    )
    assert parsed.kind == "RFC 2822"


def test_month_abbreviations_and_english_dates() -> None:
    check(
        {
            "14-Mar-2024": "2024-03-14",
            "14 Mar 2024": "2024-03-14",
            "Mar 14, 2024 3:05 PM": "2024-03-14T15:05",
            "March 14th 2024": "2024-03-14",
            "the 1st of March, 2024": "2024-03-01",
            "Thursday, March 14, 2024 at 3:05 PM": "2024-03-14T15:05",
            "14 Sept. 2024": "2024-09-14",
            "Thu Mar 14 2024 10:22:00 GMT+0100 (Central European Standard Time)": (
                "2024-03-14T09:22"
            ),
        }
    )


def test_long_dates_in_the_nordic_languages_german_slovenian_finnish() -> None:
    check(
        {
            "Montag, 2. Januar 2023 um 08:00:00 MEZ": "2023-01-02T07:00",
            "Donnerstag, 14. März 2024 um 10:22 Uhr": "2024-03-14T10:22",
            "mandag 2. januar 2023 kl. 08:00": "2023-01-02T08:00",
            "torsdag den 14. marts 2024": "2024-03-14",
            "14 mars 2024": "2024-03-14",
            "torsdag 14 mars 2024 kl. 10:22": "2024-03-14T10:22",
            "14. marec 2024 ob 10:22": "2024-03-14T10:22",
            "četrtek, 14. marca 2024": "2024-03-14",
            "14. maaliskuuta 2024 klo 10.22": "2024-03-14T10:22",
            "torstaina 14. maaliskuuta 2024": "2024-03-14",
        }
    )


@pytest.mark.parametrize(
    ("zone", "hours"),
    [
        ("UTC", 0),
        ("GMT", 0),
        ("Z", 0),
        ("CET", 1),
        ("MEZ", 1),
        ("CEST", 2),
        ("MESZ", 2),
        ("EET", 2),
        ("EEST", 3),
        ("EST", -5),
        ("EDT", -4),
        ("PST", -8),
        ("PDT", -7),
    ],
)
def test_zone_abbreviations_convert_to_utc(zone: str, hours: int) -> None:
    parsed = parse([f"2024-03-14 12:00 {zone}", f"14.03.2024 12:00:00 {zone.lower()}"])
    expected = stamp("2024-03-14T12:00") - np.timedelta64(hours, "h")
    assert parsed.values.tolist() == [expected.item(), expected.item()]


def test_zoned_marks_values_that_carried_their_own_zone() -> None:
    parsed = parse(["2024-03-14 10:22", "2024-03-14 10:22 CET", "2024-03-14T10:22Z", "1710411720"])
    assert parsed.zoned is not None and parsed.zoned.tolist() == [False, True, True, True]


def test_excel_serial_days_in_a_plausible_range() -> None:
    parsed = parse(["45366", "45366.4375", "45366,5", "32874", "73415", "32873", "73416", "7"])
    assert parsed.values[:5].tolist() == [
        dt.datetime(2024, 3, 15),
        dt.datetime(2024, 3, 15, 10, 30),
        dt.datetime(2024, 3, 15, 12, 0),
        dt.datetime(1990, 1, 1),
        dt.datetime(2100, 12, 31),
    ]
    assert parsed.invalid.tolist() == [False] * 5 + [True] * 3
    assert "Excel" in parsed.reasons[5] and parsed.reasons[7] == "not a date"
    assert parsed.kind == "Excel serial"


def test_a_column_of_small_integers_is_not_dates() -> None:
    parsed = parse([str(i) for i in range(1, 101)])
    assert parsed.invalid.all() and np.isnat(parsed.values).all()
    assert set(parsed.reasons) == {"not a date"} and parsed.kind == ""


def test_unix_epochs_in_seconds_and_milliseconds() -> None:
    seconds = int(pd.Timestamp("2024-03-14 10:22:00").timestamp())
    parsed = check(
        {
            str(seconds): "2024-03-14T10:22",
            f"{seconds}.25": "2024-03-14T10:22:00.25",
            f"{seconds}123": "2024-03-14T10:22:00.123",
        }
    )
    assert parsed.kind.startswith("epoch seconds")


def test_bad_values_stay_invalid_with_a_reason_never_now() -> None:
    texts = [
        "2024-02-30",
        "31.04.2024",
        "14.03.2024 25:00",
        "03/14/2024 13:00 PM",
        "2024-03-14 10:22 XYZ",
        "Fri, 14 Mar 2024",
        "1850-01-01",
        "hello",
        "10:22",
        "14 Smarch 2024",
        "March 2024",
        "today 10:22",
        "x" * 200,
    ]
    parsed = parse([*texts, None, "", "  "])
    assert parsed.invalid.tolist() == [True] * len(texts) + [False] * 3
    assert np.isnat(parsed.values).all()
    assert parsed.reasons.tolist() == [
        "impossible date or time",
        "impossible date or time",
        "impossible date or time",
        "impossible date or time",
        "unknown time zone 'XYZ'",
        "the weekday does not match the date",
        "date outside 1900–2100",
        "not a date",
        "not a date",
        "unknown month name",
        "not a date",
        "not a date",
        "not a date (too long)",
        None,
        None,
        None,
    ]


def test_the_result_has_one_entry_per_row() -> None:
    texts = ["14.03.2024", None, "14.03.2024", "bad", "15.03.2024"]
    parsed = parse(texts)
    assert parsed.values.dtype == np.dtype("datetime64[us]")
    assert len(parsed.values) == len(parsed.invalid) == len(parsed.reasons) == 5
    assert parsed.ambiguous is not None and len(parsed.ambiguous) == 5
    assert parsed.values[0] == parsed.values[2] == stamp("2024-03-14")
    empty = parse_dates(pd.Series([], dtype="str"))
    assert len(empty.values) == 0 and empty.note == "" and empty.order is None
    objects = parse_dates(pd.Series(["14.03.2024", 45366, None], dtype=object))
    assert objects.values[1] == stamp("2024-03-15") and not objects.invalid.any()


# --- day/month order ------------------------------------------------------------------------


def test_undecided_when_every_date_fits_both_orders() -> None:
    texts = ["03/04/2024", "05/06/2024", "01/02/2024", "07/07/2024", None]
    parsed = parse(texts)
    assert parsed.undecided and parsed.order is None
    assert parsed.ambiguous.tolist() == [True, True, True, False, False]
    assert not parsed.invalid.any()  # not bad values: the order is missing
    assert np.isnat(parsed.values[:3]).all()
    assert parsed.values[3] == stamp("2024-07-07")  # reads the same either way
    assert "undecided" in parsed.note and "dmy or mdy" in parsed.note
    assert "03/04/2024, 05/06/2024, 01/02/2024" in parsed.note
    assert "undecided" in parsed.reasons[0] and parsed.reasons[3] is None
    assert "undecided" in parsed.kind

    dmy = parse(texts, order="dmy")
    assert not dmy.undecided and dmy.order == DAY_FIRST
    assert dmy.values[0] == stamp("2024-04-03")
    mdy = parse(texts, order="mdy")
    assert not mdy.undecided and mdy.order == MONTH_FIRST
    assert mdy.values[0] == stamp("2024-03-04")
    assert parse(texts, order="month-first").values[0] == mdy.values[0]
    assert parse(texts, order="day-first").values[0] == dmy.values[0]


def test_a_day_over_12_decides_the_whole_column() -> None:
    day = parse(["03/04/2024", "13/04/2024 10:00"])
    assert day.order == DAY_FIRST and not day.undecided
    assert day.values.tolist() == [dt.datetime(2024, 4, 3), dt.datetime(2024, 4, 13, 10)]
    assert "13/04/2024 10:00 only fits day-first" in day.note
    month = parse(["03/04/2024", "04/13/2024"])
    assert month.order == MONTH_FIRST and month.values[0] == stamp("2024-03-04")
    assert "04/13/2024 only fits month-first" in month.note


def test_am_pm_is_evidence_for_month_first() -> None:
    parsed = parse(["03/04/2024 10:00 AM", "05/06/2024 2:00 PM"])
    assert parsed.order == MONTH_FIRST and not parsed.undecided
    assert parsed.values.tolist() == [dt.datetime(2024, 3, 4, 10), dt.datetime(2024, 5, 6, 14)]
    assert "AM/PM" in parsed.note
    # ... but a value that only fits day-first outweighs it (a British 12-hour export).
    british = parse(["13/04/2024 10:00 AM", "03/04/2024 2:00 PM"])
    assert british.order == DAY_FIRST and british.values[1] == stamp("2024-04-03T14:00")


@pytest.mark.parametrize(
    ("hint", "order", "expected"),
    [
        ("mdy", MONTH_FIRST, "2024-03-04"),
        ("month-first", MONTH_FIRST, "2024-03-04"),
        ("dmy", DAY_FIRST, "2024-04-03"),
        ("day-first", DAY_FIRST, "2024-04-03"),
    ],
)
def test_the_caller_hint_decides_when_the_values_do_not(
    hint: str, order: str, expected: str
) -> None:
    parsed = parse(["03/04/2024", "05/06/2024"], hint=hint)
    assert parsed.order == order and not parsed.undecided
    assert parsed.values[0] == stamp(expected) and "hinted" in parsed.note


def test_values_outweigh_the_hint_and_say_so() -> None:
    parsed = parse(["03/04/2024", "13/04/2024"], hint="mdy")
    assert parsed.order == DAY_FIRST and parsed.values[0] == stamp("2024-04-03")
    assert "overriding the hint" in parsed.note
    assert parse(["03/04/2024"], hint="auto").undecided
    assert parse(["03/04/2024"], hint=None).undecided


def test_mixed_orders_keep_the_majority_and_reject_the_rest() -> None:
    parsed = parse(["13/04/2024", "14/04/2024", "04/15/2024", "03/04/2024"])
    assert parsed.order == DAY_FIRST and not parsed.undecided
    assert parsed.invalid.tolist() == [False, False, True, False]
    assert parsed.reasons[2] == "does not fit the day-first order of this column"
    assert parsed.values[3] == stamp("2024-04-03")
    assert "mixed orders" in parsed.note and "04/15/2024" in parsed.note
    assert "rejected" in parsed.note
    tie = parse(["13/04/2024", "04/15/2024", "03/04/2024"])
    assert tie.undecided and tie.ambiguous.tolist() == [False, False, True]
    assert "as many each way" in tie.note


def test_an_explicit_order_wins_and_rejects_what_does_not_fit() -> None:
    parsed = parse(["12/31/2025", "05/06/2025"], order="dmy")
    assert parsed.invalid.tolist() == [True, False]
    assert parsed.reasons[0] == "does not fit the day-first order of this column"
    assert parsed.values[1] == stamp("2025-06-05") and "as set" in parsed.note


def test_order_names() -> None:
    assert {"auto", "dmy", "mdy", "day-first", "month-first"} <= set(DATE_ORDERS)
    assert [normalise_order(n) for n in ("dmy", "DMY", "day_first", "day-first")] == [DAY_FIRST] * 4
    assert [normalise_order(n) for n in ("mdy", "month-first", " Month-First ")] == [
        MONTH_FIRST
    ] * 3
    assert normalise_order("auto") == "auto"
    with pytest.raises(ValueError, match="auto, dmy, mdy"):
        normalise_order("ymd")
    with pytest.raises(ValueError, match="auto, dmy, mdy"):
        parse(["03/04/2024"], order="us")
    with pytest.raises(ValueError, match="auto, dmy, mdy"):
        parse(["03/04/2024"], hint="american")


def test_kind_describes_the_formats_by_share_of_rows() -> None:
    assert parse(["14.03.2024 10:22", "15.03.2024 11:00"]).kind == "DD.MM.YYYY HH:MM"
    mixed = parse(["14.03.2024 10:22"] * 3 + ["2024-03-14"])
    assert mixed.kind == "DD.MM.YYYY HH:MM (75%), ISO 8601 (25%)"


# --- dateparser fallback --------------------------------------------------------------------


class _CountingParser:
    def __init__(self, parser: object) -> None:
        self.parser, self.texts = parser, []

    def get_date_data(self, text: str) -> object:
        self.texts.append(text)
        return self.parser.get_date_data(text)  # type: ignore[attr-defined]


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> _CountingParser:
    counter = _CountingParser(dates._dateparser())
    monkeypatch.setattr(dates, "_dateparser", lambda: counter)
    return counter


def test_dateparser_takes_the_rest_once_per_distinct_date_part(
    counting: _CountingParser,
) -> None:
    texts = ["den 14:e mars 2024 10:00", "den 14:e mars 2024 11:30", "den 14:e mars 2024"] * 50
    parsed = parse([*texts, "14.03.2024"])
    assert counting.texts == ["den 14:e mars 2024"]
    assert parsed.values[1] == stamp("2024-03-14T11:30") and not parsed.invalid.any()
    assert "long date (dateparser)" in parsed.kind


def test_dateparser_gives_up_on_a_column_that_is_not_dates(counting: _CountingParser) -> None:
    comments = [f"Room {i} was dirty in 2024, waited {i % 7} days" for i in range(500)]
    parsed = parse(comments)
    assert parsed.invalid.all()
    assert len(counting.texts) <= dates._FALLBACK_PROBE
    assert "dateparser stopped" in parsed.note


def test_dateparser_never_guesses_a_numeric_order(counting: _CountingParser) -> None:
    parsed = parse(["03 04 2024 Uhr"])
    assert parsed.invalid.all() and counting.texts == []


# --- property: random instants, rendered and parsed back ------------------------------------

EN_MONTHS = "January February March April May June July August September October November December"
EN_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
LONG: dict[str, tuple[str, str]] = {
    "de": (
        "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
        "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
    ),
    "nb": (
        "januar februar mars april mai juni juli august september oktober november desember",
        "mandag tirsdag onsdag torsdag fredag lørdag søndag",
    ),
    "da": (
        "januar februar marts april maj juni juli august september oktober november december",
        "mandag tirsdag onsdag torsdag fredag lørdag søndag",
    ),
    "sv": (
        "januari februari mars april maj juni juli augusti september oktober november december",
        "måndag tisdag onsdag torsdag fredag lördag söndag",
    ),
    "sl": (
        "januarja februarja marca aprila maja junija julija avgusta septembra oktobra "
        "novembra decembra",
        "ponedeljek torek sreda četrtek petek sobota nedelja",
    ),
    "fi": (
        "tammikuuta helmikuuta maaliskuuta huhtikuuta toukokuuta kesäkuuta heinäkuuta "
        "elokuuta syyskuuta lokakuuta marraskuuta joulukuuta",
        "maanantaina tiistaina keskiviikkona torstaina perjantaina lauantaina sunnuntaina",
    ),
    "en": (EN_MONTHS, EN_DAYS),
}
LONG_NAMES = {k: (m.split(), d.split()) for k, (m, d) in LONG.items()}
CONNECTOR = {"de": "um", "nb": "kl.", "da": "kl.", "sv": "kl.", "sl": "ob", "fi": "klo", "en": "at"}


@dataclass
class Rendered:
    text: str
    utc: dt.datetime
    order: str = "auto"


def _offset(minutes: int) -> dt.timedelta:
    return dt.timedelta(minutes=minutes)


def _h12(t: dt.datetime) -> str:
    return f"{(t.hour % 12) or 12}:{t:%M}"


def _ampm(t: dt.datetime, dotted: bool) -> str:
    return ("p.m." if dotted else "PM") if t.hour >= 12 else ("a.m." if dotted else "AM")


@st.composite
def rendered(draw: st.DrawFn) -> Rendered:
    """A random local instant written in a random format; `utc` is what it must parse to."""
    local = draw(
        st.datetimes(min_value=dt.datetime(1991, 1, 1), max_value=dt.datetime(2089, 12, 31))
    ).replace(microsecond=0)
    minute = local.replace(second=0)
    style = draw(st.integers(0, 14))
    if style == 0:  # ISO 8601 with a fraction and a zone
        micro = draw(st.integers(0, 999_999))
        offset = draw(st.integers(-12 * 60, 14 * 60).map(lambda m: m - m % 15))
        sign = "+" if offset >= 0 else "-"
        zone = draw(
            st.sampled_from(
                [
                    f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}",
                    f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}",
                ]
            )
        )
        sep = draw(st.sampled_from(["T", " "]))
        value = local.replace(microsecond=micro)
        return Rendered(f"{value:%Y-%m-%d}{sep}{value:%H:%M:%S.%f}{zone}", value - _offset(offset))
    if style == 1:  # ISO 8601, Z or UTC
        zone = draw(st.sampled_from(["Z", " UTC", ""]))
        return Rendered(f"{local:%Y-%m-%dT%H:%M:%S}{zone}", local)
    if style == 2:  # Google Forms
        hours = draw(st.integers(-11, 12))
        half = draw(st.sampled_from([0, 30])) if hours > 0 else 0
        zone = f"GMT{'+' if hours >= 0 else '-'}{abs(hours)}" + (f":{half}" if half else "")
        text = f"{local:%Y/%m/%d} {_h12(local)}:{local:%S} {_ampm(local, False)} {zone}"
        offset = hours * 60 + half
        return Rendered(text, local - _offset(offset))
    if style == 3:  # SurveyMonkey, month-first known from the platform
        text = f"{local:%m/%d/%Y} {_h12(local)}:{local:%S} {_ampm(local, draw(st.booleans()))}"
        return Rendered(text, local, "mdy")
    if style == 4:  # day-first with slashes or dashes, order given
        sep = draw(st.sampled_from(["/", "-"]))
        return Rendered(f"{minute:%d{sep}%m{sep}%Y %H:%M}", minute, "dmy")
    if style == 5:  # dotted, Slovenian spaced, Finnish klo, Nordic kl.
        text = draw(
            st.sampled_from(
                [
                    f"{minute:%d.%m.%Y %H:%M}",
                    f"{minute.day}. {minute.month}. {minute.year} {minute.hour}:{minute:%M}",
                    f"{minute.day}.{minute.month}.{minute.year} klo {minute.hour}.{minute:%M}",
                    f"{minute:%d.%m.%Y} kl. {minute:%H:%M}",
                ]
            )
        )
        return Rendered(text, minute)
    if style == 6:  # RFC 2822
        offset = draw(st.integers(-12, 14)) * 60
        sign = "+" if offset >= 0 else "-"
        zone = draw(st.sampled_from([f"{sign}{abs(offset) // 60:02d}00", "GMT"]))
        offset = 0 if zone == "GMT" else offset
        text = f"{local:%a, %d %b %Y %H:%M:%S} {zone}"
        return Rendered(text, local - _offset(offset))
    if style == 7:  # 14-Mar-2024 and 14 Mar 2024
        text = draw(st.sampled_from([f"{local:%d-%b-%Y}", f"{local:%d %b %Y}"]))
        return Rendered(text, _day(local))
    if style == 8:  # Mar 14, 2024 3:05 PM
        text = f"{minute:%b} {minute.day}, {minute.year} {_h12(minute)} {_ampm(minute, False)}"
        return Rendered(text, minute)
    if style == 9:  # March 14th 2024
        day = local.day
        suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        return Rendered(f"{local:%B} {day}{suffix} {local.year}", _day(local))
    if style in (10, 11):  # long dates with weekday, connector, time and maybe a zone
        lang = draw(st.sampled_from(sorted(LONG_NAMES)))
        months, days = LONG_NAMES[lang]
        weekday, month = days[minute.weekday()], months[minute.month - 1]
        date = (
            f"{weekday}, {month} {minute.day}, {minute.year}"
            if lang == "en"
            else f"{weekday}, {minute.day}. {month} {minute.year}"
        )
        if lang == "da":
            date = f"{weekday} den {minute.day}. {month} {minute.year}"
        zone, hours = draw(st.sampled_from([("", 0), ("MEZ", 1), ("CEST", 2), ("EST", -5)]))
        clock = f"{minute:%H:%M}" if lang != "fi" else f"{minute.hour}.{minute:%M}"
        text = f"{date} {CONNECTOR[lang]} {clock}" + (f" {zone}" if zone else "")
        return Rendered(text, minute - dt.timedelta(hours=hours))
    if style == 12:  # a long date alone
        lang = draw(st.sampled_from(sorted(LONG_NAMES)))
        months, _ = LONG_NAMES[lang]
        month = months[local.month - 1]
        text = f"{local.day}. {month} {local.year}"
        if lang == "en":
            text = f"{month} {local.day}, {local.year}"
        return Rendered(text, _day(local))
    if style == 13:  # Excel serial with the time of day in the fraction
        serial = (local - dt.datetime(1899, 12, 30)) / dt.timedelta(days=1)
        return Rendered(repr(serial), local)
    seconds = int((local - dt.datetime(1970, 1, 1)).total_seconds())  # epoch s or ms
    if draw(st.booleans()):
        return Rendered(str(seconds), local)
    return Rendered(f"{seconds}000", local)


def _day(t: dt.datetime) -> dt.datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


@settings(max_examples=400, deadline=None)
@given(rendered())
def test_rendered_instants_parse_back(case: Rendered) -> None:
    parsed = parse([case.text], order=case.order)
    assert not parsed.invalid[0], (case.text, parsed.reasons[0])
    assert parsed.values[0] == np.datetime64(case.utc, "us"), case.text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dates(dt.date(1995, 1, 1), dt.date(2060, 12, 31)), min_size=1, max_size=30),
    st.sampled_from(["%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%y"]),
)
def test_auto_order_is_right_or_undecided_never_wrong(days: list[dt.date], fmt: str) -> None:
    parsed = parse([d.strftime(fmt) for d in days])
    truth = np.array([np.datetime64(d, "us") for d in days])
    settled = ~np.isnat(parsed.values)
    assert (parsed.values[settled] == truth[settled]).all()
    assert not parsed.invalid.any()
    if parsed.undecided:
        assert parsed.ambiguous[~settled].all() and "undecided" in parsed.note
    else:  # decided, or every date reads the same either way (07/07/2024)
        assert settled.all()
        assert parsed.order in (DAY_FIRST if fmt[1] == "d" else MONTH_FIRST, None)
