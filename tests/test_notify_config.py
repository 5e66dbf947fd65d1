"""The subscriptions file (cxdata.notify.config) and when subscriptions are due (schedule)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import pytest

from cxdata.access import parse_policy
from cxdata.errors import CxError
from cxdata.notify.config import (
    NotifyConfigError,
    Subscription,
    load_config,
    parse_config,
    validate_text,
)
from cxdata.notify.schedule import alert_period, period_key

POLICY = parse_policy(
    """
[users."ola@example.com"]
role = "viewer"
restrict = { country = ["Norway"] }

[groups.leads]
members = ["kari@example.com"]
role = "analyst"
""",
    "access.toml",
)

GOOD = """
base_url = "https://cx.example.com/"

[[subscription]]
name = "norway-weekly"
to = ["Ola@Example.com", "kari@example.com", "ola@example.com"]
view = "/overview?period=lq&country=Norway&country=Sweden"
every = "weekly"
weekday = "wednesday"
format = "html+pdf"

[[subscription]]
name = "all-monthly"
to = ["kari@example.com"]
view = "https://cx.example.com/?period=ly"
every = "monthly"
day = 28

[[alert]]
name = "nps-drop"
kind = "kpi_change"
to = ["ola@example.com"]
view = "/?country=Norway"
by = "region"
metric = "nps"
threshold = 5
baseline_days = 30

[[alert]]
name = "parcel-friction"
kind = "friction_level"
webhook_env = "CX_ALERT_WEBHOOK"
webhook_as = "ola@example.com"
threshold = 25.5
touchpoint = "Parcel delivery"
period_days = 14
min_n = 30

[[alert]]
name = "target"
kind = "metric_target"
to = ["kari@example.com"]
metric = "on_time_rate"

