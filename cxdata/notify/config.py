"""The subscriptions file (TOML, named by $CX_SUBSCRIPTIONS_FILE): scheduled digests and alerts.

```toml
base_url = "https://cx.example.com"  # required when any entry exists: links open here (http/https)

[[subscription]]
name = "norway-weekly"           # required, unique among subscriptions, [a-z0-9-_] 1–60 chars
to = ["ola@example.com"]         # required, non-empty; each address granted by the access file
view = "/overview?period=lq&country=Norway"  # required: a saved view = its URL path + query
every = "weekly"                 # daily | weekly | monthly
weekday = "monday"               # weekly only (default monday); monday…sunday
day = 1                          # monthly only (1–28, default 1)
format = "html"                  # html | html+pdf (default html)

[[alert]]
name = "nps-drop"                # required, unique among alerts
kind = "kpi_change"              # kpi_change | friction_level | metric_target | theme_share
to = ["ola@example.com"]         # optional if webhook_env given; each granted by the access file
webhook_env = "CX_ALERT_WEBHOOK" # optional: NAME of an env var holding the webhook URL
webhook_as = "ola@example.com"   # with webhook_env, required: whose restriction the channel's
                                 # messages are computed under (granted by the access file)
view = "/?country=Norway"        # optional scope filters as a view URL (default: all rows)
by = "region"                    # optional: evaluate per value of this dimension (the "scope")
metric = "nps"                   # kpi_change: a survey metric (cxdata.metrics.METRICS);
                                 # metric_target: a metric of the metrics dataset
threshold = 5.0                  # kpi_change: |change| in the metric's unit; friction_level:
                                 # friction % level; theme_share: share change in % points
period_days = 7                  # the window, ending on the data's last day (1–366, default 7)
baseline_days = 90               # kpi_change/theme_share: the trailing baseline before the
                                 # window (7–730, default 90)
min_n = 100                      # volume gate: answers needed in each window (default 100, ≥ 1)
touchpoint = "parcel delivery"   # friction_level: optional, one touchpoint as in the data (exact)
theme = "delivery"               # theme_share: required, a theme id
```

A view is the dashboard URL's path and query (`/overview?period=lq`); a full URL is also
accepted when it lies on `base_url` (same scheme and host, under its path), and is kept as
the part after `base_url`, so a link is always `base_url + view`. Page path "" or "/" is
the Overview. Secrets never go in the file: a webhook is named by the environment variable
that holds its URL. Recipients are compared without case and kept lower-case (an address
listed twice in one `to` is kept once).

Keys that belong to another schedule or alert kind (`day` on a weekly subscription,
`theme` on a kpi_change alert) are mistakes, not ignored.

Fail closed, like the access file: any mistake — an unknown key at any level, a value of
the wrong type or out of range, an unknown option, a name used twice, a missing required
key, an empty recipient list, a recipient the access file does not grant (and, with no
access file, any e-mail recipient at all: who may read the data is decided there), a bad
`base_url`, a view on another host — raises NotifyConfigError naming the file, the entry
(`subscription[2] "norway-weekly"`) and the key; nothing is sent until it is fixed, and
nothing partial is ever returned.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cxdata.access import AccessPolicy, load_policy
from cxdata.errors import CxError, did_you_mean, unknown_key
from cxdata.metrics import METRICS
from cxdata.urlstate import view_problem

SUBSCRIPTIONS_ENV = "CX_SUBSCRIPTIONS_FILE"

EVERY = ("daily", "weekly", "monthly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FORMATS = ("html", "html+pdf")
ALERT_KINDS = ("kpi_change", "friction_level", "metric_target", "theme_share")

_TOP_KEYS = ("base_url", "subscription", "alert")
_SUB_KEYS = ("name", "to", "view", "every", "weekday", "day", "format")
_COMMON_ALERT_KEYS = (
    "name", "kind", "to", "webhook_env", "webhook_as", "view", "period_days",
)  # fmt: skip
# Keys each alert kind takes besides the common ones.
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "kpi_change": ("metric", "threshold", "baseline_days", "by", "min_n"),
    "friction_level": ("threshold", "touchpoint", "by", "min_n"),
    "metric_target": ("metric",),  # the metrics dataset: no answers to count, no `by`
    "theme_share": ("threshold", "baseline_days", "theme", "by", "min_n"),
}
_ALERT_KEYS = tuple(
    dict.fromkeys(_COMMON_ALERT_KEYS + tuple(k for ks in _KIND_KEYS.values() for k in ks))
)

_ENTRY_NAME = re.compile(r"^[a-z0-9_-]{1,60}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DIMENSION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NotifyConfigError(CxError):
    """The subscriptions file is wrong: one line naming the file, the entry and the key.
    Nothing is sent while it stands."""


@dataclass(frozen=True)
class Subscription:
    """A scheduled digest of one dashboard view.

    `view` is the path + query after base_url; `page_path` ("" or "/" = Overview) and
    `params` (query key → values) are its parts. `weekday` is used when every = weekly,
    `day` (1–28) when every = monthly; both keep their defaults otherwise.
    """

    name: str
    to: tuple[str, ...]
    view: str
    page_path: str
    params: dict[str, list[str]]
    every: str
    weekday: str = "monday"
    day: int = 1
    format: str = "html"


@dataclass(frozen=True)
class AlertRule:
    """One alert: a condition on the data in the last `period_days` days.

    Fields a kind does not use are None (`metric`, `threshold`, `touchpoint`, `theme`);
    `baseline_days` is used by kpi_change and theme_share only. `to` may be empty when
    `webhook_env` names the environment variable holding the webhook URL. `view` / `page_path`
    / `params` are the scope filters ("" = all rows); `by` splits the evaluation per value
    of that dimension.
    """

    name: str
    kind: str
    to: tuple[str, ...] = ()
    webhook_env: str | None = None
    webhook_as: str | None = None
    view: str = ""
    page_path: str = ""
    params: dict[str, list[str]] = field(default_factory=dict)
    by: str | None = None
    metric: str | None = None
    threshold: float | None = None
    period_days: int = 7
    baseline_days: int = 90
    min_n: int = 100
    touchpoint: str | None = None
    theme: str | None = None


@dataclass(frozen=True)
class NotifyConfig:
    """The parsed subscriptions file. `base_url` has no trailing slash ("" when the file has
    no entries and no base_url); `source` names the file in messages."""

    base_url: str
    subscriptions: tuple[Subscription, ...]
    alerts: tuple[AlertRule, ...]
    source: str


# --- checks --------------------------------------------------------------------------------


def _known_keys(raw: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    message = unknown_key(raw, allowed, where)
    if message:
        raise NotifyConfigError(message)


def _string(raw: Any, where: str, key: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise NotifyConfigError(f"{where}: {key} must be a non-empty string, not {raw!r}")
    return raw.strip()


def _choice(raw: Any, where: str, key: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(raw, str) or raw not in allowed:
        hint = did_you_mean(raw, allowed) if isinstance(raw, str) else ""
        raise NotifyConfigError(
            f"{where}: {key} = {raw!r} is not one of {', '.join(allowed)}{hint}"
        )
    return raw


def _integer(raw: Any, where: str, key: str, low: int, high: int | None) -> int:
    # bool is an int in Python; `day = true` is a mistake, not 1.
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise NotifyConfigError(f"{where}: {key} must be a whole number, not {raw!r}")
    if raw < low or (high is not None and raw > high):
        span = f"{low} to {high}" if high is not None else f"at least {low}"
        raise NotifyConfigError(f"{where}: {key} = {raw} is outside {span}")
    return raw


def _number(raw: Any, where: str, key: str, high: float | None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise NotifyConfigError(f"{where}: {key} must be a number, not {raw!r}")
    if raw <= 0 or (high is not None and raw > high):
        span = f"above 0 and at most {high:g}" if high is not None else "above 0"
        raise NotifyConfigError(f"{where}: {key} = {raw} must be {span}")
    return float(raw)


def _base_url(raw: Any, source: str) -> str:
    url = _string(raw, source, "base_url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifyConfigError(
            f"{source}: base_url = {url!r} must be an http:// or https:// address with a host"
        )
    if parts.username is not None or parts.password is not None:
        raise NotifyConfigError(f"{source}: base_url must not carry a user name or password")
    if parts.query or parts.fragment:
        raise NotifyConfigError(
            f"{source}: base_url = {url!r} must not have a ?query or #fragment; "
            "put the view in each entry's view"
        )
    try:
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise NotifyConfigError(f"{source}: base_url = {url!r} has a bad port") from None
    return url.rstrip("/")


def _view(raw: Any, where: str, base_url: str) -> tuple[str, str, dict[str, list[str]]]:
    """(view after base_url, page path, query params) of a view string."""
    text = _string(raw, where, "view")
    parts = urlsplit(text)
    if parts.fragment:
        raise NotifyConfigError(f"{where}: view = {text!r} must not have a #fragment")
    path = parts.path
    if parts.scheme or parts.netloc:
        base = urlsplit(base_url)
        same_host = (
            parts.scheme.lower() == base.scheme.lower()
            and parts.netloc.lower() == base.netloc.lower()
        )
        prefix = base.path.rstrip("/")
        if not same_host or not (path == prefix or path.startswith(prefix + "/")):
            raise NotifyConfigError(
                f"{where}: view = {text!r} is not on base_url {base_url!r}; give the path and "
                "query of a dashboard view, e.g. /overview?period=lq"
            )
        path = path[len(prefix):]
    elif path and not path.startswith("/"):
        raise NotifyConfigError(
            f"{where}: view = {text!r} must start with / (a dashboard path and query, "
            "e.g. /overview?period=lq)"
        )
    params = parse_qs(parts.query, keep_blank_values=True)
    problem = view_problem(path, params)
    if problem:
        raise NotifyConfigError(f"{where}: view = {text!r}: {problem}")
    return path + (f"?{parts.query}" if parts.query else ""), path, params


def _recipients(
    raw: Any, where: str, policy: AccessPolicy | None, *, may_be_empty: bool
) -> tuple[str, ...]:
    if not isinstance(raw, list) or not (raw or may_be_empty):
        raise NotifyConfigError(
            f"{where}: to must be a non-empty list of e-mail addresses, not {raw!r}"
        )
    out: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not _EMAIL.fullmatch(item.strip()):
            raise NotifyConfigError(f"{where}: to: {item!r} is not an e-mail address")
        email = item.strip().lower()
        if policy is None:
            raise NotifyConfigError(
                f"{where}: to: {email} cannot be checked: there is no access file "
                "(CX_ACCESS_FILE), and only people it grants access may receive the data"
            )
        if policy.grant_for(email) is None:
            raise NotifyConfigError(
                f"{where}: to: {email} is not granted access by {policy.source}; "
                "add them there first"
            )
        if email not in out:
            out.append(email)
    return tuple(out)


def _entries(data: dict[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    raw = data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise NotifyConfigError(
            f"{source}: {key} must be a list of [[{key}]] tables, not {type(raw).__name__}"
        )
    return raw


def _where(source: str, kind: str, index: int, entry: dict[str, Any]) -> str:
    name = entry.get("name")
    label = f' "{name}"' if isinstance(name, str) and _ENTRY_NAME.fullmatch(name) else ""
    return f"{source}: {kind}[{index}]{label}"


def _name(entry: dict[str, Any], where: str, seen: dict[str, int], kind: str) -> str:
    if "name" not in entry:
        raise NotifyConfigError(f"{where}: name is missing")
    name = entry["name"]
    if not isinstance(name, str) or not _ENTRY_NAME.fullmatch(name):
        raise NotifyConfigError(
            f"{where}: name = {name!r} must be 1–60 characters of a-z, 0-9, - and _"
        )
    if name in seen:
        raise NotifyConfigError(
            f"{where}: name {name!r} is already used by {kind}[{seen[name]}]; names must be unique"
        )
    return name


def _required(entry: dict[str, Any], where: str, *keys: str) -> None:
    for key in keys:
        if key not in entry:
            raise NotifyConfigError(f"{where}: {key} is missing")


def _subscription(
    entry: dict[str, Any], where: str, name: str, policy: AccessPolicy | None, base_url: str
) -> Subscription:
    _known_keys(entry, _SUB_KEYS, where)
    _required(entry, where, "to", "view", "every")
    every = _choice(entry["every"], where, "every", EVERY)
    if "weekday" in entry and every != "weekly":
        raise NotifyConfigError(f'{where}: weekday applies only to every = "weekly"')
    if "day" in entry and every != "monthly":
        raise NotifyConfigError(f'{where}: day applies only to every = "monthly"')
    view, page_path, params = _view(entry["view"], where, base_url)
    return Subscription(
        name=name,
        to=_recipients(entry["to"], where, policy, may_be_empty=False),
        view=view,
        page_path=page_path,
        params=params,
        every=every,
        weekday=_choice(entry.get("weekday", "monday"), where, "weekday", WEEKDAYS),
        day=_integer(entry.get("day", 1), where, "day", 1, 28),
        format=_choice(entry.get("format", "html"), where, "format", FORMATS),
    )


def _alert(
    entry: dict[str, Any], where: str, name: str, policy: AccessPolicy | None, base_url: str
) -> AlertRule:
    _known_keys(entry, _ALERT_KEYS, where)
    _required(entry, where, "kind")
    kind = _choice(entry["kind"], where, "kind", ALERT_KINDS)
    allowed = _COMMON_ALERT_KEYS + _KIND_KEYS[kind]
    for key in entry:
        if key not in allowed:
            raise NotifyConfigError(
                f"{where}: {key} does not apply to kind = {kind!r}; its keys: {', '.join(allowed)}"
            )
    webhook_env = None
    if "webhook_env" in entry:
        webhook_env = entry["webhook_env"]
        if not isinstance(webhook_env, str) or not _ENV_NAME.fullmatch(webhook_env):
            raise NotifyConfigError(
                f"{where}: webhook_env = {webhook_env!r} must be the name of an environment "
                "variable holding the webhook URL (the URL itself never goes in the file)"
            )
    webhook_as = None
    if webhook_env is not None or "webhook_as" in entry:
        # A channel has no reader of its own: its messages are computed under a named
        # reader's restriction, never under everything (fail closed).
        if webhook_env is None:
            raise NotifyConfigError(f"{where}: webhook_as is set but webhook_env is not")
        _required(entry, where, "webhook_as")
        webhook_as = _recipients([entry["webhook_as"]], where, policy, may_be_empty=False)[0]
    to = _recipients(entry.get("to", []), where, policy, may_be_empty=True)
    if not to and webhook_env is None:
        raise NotifyConfigError(
            f"{where}: to is missing or empty, and there is no webhook_env: nobody would be told"
        )
    view, page_path, params = _view(entry["view"], where, base_url) if "view" in entry else (
        "", "", {}
    )
    by = None
    if "by" in entry:
        by = entry["by"]
        if not isinstance(by, str) or not _DIMENSION.fullmatch(by):
            raise NotifyConfigError(f"{where}: by = {by!r} is not a dimension name")
    metric = None
    if kind in ("kpi_change", "metric_target"):
        _required(entry, where, "metric")
        metric = _string(entry["metric"], where, "metric")
        if kind == "kpi_change" and metric not in METRICS:
            raise NotifyConfigError(
                f"{where}: metric = {metric!r} is not a survey metric"
                f"{did_you_mean(metric, tuple(METRICS))}; allowed: {', '.join(METRICS)}"
            )
    threshold = None
    if kind != "metric_target":
        _required(entry, where, "threshold")
        # Percentages and % points cannot exceed 100; a KPI change has the metric's unit.
        threshold = _number(
            entry["threshold"], where, "threshold", None if kind == "kpi_change" else 100.0
        )
    if kind == "theme_share":
        _required(entry, where, "theme")
    return AlertRule(
        name=name,
        kind=kind,
        to=to,
        webhook_env=webhook_env,
        webhook_as=webhook_as,
        view=view,
        page_path=page_path,
        params=params,
        by=by,
        metric=metric,
        threshold=threshold,
        period_days=_integer(entry.get("period_days", 7), where, "period_days", 1, 366),
        baseline_days=_integer(entry.get("baseline_days", 90), where, "baseline_days", 7, 730),
        min_n=_integer(entry.get("min_n", 100), where, "min_n", 1, None),
        touchpoint=(
            _string(entry["touchpoint"], where, "touchpoint") if "touchpoint" in entry else None
        ),
        theme=_string(entry["theme"], where, "theme") if "theme" in entry else None,
    )


# --- parsing -------------------------------------------------------------------------------


def parse_config(
    text: str, policy: AccessPolicy | None, source: str = "subscriptions file"
) -> NotifyConfig:
    """A NotifyConfig from TOML text. `policy` is the access file (None: there is none, so
    no entry may have e-mail recipients). Any mistake raises NotifyConfigError naming
    `source`, the entry and the key; nothing partial is returned."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NotifyConfigError(f"{source}: not valid TOML: {exc}") from None
    _known_keys(data, _TOP_KEYS, source)
    raw_subs = _entries(data, "subscription", source)
    raw_alerts = _entries(data, "alert", source)
    base_url = ""
    if "base_url" in data:
        base_url = _base_url(data["base_url"], source)
    elif raw_subs or raw_alerts:
        raise NotifyConfigError(
            f"{source}: base_url is missing (the address the links in messages open, "
            'e.g. base_url = "https://cx.example.com")'
        )
    subs: list[Subscription] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw_subs, start=1):
        where = _where(source, "subscription", index, entry)
        name = _name(entry, where, seen, "subscription")
        seen[name] = index
        subs.append(_subscription(entry, where, name, policy, base_url))
    alerts: list[AlertRule] = []
    seen = {}
    for index, entry in enumerate(raw_alerts, start=1):
        where = _where(source, "alert", index, entry)
        name = _name(entry, where, seen, "alert")
        seen[name] = index
        alerts.append(_alert(entry, where, name, policy, base_url))
    return NotifyConfig(base_url, tuple(subs), tuple(alerts), source)


def validate_text(text: str, policy: AccessPolicy | None) -> list[str]:
    """[] when `text` is a valid subscriptions file under `policy`, else [the one error
    message] (for the admin editor on the Data page)."""
    try:
        parse_config(text, policy)
    except NotifyConfigError as exc:
        return [str(exc)]
    return []


_FROM_ENV: Any = object()


def load_config(
    path: Path | None = None, policy: AccessPolicy | None = _FROM_ENV
) -> NotifyConfig | None:
    """The subscriptions file at `path` / $CX_SUBSCRIPTIONS_FILE, or None when neither is
    set. `policy` defaults to the access file of $CX_ACCESS_FILE (load_policy; pass None to
    say there is none). NotifyConfigError when the file cannot be read or has any mistake;
    AccessConfigError when the access file does."""
    if path is None:
        raw = os.environ.get(SUBSCRIPTIONS_ENV, "").strip()
        if not raw:
            return None
        path = Path(raw)
    if policy is _FROM_ENV:
        policy = load_policy()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise NotifyConfigError(
            f"cannot read subscriptions file {path}: {reason}",
            web=f"{SUBSCRIPTIONS_ENV}: the file cannot be read ({reason})",
        ) from None
    return parse_config(text, policy, f"subscriptions file {path}")
