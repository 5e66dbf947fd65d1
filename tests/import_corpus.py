"""Ugly export files, generated: each writer returns the path and what a correct import of
it must report. Values are deterministic so tests can assert exact counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Expected:
    """What importing the file with its suggested mapping must give."""

    path: Path
    read: int
    rejected: int
    reasons: dict[int, str] = field(default_factory=dict)  # source row → part of the reason

    @property
    def imported(self) -> int:
        return self.read - self.rejected


def write_text(path: Path, lines: list[str], encoding: str, newline: str = "\r\n") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


SL_REGIONS = ["Štajerska", "Koroška", "Gorenjska", "Primorska", "Goriška"]
SL_COMMENTS = [
    "Zelo zadovoljen; hvala!",
    'Prodajalec je rekel "počakajte" in odšel',
    "Čakal sem predolgo\nna odgovor",
    "Žal brez pripomb",
    "",
]


def slovenian_cp1250(folder: Path, rows: int = 120) -> Expected:
    """Semicolons, cp1250, Slovenian headers and values with č š ž, quoted fields with ;
    quotes and newlines, day-first dates in two styles, and five bad rows."""
    header = (
        "ID odgovora;Datum;Regija;Država;Kako verjetno bi nas priporočili (0-10);"
        "Zadovoljstvo;Stična točka;Kanal;Komentar"
    )
    lines = [header]
    reasons: dict[int, str] = {}
    for i in range(rows):
        row = i + 2
        day, month = i % 28 + 1, i % 12 + 1
        date = f"{day}. {month}. 2025" if i % 2 else f"{day:02d}.{month:02d}.2025"
        nps, csat = str(i % 11), str(i % 5 + 1)
        if i == 10:
            nps, reasons[row] = "11", "outside the scale"
        if i == 20:
            date, reasons[row] = "31.02.2025", "impossible date"
        if i == 30:
            csat, reasons[row] = "zelo", "not a number"
        if i == 40:
            nps, csat, reasons[row] = "", "", "no score"
        if i == 50:
            nps, reasons[row] = "7,5", "not a whole number"
        comment = SL_COMMENTS[i % len(SL_COMMENTS)].replace('"', '""')
        if i == 40:  # nothing the customer said: a comment alone would keep the row
            comment = ""
        lines.append(
            ";".join(
                [
                    f"SL-{i:04d}",
                    date,
                    SL_REGIONS[i % len(SL_REGIONS)],
                    "Slovenija",
                    nps,
                    csat,
                    "Blagajna" if i % 2 else "Dostava",
                    "Splet" if i % 3 else "Telefon",
                    f'"{comment}"',
                ]
            )
        )
    return Expected(
        write_text(folder / "anketa_slovenija.csv", lines, "cp1250"), rows, len(reasons), reasons
    )


DK_REGIONS = ["Sjælland", "Østjylland", "Nordjylland", "Fyn", "Århus"]


def danish_cp1252(folder: Path, rows: int = 80) -> Expected:
    """cp1252 Danish survey: æ ø å in headers and values, semicolons, a decimal-comma
    column kept as a segment, and one duplicated response id."""
    lines = ["Svar-ID;Dato;Område;Land;Anbefale;Tilfredshed;Hvor enkelt var det?;Kommentar;Beløb"]
    reasons: dict[int, str] = {}
    for i in range(rows):
        rid = f"DK{i:03d}"
        if i == 7:
            rid, reasons[i + 2] = "DK003", "duplicate response id"
        lines.append(
            ";".join(
                [
                    rid,
                    f"{i % 28 + 1:02d}-{i % 12 + 1:02d}-2025",
                    DK_REGIONS[i % 5],
                    "Danmark",
                    str((i * 3) % 11),
                    str(i % 5 + 1),
                    str(i % 7 + 1),
                    "Rigtig god service, tak"
                    if i % 4
                    else "Ærgerligt – for lang ventetid på ø-færgen",
                    f"{1000 + i},{i % 100:02d}",
                ]
            )
        )
    return Expected(
        write_text(folder / "måling_danmark.csv", lines, "cp1252"), rows, len(reasons), reasons
    )


def danish_metrics_decimal_comma(folder: Path) -> tuple[Path, dict[str, list[float]]]:
    """Wide KPI export, cp1252 with decimal commas: one metric per column."""
    waits = [3.5, 4.25, 2.0, 12.75]
    retention = [87.5, 88.0, 86.25, 90.5]
    lines = ["Dato;Ventetid (min);Fastholdelse %;Afdeling"]
    for i, (w, r) in enumerate(zip(waits, retention, strict=True)):
        lines.append(
            f"0{i + 1}.03.2025;{str(w).replace('.', ',')};{str(r).replace('.', ',')};Kundeservice Ø"
        )
    return (
        write_text(folder / "kpi_dk.csv", lines, "cp1252"),
        {"ventetid_min": waits, "fastholdelse": retention},
    )


def bom_utf8(folder: Path) -> Expected:
    """UTF-8 with BOM, commas, ISO timestamps, English headers."""
    lines = ["Response ID,Date,NPS,CSAT,CES,Comment,Region"]
    for i in range(30):
        lines.append(
            f"R{i},2025-03-{i % 28 + 1:02d}T10:{i:02d}:00,{i % 11},{i % 5 + 1},"
            f'{i % 7 + 1},"Fint, takk – {i}",Trøndelag'
        )
    return Expected(write_text(folder / "bom.csv", lines, "utf-8-sig", "\n"), 30, 0)


def quoted_and_ragged(folder: Path) -> Expected:
    """Quoted newlines shift physical lines but not row numbers; ragged records (too many
    or too few fields) are rejected with their row number."""
    lines = [
        "id,date,nps,comment",
        '1,2025-01-01,9,"line one\nline two, with comma"',
        '2,2025-01-02,8,"she said ""hi"""',
        "3,2025-01-03,7",  # too few fields → row 4
        '4,2025-01-04,6,"a\n\nb"',
        "5,2025-01-05,5,ok,extra",  # too many → row 6
        "6,2025-01-06,12,out of range",  # nps 12 → row 7
        '7,2025-01-07,10,"=HYPERLINK(""http://x"")"',
    ]
    reasons = {4: "3 fields", 6: "5 fields", 7: "outside the scale"}
    return Expected(write_text(folder / "quoted.csv", lines, "utf-8", "\n"), 7, 3, reasons)


