"""A small British-Airways-like review set: long English reviews of flights, every one
distinct, scored 1–10 as NPS-like recommend answers — data the retail default taxonomy does
not fit ("return flight" is not a return of goods). Used by the Themes view's fit warning
test and by bench/bench_theme_estimate.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

# (sentence, NPS shift): what airline reviews talk about.
AIRLINE_SENTENCES: list[tuple[str, float]] = [
    ("The seat was cramped and the legroom in economy was poor.", -2.0),
    ("Cabin crew were attentive and the service on board was excellent.", 2.0),
    ("The food was cold and the meal choice ran out before our row.", -1.5),
    ("Our flight was delayed three hours at Heathrow with no explanation.", -3.0),
    ("Boarding was chaotic and the gate changed twice.", -1.5),
    ("The return flight from Madrid was smooth and landed early.", 1.5),
    ("Business class lounge was crowded but the flat bed seat was comfortable.", 1.0),
    ("Inflight entertainment screen did not work for the whole flight.", -1.0),
    ("Check in at the airport took an hour, the bag drop queue was huge.", -2.0),
    ("The aircraft was old and the cabin looked tired.", -1.0),
    ("Crew handed out drinks twice on a short flight to Edinburgh.", 1.0),
    ("Our luggage was lost on the return leg and nobody at the desk helped.", -3.0),
]
ROUTES = ["London to New York", "Madrid to London", "London to Edinburgh", "Dubai to London"]


def airline_reviews(n: int = 600, seed: int = 5) -> pd.DataFrame:
    """`n` responses, each with a distinct 4–7 sentence review (a trip number makes every
    text unique), an NPS answer, seat type as a dimension and a 2-year date range."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        k = int(rng.integers(4, 8))
        picked = rng.choice(len(AIRLINE_SENTENCES), k, replace=False)
        shift = sum(AIRLINE_SENTENCES[j][1] for j in picked)
        text = " ".join(AIRLINE_SENTENCES[j][0] for j in picked)
        rows.append(
            {
                "response_id": f"BA{i}",
                "submitted_at": pd.Timestamp("2024-01-01")
                + pd.Timedelta(seconds=int(rng.integers(0, 700 * 86_400))),
                "nps": int(np.clip(round(6 + shift + rng.normal(0, 1.5)), 0, 10)),
                "comment": f"{ROUTES[i % len(ROUTES)]}, trip {i}. {text}",
                "language": "en",
                "seat_type": str(rng.choice(["Economy", "Premium Economy", "Business"])),
            }
        )
    frame = pd.DataFrame(rows)
    frame["nps"] = frame["nps"].astype("Int8")
    return frame
