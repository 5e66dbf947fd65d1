"""An invented airline-review export in the layout of the big review sites (one row per
review: date, country, seat type, traveller type, a yes/no "recommended", an overall 1–10
"rating" and one 1–5 column per touchpoint, blanks where the reviewer skipped one), for
the touchpoint-ratings tests and screenshots. No real person's data.

`python tests/airline_ratings.py OUT.csv [ROWS] [--stages]` writes it; `--stages` adds a
journey stage per review (purchase / use / support) so the ratings can be drawn along the
journey."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

# (column, mean on 1–5 in Economy, how often it is skipped)
TOUCHPOINTS: tuple[tuple[str, float, float], ...] = (
    ("seat_comfort", 2.8, 0.02),
    ("cabin_staff_service", 3.9, 0.02),
    ("food_beverages", 2.6, 0.15),
    ("ground_service", 3.0, 0.10),
    ("value_for_money", 3.1, 0.0),
    ("inflight_entertainment", 3.3, 0.35),
    ("wifi_connectivity", 1.9, 0.60),
)
SEATS = {"Economy Class": 0.0, "Premium Economy": 0.4, "Business Class": 0.9, "First Class": 1.2}
COUNTRIES = ("United Kingdom", "United States", "Australia", "Canada", "Germany")
TRAVELLERS = ("Solo Leisure", "Couple Leisure", "Family Leisure", "Business")
STAGES = ("purchase", "use", "support")


def airline_ratings(n: int = 1500, seed: int = 11, stages: bool = False) -> pd.DataFrame:
    """`n` reviews over 2025 (dates written "16th January 2025" like the sites do)."""
    rng = np.random.default_rng(seed)
    seat = rng.choice(list(SEATS), n, p=[0.55, 0.15, 0.25, 0.05])
    lift = np.array([SEATS[s] for s in seat])
    days = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    frame = pd.DataFrame(
        {
            "date": [f"{d.day}{_suffix(d.day)} {d:%B %Y}" for d in days],
            "country": rng.choice(COUNTRIES, n, p=[0.5, 0.2, 0.12, 0.1, 0.08]),
            "seat_type": seat,
            "traveller_type": rng.choice(TRAVELLERS, n),
        }
    )
    if stages:
        frame["journey_stage"] = rng.choice(STAGES, n, p=[0.2, 0.65, 0.15])
    mood = rng.normal(0, 0.8, n)
    for col, mean, skip in TOUCHPOINTS:
        score = np.clip(np.rint(mean + lift + mood + rng.normal(0, 0.8, n)), 1, 5)
        frame[col] = pd.array(score.astype(int), dtype="Int64")
        frame.loc[rng.random(n) < skip, col] = pd.NA
    overall = np.clip(np.rint(5 + 2 * (lift + mood) + rng.normal(0, 1.2, n)), 1, 10)
    frame["rating"] = overall.astype(int)
    frame["recommended"] = np.where(overall >= 6, "yes", "no")
    frame["content"] = [f"Review {i}: the flight was {'fine' if o >= 6 else 'poor'}."
                        for i, o in enumerate(overall)]  # fmt: skip
    return frame


def _suffix(day: int) -> str:
    if 11 <= day <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


if __name__ == "__main__":
    rows = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 1500
    airline_ratings(rows, stages="--stages" in sys.argv).to_csv(sys.argv[1], index=False)