[[alert]]
name = "delivery-share"
kind = "theme_share"
to = []
webhook_env = "CX_HOOK"
webhook_as = "kari@example.com"
threshold = 3.0
theme = "delivery"
"""


def test_good_file_parses_into_entries() -> None:
    config = parse_config(GOOD, POLICY, "subs.toml")
    assert config.base_url == "https://cx.example.com" and config.source == "subs.toml"
    weekly, monthly = config.subscriptions
    # Lower-cased, and the same address twice is kept once, in file order.
    assert weekly.to == ("ola@example.com", "kari@example.com")
    assert weekly.view == "/overview?period=lq&country=Norway&country=Sweden"
    assert weekly.page_path == "/overview"
    assert weekly.params == {"period": ["lq"], "country": ["Norway", "Sweden"]}
    assert (weekly.every, weekly.weekday, weekly.format) == ("weekly", "wednesday", "html+pdf")
    # A full URL on base_url is kept as the part after it.
    assert (monthly.view, monthly.page_path, monthly.params) == ("/?period=ly", "/", {
        "period": ["ly"]
    })
    assert (monthly.day, monthly.format, monthly.weekday) == (28, "html", "monday")
    nps, friction, target, share = config.alerts
    assert (nps.kind, nps.metric, nps.threshold, nps.by) == ("kpi_change", "nps", 5.0, "region")
    assert isinstance(nps.threshold, float)
    assert (nps.period_days, nps.baseline_days, nps.min_n) == (7, 30, 100)
    assert (nps.page_path, nps.params) == ("/", {"country": ["Norway"]})
    assert friction.to == () and friction.webhook_env == "CX_ALERT_WEBHOOK"
    assert friction.webhook_as == "ola@example.com"
    assert (friction.threshold, friction.touchpoint, friction.period_days, friction.min_n) == (
        25.5, "Parcel delivery", 14, 30
    )
    assert (friction.view, friction.page_path, friction.params, friction.metric) == (
        "", "", {}, None
    )
    assert (target.metric, target.threshold) == ("on_time_rate", None)
    assert (share.theme, share.threshold, share.to) == ("delivery", 3.0, ())
    assert validate_text(GOOD, POLICY) == []


def test_empty_file_has_no_entries_and_needs_no_base_url() -> None:
    config = parse_config("", None)
    assert (config.base_url, config.subscriptions, config.alerts) == ("", (), ())


def test_webhook_only_alert_still_needs_the_access_file() -> None:
    # the channel's messages are computed under webhook_as's restriction, which only the
    # access file can give: without one, nothing is accepted (fail closed)
    text = 'base_url = "http://localhost:8501"\n' + GOOD[GOOD.index("[[alert]]\nname = \"parcel"):]
    text = text[: text.index("[[alert]]\nname = \"target\"")]
    config = parse_config(text, POLICY)
    assert [a.name for a in config.alerts] == ["parcel-friction"]
    assert config.base_url == "http://localhost:8501"
    with pytest.raises(NotifyConfigError, match="there is no access file"):
        parse_config(text, None)


SUB = '[[subscription]]\nname = "s1"\nto = ["ola@example.com"]\nview = "/"\nevery = "daily"\n'
BASE = 'base_url = "https://cx.example.com"\n'
HOOK = 'webhook_env = "H"\nwebhook_as = "ola@example.com"\n'  # a webhook and its reader


@pytest.mark.parametrize("text,needle", [
    # unknown key, with the closest known key suggested, at each level
    (BASE + SUB + 'formt = "html"\n',
     "subscription[1] \"s1\": unknown key 'formt' (did you mean 'format'?)"),
    (BASE + 'subscriptions = []\n', "unknown key 'subscriptions' (did you mean 'subscription'?)"),
    (BASE + '[[alert]]\nname = "a"\nkind = "kpi_change"\nto = ["ola@example.com"]\n'
     'metric = "nps"\nthreshhold = 5\n',
     "alert[1] \"a\": unknown key 'threshhold' (did you mean 'threshold'?)"),
    # wrong type
    (BASE + SUB.replace('"daily"', '"monthly"') + "day = \"1\"\n",
     "subscription[1] \"s1\": day must be a whole number, not '1'"),
    (BASE + SUB.replace('"daily"', '"monthly"') + "day = true\n", "day must be a whole number"),
    (BASE + SUB.replace('to = ["ola@example.com"]', 'to = "ola@example.com"'),
     "to must be a non-empty list of e-mail addresses"),
    (BASE + '[[alert]]\nname = "a"\nkind = "friction_level"\n' + HOOK + 'threshold = "5"\n',
     "alert[1] \"a\": threshold must be a number, not '5'"),
    (BASE + '[subscription]\nname = "x"\n', "subscription must be a list of [[subscription]]"),
    # bad enum value
    (BASE + SUB.replace('"daily"', '"weekley"'),
     "every = 'weekley' is not one of daily, weekly, monthly (did you mean 'weekly'?)"),
    (BASE + SUB + 'format = "pdf"\n', "format = 'pdf' is not one of html, html+pdf"),
    (BASE + SUB.replace('"daily"', '"weekly"') + 'weekday = "mon"\n',
     "weekday = 'mon' is not one of monday"),
    (BASE + '[[alert]]\nname = "a"\nkind = "nps_drop"\n' + HOOK,
     "alert[1] \"a\": kind = 'nps_drop' is not one of kpi_change"),
    (BASE + '[[alert]]\nname = "a"\nkind = "kpi_change"\n' + HOOK + 'metric = "nsp"\n'
     "threshold = 1\n", "metric = 'nsp' is not a survey metric (did you mean 'nps'?)"),
    # a key of another schedule or kind
    (BASE + SUB + "day = 3\n", 'subscription[1] "s1": day applies only to every = "monthly"'),
    (BASE + '[[alert]]\nname = "a"\nkind = "kpi_change"\n' + HOOK + 'metric = "nps"\n'
     'threshold = 1\ntheme = "x"\n', "theme does not apply to kind = 'kpi_change'"),
    # out of range
    (BASE + SUB.replace('"daily"', '"monthly"') + "day = 29\n", "day = 29 is outside 1 to 28"),
    (BASE + '[[alert]]\nname = "a"\nkind = "friction_level"\n' + HOOK + 'threshold = 5\n'
     "period_days = 0\n", "period_days = 0 is outside 1 to 366"),
    (BASE + '[[alert]]\nname = "a"\nkind = "theme_share"\n' + HOOK + 'threshold = 5\n'
     'theme = "t"\nbaseline_days = 6\n', "baseline_days = 6 is outside 7 to 730"),
    (BASE + '[[alert]]\nname = "a"\nkind = "friction_level"\n' + HOOK + 'threshold = 101\n',
     "threshold = 101 must be above 0 and at most 100"),
    (BASE + '[[alert]]\nname = "a"\nkind = "friction_level"\n' + HOOK + 'threshold = 5\n'
     "min_n = 0\n", "min_n = 0 is outside at least 1"),
    # duplicate name
    (BASE + SUB + SUB, 'subscription[2] "s1": name \'s1\' is already used by subscription[1]'),
    (BASE + SUB.replace('"s1"', '"Bad Name"'), "name = 'Bad Name' must be 1–60 characters"),
    # recipient not granted by the access file
    (BASE + SUB.replace("ola@", "stranger@"),
     'subscription[1] "s1": to: stranger@example.com is not granted access by access.toml'),
    (BASE + SUB.replace('"ola@example.com"', '"not-an-address"'),
     "'not-an-address' is not an e-mail"),
    # missing required key
    (BASE + SUB.replace('view = "/"\n', ""), 'subscription[1] "s1": view is missing'),
    (BASE + SUB.replace('name = "s1"\n', ""), "subscription[1]: name is missing"),
    (BASE + '[[alert]]\nname = "a"\nkind = "theme_share"\n' + HOOK + 'threshold = 5\n',
     'alert[1] "a": theme is missing'),
    (BASE + '[[alert]]\nname = "a"\nkind = "metric_target"\nmetric = "m"\n',
     'alert[1] "a": to is missing or empty, and there is no webhook_env'),
    (BASE + '[[alert]]\nname = "a"\nkind = "metric_target"\nto = []\nmetric = "m"\n',
     "there is no webhook_env"),
    (BASE + '[[alert]]\nname = "a"\nkind = "metric_target"\nwebhook_env = "https://hook"\n'
     'metric = "m"\n', "webhook_env = 'https://hook' must be the name of an environment variable"),
    # a webhook's messages need a named reader: whose restriction they are computed under
    (BASE + '[[alert]]\nname = "a"\nkind = "metric_target"\nwebhook_env = "H"\nmetric = "m"\n',
     'alert[1] "a": webhook_as is missing'),
    (BASE + '[[alert]]\nname = "a"\nkind = "metric_target"\nwebhook_env = "H"\n'
     'webhook_as = "stranger@example.com"\nmetric = "m"\n',
     'alert[1] "a": to: stranger@example.com is not granted access'),
    (BASE + '[[alert]]\nname = "a"\nkind = "metric_target"\nto = ["ola@example.com"]\n'
     'webhook_as = "ola@example.com"\nmetric = "m"\n', "webhook_as is set but webhook_env is not"),
    # a saved view is checked when saved: a typo must not become another period's digest
    (BASE + SUB.replace('view = "/"', 'view = "/?period=7d"'),
     "view = '/?period=7d': period = ['7d'] is not one of all, 30d"),
    (BASE + SUB.replace('view = "/"', 'view = "/nonsense"'),
     "the page '/nonsense' is not one of /, /overview, /trends"),
    (BASE + SUB.replace('view = "/"', 'view = "/?period=custom&from=2026-02-01"'),
     "period = custom needs from and to"),
    (BASE + SUB.replace('view = "/"', 'view = "/?vs=lastyear"'), "vs = ['lastyear'] is not one"),
    # keys a kind cannot use: the metrics dataset has no answers to count per `by`
    (BASE + '[[alert]]\nname = "a"\nkind = "metric_target"\nto = ["ola@example.com"]\n'
     'metric = "m"\nby = "region"\n', "by does not apply to kind = 'metric_target'"),
    # a name must match whole: a trailing newline would end up in a file name
    (BASE + SUB.replace('name = "s1"', 'name = "s1\\n"'), "must be 1–60 characters"),
    (SUB, "subs.toml: base_url is missing"),
    # bad base_url
    ('base_url = "ftp://cx.example.com"\n' + SUB, "base_url = 'ftp://cx.example.com' must be an"),
    ('base_url = "cx.example.com"\n' + SUB, "must be an http:// or https:// address with a host"),
    ('base_url = "https://u:pw@cx.example.com"\n' + SUB, "must not carry a user name or password"),
    ('base_url = "https://cx.example.com/?x=1"\n' + SUB, "must not have a ?query or #fragment"),
    # a view on another host (or outside base_url's path)
    (BASE + SUB.replace('view = "/"', 'view = "https://evil.example.net/overview?a=1"'),
     "view = 'https://evil.example.net/overview?a=1' is not on base_url 'https://cx.example.com'"),
    (BASE + SUB.replace('view = "/"', 'view = "http://cx.example.com/"'), "is not on base_url"),
    (BASE.replace(".com", ".com/cx") + SUB.replace('view = "/"', 'view = "https://cx.example.com/x"'),
     "is not on base_url 'https://cx.example.com/cx'"),
    (BASE + SUB.replace('view = "/"', 'view = "overview"'), "must start with /"),
    ("[[subscription]\n", "subs.toml: not valid TOML"),
])
def test_each_fault_names_file_entry_and_key(text: str, needle: str) -> None:
    with pytest.raises(NotifyConfigError) as caught:
        parse_config(text, POLICY, "subs.toml")
    message = str(caught.value)
    assert message.startswith("subs.toml"), message
    assert needle in message, message
    assert isinstance(caught.value, CxError)
    # validate_text gives the same one message (its default source name)
    assert validate_text(text, POLICY) == [message.replace("subs.toml", "subscriptions file", 1)]


def test_no_access_file_means_no_mail_recipients() -> None:
    with pytest.raises(NotifyConfigError, match=re.escape(
        'subscriptions file: subscription[1] "s1": to: ola@example.com cannot be checked: '
        "there is no access file"
    )):
        parse_config(BASE + SUB, None)
    assert validate_text(GOOD, None) != []


def test_base_url_path_prefix_is_stripped_from_full_url_views() -> None:
    text = BASE.replace(".com", ".com/cx/") + SUB.replace(
        'view = "/"', 'view = "https://CX.example.com/cx/trends?metric=nps"'
    )
    sub = parse_config(text, POLICY).subscriptions[0]
    assert (sub.view, sub.page_path, sub.params) == (
        "/trends?metric=nps", "/trends", {"metric": ["nps"]}
    )


def test_load_config_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CX_SUBSCRIPTIONS_FILE", raising=False)
    assert load_config(policy=POLICY) is None
    file = tmp_path / "subs.toml"
    file.write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("CX_SUBSCRIPTIONS_FILE", str(file))
    config = load_config(policy=POLICY)
    assert config is not None and len(config.subscriptions) == 2 and len(config.alerts) == 4
    assert config.source == f"subscriptions file {file}"
    # The default policy is the access file of $CX_ACCESS_FILE.
    access = tmp_path / "access.toml"
    access.write_text('[users."kari@example.com"]\nrole = "admin"\n', encoding="utf-8")
    monkeypatch.setenv("CX_ACCESS_FILE", str(access))
    with pytest.raises(NotifyConfigError, match=re.escape("ola@example.com is not granted access")):
        load_config()
    monkeypatch.delenv("CX_ACCESS_FILE")
    with pytest.raises(NotifyConfigError, match="there is no access file"):
        load_config()
    with pytest.raises(NotifyConfigError, match="cannot read subscriptions file"):
        load_config(tmp_path / "missing.toml", policy=POLICY)


# --- schedule ------------------------------------------------------------------------------

DAILY = Subscription("d", ("a@example.com",), "/", "/", {}, "daily")
WEEKLY_MON = replace(DAILY, every="weekly", weekday="monday")
WEEKLY_THU = replace(DAILY, every="weekly", weekday="thursday")
WEEKLY_SUN = replace(DAILY, every="weekly", weekday="sunday")
MONTHLY_1 = replace(DAILY, every="monthly", day=1)
MONTHLY_28 = replace(DAILY, every="monthly", day=28)


@pytest.mark.parametrize("sub,today,key", [
    (DAILY, "2026-11-30", "2026-11-30"),
    (DAILY, "2027-01-01", "2027-01-01"),
    # weekly on Monday: due every day of the ISO week from Monday on (catch-up)
    (WEEKLY_MON, "2026-11-30", "2026-W49"),   # Monday
    (WEEKLY_MON, "2026-12-01", "2026-W49"),   # Tuesday: a missed Monday still sends
    (WEEKLY_MON, "2026-12-06", "2026-W49"),   # Sunday
    (WEEKLY_MON, "2026-12-07", "2026-W50"),
    # weekly on Thursday: not due Monday–Wednesday
    (WEEKLY_THU, "2026-11-30", None),
    (WEEKLY_THU, "2026-12-02", None),
    (WEEKLY_THU, "2026-12-03", "2026-W49"),
    (WEEKLY_THU, "2026-12-05", "2026-W49"),
    (WEEKLY_SUN, "2026-12-05", None),
    (WEEKLY_SUN, "2026-12-06", "2026-W49"),
    # year boundary: ISO 2026 has 53 weeks; 2027-01-01 (Friday) is in 2026-W53
    (WEEKLY_MON, "2026-12-28", "2026-W53"),
    (WEEKLY_MON, "2027-01-01", "2026-W53"),
    (WEEKLY_THU, "2027-01-01", "2026-W53"),
    (WEEKLY_MON, "2027-01-03", "2026-W53"),
    (WEEKLY_MON, "2027-01-04", "2027-W01"),
    (WEEKLY_THU, "2027-01-04", None),
    # …and 2025-12-29 (Monday) already belongs to ISO year 2026
    (WEEKLY_MON, "2025-12-29", "2026-W01"),
    (WEEKLY_SUN, "2025-12-31", None),
    # monthly
    (MONTHLY_1, "2026-11-01", "2026-11"),
    (MONTHLY_1, "2026-11-30", "2026-11"),
    (MONTHLY_1, "2027-01-01", "2027-01"),
    (MONTHLY_28, "2026-02-27", None),
    (MONTHLY_28, "2026-02-28", "2026-02"),
    (MONTHLY_28, "2026-12-31", "2026-12"),
    (MONTHLY_28, "2027-01-01", None),
])
def test_period_key(sub: Subscription, today: str, key: str | None) -> None:
    assert period_key(sub, dt.date.fromisoformat(today)) == key


def test_weekday_from_file_drives_the_schedule() -> None:
    weekly = parse_config(GOOD, POLICY).subscriptions[0]  # wednesday
    assert period_key(weekly, dt.date(2026, 12, 1)) is None
    assert period_key(weekly, dt.date(2026, 12, 2)) == "2026-W49"


@pytest.mark.parametrize("days,last,key", [
    (7, "2026-11-30", "2026-11-24..2026-11-30"),
    (1, "2026-11-30", "2026-11-30..2026-11-30"),
    (14, "2027-01-03", "2026-12-21..2027-01-03"),
    (366, "2024-12-31", "2024-01-01..2024-12-31"),  # a leap year
])
def test_alert_period(days: int, last: str, key: str) -> None:
    rule = replace(parse_config(GOOD, POLICY).alerts[0], period_days=days)
    assert alert_period(rule, dt.date.fromisoformat(last)) == key
