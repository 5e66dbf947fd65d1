"""The constants behind the Themes view's time estimate (cxdata.voc.persist.estimated_seconds).

    python bench/bench_theme_estimate.py

CPU seconds (time.process_time, so a busy machine does not skew them) of compute_themes in
one process: a first small run (the cold cost: language, lemma and sentiment models
loaded), then airline-like reviews (long, every one distinct: the per-word cost) and the
300k-row demo (short, repeating comments: the per-row cost). Wall seconds are printed too.
Results: bench/themes_results.md, "Time estimate".
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from airline_reviews import airline_reviews  # noqa: E402

from cxdata import schema  # noqa: E402
from cxdata.demo import demo_responses  # noqa: E402
from cxdata.store import close_all, connect  # noqa: E402
from cxdata.voc import persist  # noqa: E402


def measured(label: str, frame: pd.DataFrame) -> None:
    """Print comments, distinct texts, their words, and the CPU / wall seconds."""
    store = connect(tempfile.mkdtemp())
    store.replace_table(schema.RESPONSES, frame)
    work = persist.pending_workload(store)
    wall, cpu = time.perf_counter(), time.process_time()
    persist.compute_themes(store)
    print(
        f"| {label} | {work.comments:,} | {work.distinct:,} | {work.words:,} | "
        f"{time.process_time() - cpu:.1f} | {time.perf_counter() - wall:.1f} | "
        f"{persist.estimated_seconds(work, cold=False):.1f} |",
        flush=True,
    )
    close_all()


def main() -> None:
    """Run the four measurements and print a Markdown table."""
    print("| run | comments | distinct | words | CPU s | wall s | model (warm) s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    measured("cold: 200 reviews, first run in the process", airline_reviews(200))
    measured("200 reviews", airline_reviews(200, seed=7))
    measured("3,700 reviews", airline_reviews(3_700))
    measured("demo, 300,000 responses", demo_responses(300_000))


if __name__ == "__main__":
    main()
