"""Import benchmark: a realistic 1M-row export through the whole import.

    python bench/bench_import.py [--rows 1000000] [--repeat 3]

Generates a semicolon-separated cp1252 CSV (Norwegian headers, day-first timestamps,
quoted comments with ; and quotes, 0.1 % bad NPS values), then times `import_file` into a
fresh embedded store: read + encoding/delimiter detection, suggested mapping, validation of
every row, reject report, atomic write and the copy of the original. Median of `--repeat`
runs (one if a run takes over 60 s). Prints a markdown table and writes
bench/import_results.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine
from cxdata import schema
from cxdata.importing import import_file
from cxdata.store import connect

RESULTS = Path(__file__).resolve().parent / "import_results.md"


def export_csv(path: Path, rows: int, seed: int = 1) -> int:
    """Write the export; returns the number of rows with an invalid NPS (12)."""
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp("2025-01-01") + pd.to_timedelta(
        rng.integers(0, 365 * 86_400, rows), unit="s"
    )
    nps = rng.integers(0, 11, rows).astype(str)
    bad = rng.random(rows) < 0.001
    nps[bad] = "12"
    csat = rng.integers(1, 6, rows).astype(str)
    csat[rng.random(rows) < 0.3] = ""
    frame = pd.DataFrame(
        {
            "Svar ID": np.char.add("S", np.arange(rows).astype(str)),
            "Dato": stamps.strftime("%d.%m.%Y %H:%M"),
            "Anbefale": nps,
            "Tilfredshet": csat,
            "Hvor enkelt var det": rng.integers(1, 8, rows).astype(str),
            "Kontaktpunkt": rng.choice(
                np.array(["Kasse", "Levering", "Kundeservice", "Nettside", "Retur"]), rows
            ),
            "Kanal": rng.choice(np.array(["web", "telefon", "butikk", "chat", "e-post"]), rows),
            "Område": rng.choice(np.array(["Øst", "Vest", "Sør", "Nord", "Midt"]), rows),
            "Kundetype": rng.choice(np.array(["Privat", "Bedrift"]), rows),
            "Kommentar": rng.choice(
                np.array(
                    [
                        "",
                        "",
                        "Flott service",
                        "Lang kø; måtte vente i 20 min",
                        'Hæ? "Ingen" svarte på e-posten',
                        "Alt gikk fint – takk!",
                    ]
                ),
                rows,
            ),
        }
    )
    frame.to_csv(path, sep=";", index=False, encoding="cp1252")
    return int(bad.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "export.csv"
        started = time.perf_counter()
        bad = export_csv(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows, {size_mb:.0f} MB in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        times = []
        result = None
        for run in range(args.repeat):
            store = connect(folder / f"store{run}")
            started = time.perf_counter()
            result = import_file(store, path)
            times.append(time.perf_counter() - started)
            assert result.imported + result.rejected == result.read == args.rows
            assert result.rejected == bad, (result.rejected, bad)
            assert store.row_count(schema.RESPONSES) == result.imported
            print(f"run {run + 1}: {times[-1]:.2f} s", file=sys.stderr)
            if times[-1] > 60:
                break
    assert result is not None
    table = "\n".join(
        [
            "| rows | file | encoding, delimiter | read | imported | rejected | median s | runs "
            "| rows/s |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
            f"| {args.rows:,} | {size_mb:.0f} MB | {result.encoding}, `{result.delimiter}` | "
            f"{result.read:,} | {result.imported:,} | {result.rejected:,} | "
            f"{statistics.median(times):.2f} | {len(times)} | "
            f"{args.rows / statistics.median(times):,.0f} |",
        ]
    )
    text = (
        "# Import benchmark\n\n"
        "`python bench/bench_import.py` — the whole `import_file` (detect, read, suggest the "
        "mapping, validate every row, write the rejects, write atomically, keep the original) "
        "of a semicolon-separated cp1252 export with day-first timestamps into a fresh "
        "embedded store.\n\n"
        f"Machine: {machine(release=True)}, Python {platform.python_version()}.\n\n"
        f"{table}\n\n"
        f"Runs (s): {', '.join(f'{t:.2f}' for t in times)}. Target: ≤ 30 s for 1M rows on "
        "2 cores.\n"
    )
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
