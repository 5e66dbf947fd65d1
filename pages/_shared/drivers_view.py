"""Key drivers on screen (issue 14, item 2): which touchpoint ratings and comment themes move
NPS or CSAT (cxdata.drivers), as the Touchpoints page shows it: an outcome choice, the
importance × performance quadrant (charts.drivers_quadrant) with R² and n in its title,
and a caption saying how it was computed. Under the engine's minimum n its message
replaces the chart."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata import charts, drivers, fmt
from cxdata.errors import CxError, display_text
from pages._shared import plot, state
from pages._shared.session import Ctx

# Resamples in the app: the engine's default 1,000 takes seconds on large data (every
# resample refits all 2^k subsets); 200 keeps the page quick and the 95% CIs usable.
UI_BOOTSTRAP = 200
OUTCOMES: dict[str, str] = {"nps": "NPS", "csat": "CSAT"}


def _sentence(exc: BaseException) -> str:
    """The engine's message as a markdown sentence (escaped, capitalised, full stop)."""
    text = display_text(exc)
    return fmt.md_escape(text[:1].upper() + text[1:] + ("" if text.endswith(".") else "."))


def method_note(result: drivers.Drivers) -> str:
    """How the quadrant was computed (plain text)."""
    how = ("Shapley / LMG split of R², exact" if result.method == drivers.SHAPLEY
           else "Johnson's relative weights, an approximation of the Shapley split of R²")
    sample = (f" (on a seeded sample of {result.bootstrap_rows:,} answers)"
              if result.sampled else "")  # fmt: skip
    return (
        f"Importance: each driver's share of R² ({how}); whiskers: 95% percentile bootstrap "
        f"intervals from {result.bootstrap} resamples{sample}, seed {result.seed} — fewer "
        "than the engine's 1,000, which is slow on large data. Performance: a rating's "
        "top-2-box %. Lines: the median "
        "performance and the mean importance; shaded: fix first (important and weak). Drivers "
        "under half the mean importance are unnamed: hover them. "
        f"Fitted on the {result.n:,} answers with the outcome and every driver (complete "
        f"cases); under {result.min_n} answers no analysis is shown."
    )


def left_out(result: drivers.Drivers) -> str:
    """The sentence naming the drivers not drawn or not used, with why (markdown), or ""."""
    d = result.drivers
    unplaced = d.loc[~d["performance_top2_pct"].notna(), "label"].astype(str).tolist()
    parts = []
    if unplaced:
        parts.append(f"Not drawn (no top-2-box on their scale): {', '.join(unplaced)}.")
    if result.skipped:
        parts.append("Not used: " + "; ".join(f"{n} ({why})" for n, why in result.skipped)
                     + ".")  # fmt: skip
    return fmt.md_escape(" ".join(parts))


def key_drivers(ctx: Ctx, *, key: str = "touchpoints.drivers") -> None:
    """Draw the section: the outcome choice (bound to the URL's `drivers.outcome`), the
    quadrant titled with R² and n, its caption; under min n (or without drivers) the
    engine's message instead of the chart."""
    st.subheader("Key drivers")
    c1, _ = st.columns([1, 3])
    outcome = state.select(
        "Key drivers of", tuple(OUTCOMES), key=f"{key}.outcome", param="drivers.outcome",
        default="nps", format_func=OUTCOMES.__getitem__, where=c1,
    )  # fmt: skip
    try:
        result = ctx.key_drivers(outcome, UI_BOOTSTRAP)
    except drivers.NotEnoughAnswers as exc:
        st.info(_sentence(exc), icon=":material/block:")
        return
    except CxError as exc:  # no drivers, no answers with the outcome
        st.info(_sentence(exc), icon=":material/block:")
        return
    if charts.drivers_points(result).empty:
        st.info("No touchpoint rating with a top-2-box score to place on the quadrant; the "
                "themes below are ranked by importance only.", icon=":material/info:")
    else:
        context = f"R² = {result.r2:.2f} · n = {result.n:,} · {plot.run_context()}".strip(" ·")
        plot.show(
            charts.drivers_quadrant(result), key=f"{key}.fig",
            title=f"Key drivers of {OUTCOMES[outcome]}", context=context,
        )  # fmt: skip
        st.caption(f"{fmt.md_escape(method_note(result))} {left_out(result)}".strip())
    themes = theme_table(result)
    if not themes.empty:
        st.dataframe(themes, hide_index=True, key=f"{key}.themes")
        st.caption(
            f"Comment themes as drivers of {OUTCOMES[outcome]} (R² = {result.r2:.2f}, "
            f"n = {result.n:,}): ranked by importance only. How often a theme is mentioned "
            "is no performance score — a complaint and a compliment look alike — so themes "
            "are not placed on the quadrant."
        )


def theme_table(result: drivers.Drivers) -> pd.DataFrame:
    """The theme drivers as shown: Theme, Importance (% of R²), 95% CI, Top 3 in
    (% of resamples), Mentioned by (% of answers), n; most important first."""
    d = result.drivers[result.drivers["kind"] == "theme"]
    scale = 100.0 / result.r2 if result.r2 > 0 else float("nan")
    out = pd.DataFrame({
        "Theme": d["label"].astype(str),
        "Importance (% of R²)": (d["importance"] * scale).round(1),
        "95% CI": [f"{lo * scale:.1f} – {hi * scale:.1f}" for lo, hi in
                   zip(d["ci_low"], d["ci_high"], strict=True)],
        "Top 3 in (% of resamples)": (100 * d["top3_share"]).round(0),
        "Mentioned by (% of answers)": d["performance_top2_pct"].round(1),
        "n": d["n"],
    })  # fmt: skip
    return out.sort_values("Importance (% of R²)", ascending=False)
