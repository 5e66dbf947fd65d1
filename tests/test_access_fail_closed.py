"""The access configuration fails closed (DESIGN §10): every kind of mistake in the access
file closes access for everyone, with a message naming the file, the entry and the key for
administrators and a generic line (no path, no parse detail) for visitors; a table the
restriction cannot reach is hidden; only a verified e-mail address gets a grant."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cxdata import demo, kpi_metrics, schema
from cxdata.access import (
    VISITOR_MESSAGE,
    AccessConfigError,
    AccessDenied,
    identity_claims,
    load_policy,
    parse_policy,
    verified_email,
)
from cxdata.errors import CxError
from cxdata.filters import Filters
from cxdata.importing import datasets
from cxdata.store import Store, close, connect
from tests.test_import_page import plain

ROOT = Path(__file__).resolve().parents[1]
END = dt.date(2026, 6, 30)
GOOD = """
admin_contact = "cx-admins@example.com"

[users."boss@example.com"]
role = "admin"

[users."kari@example.com"]
role = "viewer"
restrict = { country = ["Sweden"] }
"""
# One fault of each kind, appended to GOOD: (name, text, what the admin message must name).
FAULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "misspelt-key": (
        '[users."ola@example.com"]\nrole = "viewer"\ncontry = ["Norway"]\n',
        ('users."ola@example.com"', "unknown key 'contry'"),
    ),
    "restrictions-for-restrict": (
        '[users."ola@example.com"]\nrestrictions = { country = ["Norway"] }\n',
        ('users."ola@example.com"', "unknown key 'restrictions'", "did you mean 'restrict'"),
    ),
    "unknown-role": (
        '[users."ola@example.com"]\nrole = "superuser"\n',
        ('users."ola@example.com"', "role 'superuser' is not one of viewer, analyst, admin"),
    ),
    "value-not-a-list": (
        '[users."ola@example.com"]\nrestrict = { country = "Norway" }\n',
        ('users."ola@example.com"', "restrict.country must be a non-empty list of strings"),
    ),
    "number-in-list": (
        '[users."ola@example.com"]\nrestrict = { plan = [1, 2] }\n',
        ('users."ola@example.com"', "restrict.plan must hold only non-empty strings, not 1"),
    ),
    "unknown-dimension-in-list": (
        'dimensions = ["country", "region"]\n'
        '[users."ola@example.com"]\nrestrict = { contry = ["Norway"] }\n',
        (
            'users."ola@example.com"',
            "restrict.contry is not one of the file's dimensions",
            "did you mean 'country'",
        ),
    ),
    "duplicate-user": (
        '[users."Ola@Example.com"]\nrole = "admin"\n[users." ola@example.com"]\nrole = "viewer"\n',
        ('users." ola@example.com"', 'the same user as users."Ola@Example.com"'),
    ),
    "unknown-group-key": (
        '[groups.nordic]\nmembers = ["sven@example.com"]\nrestrict = { country = ["Norway"] }\n'
        'datasets = { metrics = { restrict = { country = ["Norway"] }, region = "x" } }\n',
        ("groups.nordic.datasets.metrics", "unknown key 'region'"),
    ),
}


def faulty(fault: str) -> str:
    """GOOD with one fault; a top-level key goes before the tables."""
    text = FAULTS[fault][0]
    if text.startswith("dimensions"):
        top, _, tables = text.partition("\n")
        return f"{top}\n{GOOD}{tables}"
    return GOOD + text


def write_access(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secret-dir" / "access.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def assert_closed(path: Path, needles: tuple[str, ...], caplog: pytest.LogCaptureFixture) -> None:
    """Nobody gets a grant from `path`; the visitor line is generic; the admin message (the
    error's detail, also in the server log) names the file, the entry and the key."""
    caplog.set_level(logging.ERROR, logger="cxdata.access")
    with pytest.raises(CxError) as caught:
        policy = load_policy(path)
        assert policy is not None
        pytest.fail(f"a faulty file gave boss {policy.grant_for('boss@example.com')}")
    exc = caught.value
    visitor = str(exc)
    assert visitor == VISITOR_MESSAGE
    assert str(path.parent) not in visitor and "access.toml" not in visitor
    assert isinstance(exc, AccessConfigError)
    for needle in (str(path), *needles):
        assert needle in exc.detail, (needle, exc.detail)
    assert exc.detail in caplog.text  # the administrator is told through the server log


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_closes_access_for_everyone(
    fault: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert parse_policy(GOOD).grant_for("boss@example.com") is not None  # the rest is fine
    assert_closed(write_access(tmp_path, faulty(fault)), FAULTS[fault][1], caplog)


def test_exact_duplicate_user_table_closes_access(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = GOOD + '[users."boss@example.com"]\nrole = "viewer"\n'
    assert_closed(write_access(tmp_path, text), ("not valid TOML",), caplog)


# --- restrictions the store cannot apply -------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Demo responses and metrics (the metrics have `country`, not `region`), plus
    touchpoint ratings (neither: they belong to a response)."""
    path = tmp_path_factory.mktemp("fail_closed")
    store = connect(path)
    responses = demo.demo_responses(rows=6_000, seed=3, end=END)
    store.replace_table(schema.RESPONSES, responses)
    store.replace_table(schema.METRICS, demo.demo_metrics(seed=3, end=END))
    ratings = pd.DataFrame(
        {
            "response_id": responses["response_id"],
            "touchpoint": responses["touchpoint"],
            "rating": 4.0,
            "scale": "1-5",
        }
    )
    store.replace_table(schema.TOUCHPOINT_RATINGS, ratings)
    yield path
    close(path)


@pytest.fixture(scope="module")
def store(data_dir: Path) -> Store:
    return connect(data_dir)


def norway_region(store: Store) -> str:
    r = store.responses()
    return str(r.filter(r.country == "Norway").region.max().execute())


def visible_rows(store: Store, name: str) -> int:
    return int(store.table(name).count().execute())


def test_misspelt_dimension_closes_access_where_applied(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`contry` inside restrict (no `dimensions` list in the file): applying any grant of
    the policy to the store fails, for the admin too, naming the entry and the key."""
    caplog.set_level(logging.ERROR, logger="cxdata.access")
    policy = load_policy(
        write_access(tmp_path, GOOD + '[users."ola@example.com".restrict]\ncontry = ["Norway"]\n')
    )
    assert policy is not None
    for email in ("ola@example.com", "boss@example.com", "kari@example.com"):
        grant = policy.require(email)
        with pytest.raises(AccessConfigError) as caught:
            grant.scoped(store)
        assert str(caught.value) == VISITOR_MESSAGE and str(tmp_path) not in str(caught.value)
        assert 'users."ola@example.com"' in caught.value.detail
        assert "restrict.contry is not a dimension of the responses" in caught.value.detail
    assert "restrict.contry" in caplog.text


def test_restriction_on_a_missing_dimension_shows_no_rows(store: Store) -> None:
    """The engine's own guard (a Store restricted on a column the responses lack): no rows
    anywhere, never all of them."""
    typo = store.restricted({"contry": ("Norway",)})
    with pytest.raises(CxError, match="'contry' cannot be applied"):
        visible_rows(typo, schema.RESPONSES)
    with pytest.raises(CxError, match="'contry' cannot be applied"):  # through its response
        visible_rows(typo, schema.TOUCHPOINT_RATINGS)
    assert visible_rows(typo, schema.METRICS) == 0  # nothing to restrict it by: hidden


def test_metrics_hidden_from_region_restricted_user_unless_mapped(
    store: Store, tmp_path: Path
) -> None:
    region = norway_region(store)
    text = GOOD + f'[users."per@example.com"]\nrestrict = {{ region = ["{region}"] }}\n'
    policy = load_policy(write_access(tmp_path, text))
    assert policy is not None
    per = policy.require("per@example.com").scoped(store)
    assert visible_rows(per, schema.RESPONSES) > 0
    assert visible_rows(per, schema.METRICS) == 0  # no region column: hidden, not whole
    assert kpi_metrics.metric_series(per, Filters()).empty
    summary = datasets.dataset_summaries(per).set_index("dataset")["rows"]
    assert summary[schema.METRICS] == 0
    # Mapped: the metrics dataset gets per's own restriction, on a column it has.
    mapped = load_policy(
        write_access(
            tmp_path,
            text
            + ('[users."per@example.com".datasets.metrics]\nrestrict = { country = ["Norway"] }\n'),
        )
    )
    assert mapped is not None
    grant = mapped.require("per@example.com")
    assert "metrics: country = Norway" in grant.describe()
    per = grant.scoped(store)
    m = per.table(schema.METRICS)
    countries = set(m.country.to_pandas().dropna())
    assert countries == {"Norway"} and visible_rows(per, schema.METRICS) > 0
    assert visible_rows(per, schema.RESPONSES) == visible_rows(
        store.restricted({"region": (region,)}), schema.RESPONSES
    )


def test_metrics_mapping_to_a_missing_column_closes_access(store: Store, tmp_path: Path) -> None:
    text = GOOD + (
        '[users."per@example.com"]\nrestrict = { country = ["Norway"] }\n'
        '[users."per@example.com".datasets.metrics]\nrestrict = { region = ["Oslo"] }\n'
    )
    policy = load_policy(write_access(tmp_path, text))
    assert policy is not None
    with pytest.raises(AccessConfigError) as caught:
        policy.require("boss@example.com").scoped(store)
    assert "datasets.metrics.restrict.region is not a dimension of the metrics" in (
        caught.value.detail
    )
    # The engine on its own: the dataset's restriction cannot be applied → hidden.
    raw = store.restricted({"country": ("Norway",), "metrics:region": ("Oslo",)})
    assert visible_rows(raw, schema.METRICS) == 0


def test_rows_without_the_dimension_are_restricted_through_their_response(
    store: Store,
) -> None:
    """Touchpoint ratings have no `country`: a country-restricted user sees the ratings of
    the responses they may see, not all ratings."""
    norway = store.restricted({"country": ("Norway",)})
    assert (
        visible_rows(norway, schema.TOUCHPOINT_RATINGS)
        == visible_rows(norway, schema.RESPONSES)
        < visible_rows(store, schema.TOUCHPOINT_RATINGS)
    )
    summary = datasets.dataset_summaries(norway).set_index("dataset")["rows"]
    assert summary[schema.TOUCHPOINT_RATINGS] == summary[schema.RESPONSES]


def test_cli_closes_for_the_admin_too(tmp_path: Path) -> None:
    """`python -m cxdata --as-user boss@…` with an unknown dimension in someone else's
    entry: exit 1; the administrator's detail on stderr (the server log)."""
    data = tmp_path / "data"
    small = connect(data)
    small.replace_table(schema.RESPONSES, demo.demo_responses(rows=500, seed=1, end=END))
    close(data)
    access = write_access(
        tmp_path, GOOD + '[users."ola@example.com"]\nrestrict = { contry = ["Norway"] }\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "cxdata", "--as-user", "boss@example.com", "kpis"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CX_DATA_DIR": str(data), "CX_ACCESS_FILE": str(access)},
    )
    assert done.returncode == 1 and done.stdout == ""
    assert VISITOR_MESSAGE in done.stderr
    assert 'users."ola@example.com": restrict.contry is not a dimension' in done.stderr


# --- identity ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "boss@example.com", "email_verified": False},
        {"email": "boss@example.com", "email_verified": "false"},
        {"email": "boss@example.com"},
        {"email_verified": True},
    ],
)
def test_unverified_email_gets_no_grant(claims: dict[str, object]) -> None:
    with pytest.raises(AccessDenied, match=r"verified|did not share an e-mail"):
        verified_email(claims)
    assert verified_email({"email": "boss@example.com", "email_verified": True}) == (
        "boss@example.com"
    )


def test_identity_claims_are_configurable() -> None:
    keys = identity_claims(
        {
            "email_claim": "upn",
            "verified_claim": "upn_verified",
            "issuers": ["https://idp.example.com"],
        }
    )
    claims = {"upn": "boss@example.com", "upn_verified": True, "iss": "https://idp.example.com"}
    assert verified_email(claims, keys) == "boss@example.com"
    with pytest.raises(AccessDenied, match="identity provider the dashboard does not accept"):
        verified_email({**claims, "iss": "https://evil.example.com"}, keys)
    with pytest.raises(AccessDenied, match="claim upn_verified is not true"):
        verified_email({**claims, "upn_verified": False}, keys)
    with pytest.raises(AccessConfigError) as caught:
        identity_claims({"email_clam": "upn"})
    assert "unknown key 'email_clam'" in caught.value.detail


# --- the dashboard -----------------------------------------------------------------------

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "cx-dashboard",
    "client_secret": "test-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def signed_in_app(
    data_dir: Path, access: Path, monkeypatch: pytest.MonkeyPatch, user: dict[str, object]
) -> AppTest:
    monkeypatch.setenv("CX_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CX_ACCESS_FILE", str(access))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.secrets["auth"] = AUTH
    at.user = user
    return at.run()