def survey_mixed_scales(folder: Path, rows: int = 60) -> Expected:
    """An airline survey: overall 1–10, three 1–5 touchpoint ratings, a yes/no recommend
    and segment columns. Rows with no rating at all are rejected."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "RespondentID": [f"A{i}" for i in range(rows)],
            "Date": [f"2025-05-{i % 28 + 1:02d}" for i in range(rows)],
            "Overall": rng.integers(1, 11, rows).astype(str),
            "SeatComfort": rng.integers(1, 6, rows).astype(str),
            "GroundService": rng.integers(1, 6, rows).astype(str),
            "ValueForMoney": rng.integers(1, 6, rows).astype(str),
            "Would recommend": rng.choice(["yes", "no"], rows),
            "Class": rng.choice(["Economy", "Business"], rows),
            "Route": rng.choice(["OSL-CPH", "LJU-FRA", "ARN-OSL"], rows),
            "Land": rng.choice(["Norge", "Sverige", "Slovenija"], rows),
        }
    )
    frame.loc[frame.index % 10 == 0, "GroundService"] = ""  # some blanks: still valid
    empty = [5, 17]
    for i in empty:
        frame.loc[i, ["Overall", "SeatComfort", "GroundService", "ValueForMoney"]] = ""
    path = folder / "airline_survey.csv"
    frame.to_csv(path, index=False)
    return Expected(path, rows, len(empty), {i + 2: "no score" for i in empty})


def us_dates(folder: Path) -> Path:
    """Month-first dates: 12/31/2025 decides the whole column."""
    lines = ["id,submitted,nps", "1,03/04/2025,9", "2,12/31/2025,7", "3,11/05/2025 2:30 PM,3"]
    return write_text(folder / "us.csv", lines, "utf-8", "\n")


def large_csv(folder: Path, rows: int, *, seed: int = 1, bad_every: int = 1000) -> Expected:
    """A semicolon, cp1252 export with day-first timestamps; every `bad_every`-th row has an
    NPS of 12 (rejected)."""
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 365 * 86_400, rows)
    stamps = pd.Timestamp("2025-01-01") + pd.to_timedelta(seconds, unit="s")
    nps = rng.integers(0, 11, rows).astype(str)
    bad = np.arange(rows) % bad_every == bad_every - 1
    nps[bad] = "12"
    frame = pd.DataFrame(
        {
            "Svar ID": np.char.add("S", np.arange(rows).astype(str)),
            "Dato": stamps.strftime("%d.%m.%Y %H:%M"),
            "Anbefale": nps,
            "Tilfredshed": rng.integers(1, 6, rows).astype(str),
            "Område": rng.choice(np.array(["Øst", "Vest", "Sør", "Nord", "Midt"]), rows),
            "Kanal": rng.choice(np.array(["web", "telefon", "butikk", "chat"]), rows),
            "Kommentar": rng.choice(
                np.array(["", "Flott service", "Lang kø; måtte vente", 'Hæ? "Ingen" svarte']), rows
            ),
        }
    )
    path = folder / f"large_{rows}.csv"
    frame.to_csv(path, sep=";", index=False, encoding="cp1252")
    return Expected(path, rows, int(bad.sum()))
