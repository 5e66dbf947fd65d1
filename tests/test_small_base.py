"""Small-base rules cannot be bypassed (issue 10, item 6).

Two kinds of fault, each checked on generated data:

- comments shown for a selection that the rule withholds because the count was taken
  before the last narrowing (score band, language, theme): the Themes view must withhold
  whatever the Feedback page withholds for the same selection;
- a suppressed ("n too small") value recovered by subtraction from figures that are shown
  (overall score, a segment's "Rest" columns, sibling segments, a parent node, the other
  side of a theme's with / without). The check is linear algebra, independent of how the
  engine picks what to hide: every shown figure is written as a linear function of the
  unknown group sums (n · score), and a hidden value is derivable exactly when its
  function lies in the span of the shown ones.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import reference as ref
from conftest import random_responses
from test_voc_impact import SENTENCES, voc_frame

from cxdata import comments, queries, schema, segments
from cxdata.comments import CommentQuery
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.scores import metric_def
from cxdata.store import Store, close, connect
from cxdata.voc import impact, persist, tables, verbatims

TH = Thresholds(min_n=10, low_base=30)
ROOT = Path(__file__).resolve().parents[1]


# --- the oracle: is a group's sum derivable from the shown figures? ----------------------


def shown(value: object) -> bool:
    return value is not None and not pd.isna(value)


def span_projector(known: Sequence[np.ndarray], width: int) -> np.ndarray:
    """The projector onto the row space of the known linear functionals."""
    if not known:
        return np.zeros((width, width))
    k = np.vstack(known).astype(float)
    return np.linalg.pinv(k) @ k


def derivable(projector: np.ndarray, target: np.ndarray) -> bool:
    """Whether the functional `target` is a linear combination of the known ones."""
    target = np.asarray(target, dtype=float)
    return bool(np.allclose(target @ projector, target, atol=1e-7))


def small_unions(n: np.ndarray, min_n: int) -> np.ndarray:
    """Indicator rows of every union of groups with 0 < Σn < min_n (few groups only)."""
    rows = []
    for size in range(1, len(n) + 1):
        for combo in itertools.combinations(range(len(n)), size):
            total = n[list(combo)].sum()
            if 0 < total < min_n:
                row = np.zeros(len(n))
                row[list(combo)] = 1
                rows.append(row)
    return np.array(rows).reshape(-1, len(n))


# --- (a) comments: the threshold applies to the final narrowed set ----------------------

LANGUAGE_OF = {text: lang for lang, text, _ in SENTENCES}
BANDS = ("detractors", "passives", "promoters")
THEMES = ("delivery", "staff", "app")


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, pd.DataFrame]]:
    """6,000 responses with comments in five languages (the stored language is the
    sentence's own, so the Feedback page and the Themes view narrow by the same language)
    and their computed themes."""
    frame = voc_frame(6_000, seed=21)
    frame["language"] = [
        LANGUAGE_OF.get(c) if isinstance(c, str) else None for c in frame["comment"]
    ]
    path = tmp_path_factory.mktemp("small_base")
    store = connect(path)
    store.replace_table(schema.RESPONSES, frame)
    persist.compute_themes(store)
    analysed = store.backend.table(tables.COMMENTS).to_pandas()
    frame = frame.merge(
        analysed[["response_id", "language"]].rename(columns={"language": "voc_language"}),
        on="response_id",
        how="left",
    )
    themes = store.backend.table(tables.THEMES).to_pandas()
    for theme in THEMES:
        ids = set(themes.loc[themes["theme"] == theme, "response_id"])
        frame[f"theme_{theme}"] = frame["response_id"].isin(ids)
    yield store, frame
    close(path)


def _band_rows(rows: pd.DataFrame, band: str) -> pd.DataFrame:
    nps = rows["nps"]
    keep = {"detractors": nps <= 6, "passives": nps.between(7, 8), "promoters": nps >= 9}[band]
    return rows[keep.fillna(False).astype(bool)]


def test_themes_view_withholds_what_the_feedback_page_withholds_after_narrowing(
    voc: tuple[Store, pd.DataFrame],
) -> None:
    """Fault: the Themes view counted the answers before narrowing by score band or
    language, so a comment that the Feedback page withholds for the same selection (fewer
    than RESTRICTED_MIN_ANSWERS answers after narrowing) was shown there."""
    store, frame = voc
    restricted = store.restricted({"region": ("Celje",)})
    celje = frame[frame["region"] == "Celje"]
    checked = leaks_before = 0
    leaks: list[str] = []
    unflagged: list[str] = []
    for offset in range(14):
        day = dt.date(2025, 1, 1) + dt.timedelta(days=offset)
        f = Filters.make(day, day)
        rows = ref.rows_in(celje, f)
        narrowings: list[tuple[CommentQuery, dict[str, str], pd.DataFrame]] = [
            (CommentQuery(band=b), {"band": b}, _band_rows(rows, b)) for b in BANDS
        ]
        for lang in ("en", "no", "sl"):
            picked = rows[rows["language"] == lang]
            # the same selection on both views: no answer analysed in `lang` is stored
            # with another language
            if (rows["voc_language"] == lang).sum() != (picked["voc_language"] == lang).sum():
                continue
            narrowings.append((CommentQuery(languages=(lang,)), {"language": lang}, picked))
        for query, kwargs, narrowed in narrowings:
            # only a selection that the Feedback page withholds while the theme has comments
            # in it can leak; the engine is asked about exactly those (it is slow-ish)
            mentions = {}
            for theme in THEMES:
                mentioned = narrowed[narrowed[f"theme_{theme}"]]
                if "language" in kwargs:
                    mentioned = mentioned[mentioned["voc_language"] == kwargs["language"]]
                mentions[theme] = len(mentioned)
            if len(narrowed) >= comments.RESTRICTED_MIN_ANSWERS or not any(mentions.values()):
                continue
            page = comments.comment_page(restricted, f, query)
            assert page.withheld and page.answers == len(narrowed)
            for theme, count in mentions.items():
                if not count:
                    continue
                leaks_before += len(rows) >= comments.RESTRICTED_MIN_ANSWERS
                view = verbatims.theme_verbatims(restricted, f, theme, **kwargs)
                checked += 1
                if not view.rows.empty:
                    leaks.append(f"{day} {kwargs} {theme}: {len(view.rows)} comments")
                if not (view.withheld and view.total == 0):
                    unflagged.append(f"{day} {kwargs} {theme}")
    assert not leaks, f"{len(leaks)} shown although the Feedback page withholds: {leaks[:5]}"
    assert not unflagged, f"{len(unflagged)} not marked withheld: {unflagged[:5]}"
    assert checked > 20
    assert leaks_before > 0  # the data has selections that the old count let through
    day = dt.date(2025, 1, 2)
    query = CommentQuery(band="passives")
    assert comments.comment_page(restricted, Filters.make(day, day), query).withheld
    assert comments.export_frame(restricted, Filters.make(day, day), query).empty


def test_theme_comments_are_withheld_when_the_theme_itself_narrows_below_the_threshold(
    voc: tuple[Store, pd.DataFrame],
) -> None:
    """Fault: the count was taken before narrowing by theme, so 1–4 comments of a theme
    were shown in a restricted view because the day had more answers."""
    store, frame = voc
    restricted = store.restricted({"region": ("Celje",)})
    celje = frame[frame["region"] == "Celje"]
    found = 0
    for offset in range(30):
        day = dt.date(2025, 1, 1) + dt.timedelta(days=offset)
        rows = ref.rows_in(celje, Filters.make(day, day))
        mentioned = rows[rows["theme_delivery"]]
        if len(rows) >= comments.RESTRICTED_MIN_ANSWERS and 0 < len(mentioned) < 5:
            view = verbatims.theme_verbatims(restricted, Filters.make(day, day), "delivery")
            assert view.withheld and view.rows.empty, day
            found += 1
    assert found > 0
    # unrestricted users see every comment, however few
    assert not verbatims.theme_verbatims(store, Filters.make(day, day), "delivery").withheld


def test_one_rule_decides_whether_comments_may_be_shown() -> None:
    limit = comments.RESTRICTED_MIN_ANSWERS
    assert comments.comments_may_be_shown(limit, restricted=True)
    assert not comments.comments_may_be_shown(limit - 1, restricted=True)
    assert not comments.comments_may_be_shown(0, restricted=True)
    assert comments.comments_may_be_shown(1, restricted=False)


def test_a_text_search_is_narrowing_too(voc: tuple[Store, pd.DataFrame]) -> None:
    store, frame = voc
    restricted = store.restricted({"region": ("Celje",)})
    day = dt.date(2025, 1, 10)
    f = Filters.make(day, day)
    rows = ref.rows_in(frame[frame["region"] == "Celje"], f)
    assert len(rows) >= comments.RESTRICTED_MIN_ANSWERS
    text = "staff"
    matching = rows["comment"].fillna("").str.lower().str.contains(text).sum()
    page = comments.comment_page(restricted, f, CommentQuery(text=text))
    assert page.withheld == (matching < comments.RESTRICTED_MIN_ANSWERS)
    assert comments.export_frame(restricted, f, CommentQuery(text=text)).empty == page.withheld


# --- (b) segment vs rest: no suppressed value can be recovered by subtraction ------------


def skewed_responses(n: int, seed: int) -> pd.DataFrame:
    """conftest's random responses with a `city` whose values range from common to rare
    (Zipf-like), so that short windows have cities below min_n next to large ones."""
    frame = random_responses(n, seed)
    rng = np.random.default_rng(seed + 1_000)
    weights = 1 / np.arange(1, 11) ** 1.7
    frame["city"] = rng.choice([f"City {i}" for i in range(10)], n, p=weights / weights.sum())
    return frame


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, pd.DataFrame]]:
    frame = skewed_responses(8_000, seed=5)
    path = tmp_path_factory.mktemp("skewed")
    store = connect(path)
    store.replace_table(schema.RESPONSES, frame)
    yield store, frame
    close(path)


WINDOWS = [
    Filters.make(dt.date(2025, 3, 1), dt.date(2025, 3, 7)),
    Filters.make(dt.date(2025, 3, 1), dt.date(2025, 3, 14)),
    Filters.make(dt.date(2025, 3, 1), dt.date(2025, 3, 31)),
    Filters.make(dt.date(2025, 3, 1), dt.date(2025, 3, 31), {"region": ["Celje"]}),
    Filters.make(dt.date(2025, 1, 1), dt.date(2025, 6, 30), {"plan": ["Basic"]}),
    Filters.make(dt.date(2025, 2, 1), dt.date(2025, 2, 2)),
]
REF = {"nps": ref.nps, "csat": ref.csat, "ces": ref.ces, "friction": ref.friction}


def rest_table_functionals(table: pd.DataFrame, total_shown: bool) -> list[np.ndarray]:
    """The shown figures of a segment-vs-rest table as functionals of the segments' sums
    (n · score). A segment with n = 0 has the known sum 0 (a zero column)."""
    n = table["n"].to_numpy(dtype=float)
    big_n = n.sum()
    k = len(table)
    ones = (n > 0).astype(float)
    known = [ones] if total_shown else []
    for j, r in enumerate(table.itertuples(index=False)):
        e = np.zeros(k)
        e[j] = 1.0 if n[j] > 0 else 0.0
        if any(shown(getattr(r, c)) for c in ("value", "ci_low", "ci_high", "stat")):
            known.append(e)  # a CI or a test statistic pins the value as well
        if shown(r.rest_value):
            known.append(ones - e)
        if shown(r.difference) and 0 < n[j] < big_n:
            known.append(e * (1 / n[j] + 1 / (big_n - n[j])) - ones / (big_n - n[j]))
    return known


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "friction"])
def test_no_suppressed_segment_is_recoverable_from_overall_and_rest(
    skewed: tuple[Store, pd.DataFrame], metric: str
) -> None:
    """Fault: an "n too small" segment's score was recoverable from the overall score and
    its own "Rest" columns (overall·N − rest·rest_n), or from the overall minus every
    other segment; and a small rest was recoverable from a shown segment."""
    store, frame = skewed
    protected_rows = 0
    for f in WINDOWS:
        table = segments.segment_vs_rest(store, f, "city", metric, TH)
        rows = ref.rows_in(frame, f)
        for r in table.itertuples(index=False):  # the n's are the true counts
            assert r.n == REF[metric](rows[rows["city"] == r.segment])["n"]
        n = table["n"].to_numpy()
        overall = queries.kpis(store, f, TH)
        total_shown = not getattr(overall, metric).suppressed
        assert getattr(overall, metric).n == n.sum()
        proj = span_projector(rest_table_functionals(table, total_shown), len(table))
        ones = (n > 0).astype(float)
        for j, r in enumerate(table.itertuples(index=False)):
            if n[j] == 0:
                continue
            e = np.zeros(len(table))
            e[j] = 1.0
            if 0 < n[j] < TH.min_n:
                assert not shown(r.value), r
            if not shown(r.value):
                protected_rows += 1
                assert not derivable(proj, e), (
                    f"{f} {metric}: {r.segment} (n={r.n}) is hidden but overall and the "
                    "shown figures give it by subtraction"
                )
                assert pd.isna(r.significant) and not shown(r.rest_value)
            if 0 < n.sum() - n[j] < TH.min_n:
                assert not derivable(proj, ones - e), f"{f}: the small rest of {r.segment}"
        for union in small_unions(n[n > 0], TH.min_n):
            full = np.zeros(len(table))
            full[n > 0] = union
            assert not derivable(proj, full), f"{f} {metric}: a group under min_n"
    assert protected_rows > 0


def test_secondarily_hidden_rows_say_why(skewed: tuple[Store, pd.DataFrame]) -> None:
    """Fault: a row hidden only to protect another one was a silent blank; it is marked
    `hidden` (the page says "would reveal a small group"), apart from "n too small"."""
    store, _ = skewed
    secondary = 0
    for f in WINDOWS:
        for metric in ("nps", "csat", "ces", "friction"):
            table = segments.segment_vs_rest(store, f, "city", metric, TH)
            small = table[(table["n"] > 0) & (table["n"] < TH.min_n)]
            assert table.loc[small.index, "rest_n"].isna().all()
            assert table.loc[small.index, "rest_value"].isna().all()
            assert not (table["hidden"] & table["suppressed"]).any()
            hidden = table[table["hidden"]]
            assert (hidden["n"] >= TH.min_n).all() and hidden["value"].isna().all()
            assert hidden["rest_value"].isna().all() and hidden["significant"].isna().all()
            secondary += len(hidden)
    assert secondary > 0


def test_secondary_suppression_hides_the_next_smallest_part() -> None:
    members = np.eye(4, dtype=bool)
    hidden = segments.secondary_suppression(members, np.array([500, 3, 40, 25]), 10)
    assert hidden.tolist() == [False, True, False, True]
    # the hidden parts together must reach min_n: 3 + 4 < 10, so a third one goes
    hidden = segments.secondary_suppression(np.eye(4, dtype=bool), np.array([500, 3, 4, 25]), 10)
    assert hidden.tolist() == [False, True, True, True]
    # a small rest: the large part would give the rest (2 + 3) by subtraction
    hidden = segments.secondary_suppression(np.eye(3, dtype=bool), np.array([500, 2, 3]), 10)
    assert hidden.all()
    # empty parts reveal nothing and protect nothing
    hidden = segments.secondary_suppression(np.eye(3, dtype=bool), np.array([500, 0, 40]), 10)
    assert not hidden.any()
    # no overall shown (it is under min_n itself): only the small parts are hidden
    hidden = segments.secondary_suppression(
        np.eye(2, dtype=bool), np.array([4, 3]), 10, total_shown=False
    )
    assert hidden.all()


# --- the Segments page: drilldown and segment-vs-rest tables together ----------------------


@pytest.mark.parametrize("metric", ["nps", "csat"])
def test_no_small_group_is_recoverable_across_the_drilldown_and_its_tables(
    skewed: tuple[Store, pd.DataFrame], metric: str
) -> None:
    """Fault: a drilldown node "n too small" was recoverable as its parent minus its shown
    siblings, or through a segment-vs-rest table of another level on the same page."""
    store, _ = skewed
    path = ["region", "city"]
    for f in WINDOWS[:4]:
        nodes = queries.drilldown(store, f, path, TH)
        protection = segments.linked_protection(nodes, path, metric, TH)
        drawn = segments.withhold_nodes(nodes, metric, protection.nodes)
        n_col = metric_def(metric).n
        leaves = drawn[drawn["level"] == len(path)].reset_index(drop=True)
        leaf_n = leaves[n_col].to_numpy()
        keys = leaves[path].astype(str)
        groups: list[tuple[str, np.ndarray, bool]] = []  # (name, members, value shown)
        for _, node in drawn.iterrows():
            member = np.ones(len(leaves), dtype=bool)
            for dim in path[: int(node["level"])]:
                member &= (keys[dim] == str(node[dim])).to_numpy()
            groups.append((f"node {node['id']}", member, shown(node[metric_def(metric).value])))
        known = []
        total = leaf_n.sum()
        if total >= TH.min_n:
            known.append(np.ones(len(leaves)))
        rests = []
        for dim in path:
            table = segments.withhold_segments(
                segments.segment_vs_rest(store, f, dim, metric, TH), protection.segments[dim]
            )
            for r in table.itertuples(index=False):
                member = (keys[dim] == r.segment).to_numpy()
                groups.append((f"{dim}={r.segment}", member, shown(r.value)))
                rests.append((f"rest of {dim}={r.segment}", ~member, shown(r.rest_value)))
        for _, member, is_shown in groups + rests:
            if is_shown:
                known.append(member.astype(float))
        known = [k * (leaf_n > 0) for k in known]
        proj = span_projector(known, len(leaves))
        for name, member, is_shown in groups + rests:
            size = leaf_n[member].sum()
            if 0 < size < TH.min_n:
                assert not is_shown, name
                assert not derivable(proj, member * (leaf_n > 0)), f"{f}: {name} (n={size})"


# --- voice of the customer: with / without a theme, and its trend and touchpoint cells ----


def test_no_small_theme_side_is_recoverable_from_the_other_side(
    voc: tuple[Store, pd.DataFrame],
) -> None:
    """Fault: "NPS without" was shown next to a suppressed "NPS with" (and the reverse);
    with the NPS of all analysed comments (any theme's with + without) either side of a
    theme follows by subtraction."""
    store, _ = voc
    hidden_themes = 0
    for where in (None, {"region": ["Celje"]}, {"touchpoint": ["checkout"]}):
        for start in (dt.date(2025, 1, 1), dt.date(2025, 3, 1)):
            f = Filters.make(start, start + dt.timedelta(days=9), where)
            got = impact.theme_impact(store, f, None, TH)
            for r in got.itertuples(index=False):
                small_with = 0 < r.nps_n_with < TH.min_n
                small_without = 0 < r.nps_n_without < TH.min_n
                if small_with or small_without:
                    hidden_themes += 1
                    for col in ("nps_with", "nps_without", "nps_with_ci_low",
                                "nps_without_ci_high", "nps_impact", "t"):  # fmt: skip
                        assert not shown(getattr(r, col)), (f, r.theme, col)
    assert hidden_themes > 0


def _partition_check(
    cells: pd.DataFrame, part: str, ranking: pd.DataFrame, comments_n: int
) -> int:
    """For each theme: its cells (periods or touchpoints) partition its mentions; with the
    theme's NPS in the ranking (or its complement) and all comments' NPS, no small cell
    may be derivable. Returns how many cells are hidden."""
    hidden = 0
    for theme, g in cells.groupby("theme"):
        rank = ranking.set_index("theme").loc[theme]
        n = np.append(g["nps_n_with"].to_numpy(), rank["nps_n_without"])
        width = len(n)
        known = []
        if comments_n >= TH.min_n:
            known.append(np.ones(width))
        theme_row = np.append(np.ones(width - 1), 0.0)
        if shown(rank["nps_with"]):
            known.append(theme_row)
        if shown(rank["nps_without"]):
            known.append(np.eye(width)[-1])
        for j, value in enumerate(g["nps_with"]):
            if shown(value):
                known.append(np.eye(width)[j])
        known = [k * (n > 0) for k in known]
        proj = span_projector(known, width)
        for j, (cell, value) in enumerate(zip(g[part], g["nps_with"], strict=True)):
            if 0 < n[j] < TH.min_n:
                assert not shown(value)
            if not shown(value) and n[j] > 0:
                hidden += 1
                if 0 < n[j] < TH.min_n:
                    assert not derivable(proj, np.eye(width)[j]), (theme, cell, n[j])
        for union in small_unions(n[n > 0], TH.min_n) if (n > 0).sum() <= 12 else []:
            full = np.zeros(width)
            full[n > 0] = union
            assert not derivable(proj, full), (theme, "a union of cells under min_n")
    return hidden


def test_no_small_theme_cell_is_recoverable_from_the_theme_total(
    voc: tuple[Store, pd.DataFrame],
) -> None:
    """Fault: a theme's trend point or touchpoint cell with "n too small" was the theme's
    NPS (in the ranking) times its n minus the other shown cells."""
    store, _ = voc
    hidden = 0
    for where in ({"region": ["Celje"]}, None):
        f = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 2, 28), where)
        ranking = impact.theme_impact(store, f, "taxonomy", TH)
        base = impact.analysed(store, f).to_pandas()
        comments_n = int(base["nps"].notna().sum())
        trend = impact.theme_trend(store, f, "week", list(THEMES), "taxonomy", TH)
        hidden += _partition_check(trend, "period", ranking, comments_n)
        matrix = impact.theme_matrix(store, f, "touchpoint", "taxonomy", TH)
        matrix = matrix[matrix["theme"].isin(THEMES)]
        hidden += _partition_check(matrix, "touchpoint", ranking, comments_n)
    assert hidden > 0



# --- the page says why a value is hidden -------------------------------------------------


def test_the_segments_page_says_why_a_value_is_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault: a value withheld only to protect a small one was a silent blank (or claimed
    "n too small" with a large n). City C has 3 answers; B (30) is hidden with it, so that
    the overall score minus A cannot give C; the chart and the table say so."""
    from streamlit.testing.v1 import AppTest

    from cxdata import fmt

    sizes = {"A": 200, "B": 30, "C": 3}
    frame = random_responses(sum(sizes.values()), seed=9)
    frame["city"] = np.repeat(list(sizes), list(sizes.values()))
    frame["nps"] = pd.Series(np.arange(len(frame)) % 11, dtype="Int8")
    frame["submitted_at"] = pd.Timestamp("2026-03-01") + pd.to_timedelta(
        np.arange(len(frame)) % 5, unit="D"
    )
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, frame)
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.chdir(ROOT)
    query = {"path": "city", "by": "city"}
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params.update(query)
    at.run()
    at.switch_page("pages/segments.py")
    at.query_params.clear()
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(t.value for t in at.dataframe if "Rest NPS" in t.value.columns)
    rows = table.set_index("Segment")
    assert rows.loc["C", "Significant (BH, 5% FDR)"] == "n too small"
    assert rows.loc["B", "Significant (BH, 5% FDR)"] == fmt.hidden()
    for city in ("B", "C"):
        assert pd.isna(rows.loc[city, "NPS"]) and pd.isna(rows.loc[city, "Rest NPS"])
        assert pd.isna(rows.loc[city, "Rest n"])
    assert not pd.isna(rows.loc["A", "NPS"])
    drill = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    info = dict(zip(drill["labels"], drill["customdata"], strict=True))
    assert info["B"] == fmt.hidden(30) and info["C"] == fmt.too_small(3)