def page_text(at: AppTest) -> str:
    parts = [
        str(e.value)
        for kind in (
            "markdown",
            "caption",
            "title",
            "subheader",
            "warning",
            "error",
            "info",
            "metric",
        )
        for e in at.get(kind)
        if hasattr(e, "value")
    ]
    return "\n".join(parts)


@pytest.mark.parametrize(
    "fault", ["misspelt-key", "restrictions-for-restrict", "unknown-role", "duplicate-user"]
)
def test_dashboard_closed_for_a_signed_in_admin_with_a_generic_message(
    fault: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = write_access(tmp_path, faulty(fault))
    at = signed_in_app(
        data_dir,
        access,
        monkeypatch,
        {"is_logged_in": True, "email": "boss@example.com", "email_verified": True},
    )
    assert not at.exception, [e.value for e in at.exception]
    assert "_cx_grant" not in at.session_state  # nobody has a grant
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and VISITOR_MESSAGE in plain(errors[0]), errors
    text = page_text(at)
    assert str(tmp_path) not in text and "access.toml" not in text
    assert "users." not in text and "NPS" not in text  # no detail, no data


def test_dashboard_unverified_email_gets_no_grant(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = write_access(tmp_path, GOOD)
    at = signed_in_app(
        data_dir,
        access,
        monkeypatch,
        {
            "is_logged_in": True,
            "email": "boss@example.com",
            "email_verified": False,
            "iss": "https://idp.example.com",
            "sub": "boss",
        },
    )
    assert not at.exception, [e.value for e in at.exception]
    assert "_cx_grant" not in at.session_state
    text = page_text(at)
    assert "has not verified the e\\-mail address boss@example\\.com" in text
    assert "cx\\-admins@example\\.com" in text
    assert "NPS" not in text and not at.get("plotly_chart")
    # The same user with a verified address gets the admin grant.
    ok = signed_in_app(
        data_dir,
        access,
        monkeypatch,
        {"is_logged_in": True, "email": "boss@example.com", "email_verified": True},
    )
    assert not ok.exception, [e.value for e in ok.exception]
    assert ok.session_state["_cx_grant"].role == "admin"


def test_dashboard_closed_for_the_admin_when_an_entry_names_a_missing_dimension(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kari's entry restricts on a dimension the data does not have: the admin, whose own
    entry is fine, is shut out too, with the generic line and no data."""
    text = GOOD.replace('restrict = { country = ["Sweden"] }', 'restrict = { contry = ["Sweden"] }')
    at = signed_in_app(
        data_dir,
        write_access(tmp_path, text),
        monkeypatch,
        {"is_logged_in": True, "email": "boss@example.com", "email_verified": True},
    )
    assert not at.exception, [e.value for e in at.exception]
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and VISITOR_MESSAGE in plain(errors[0]), errors
    assert "NPS" not in page_text(at) and str(tmp_path) not in page_text(at)
