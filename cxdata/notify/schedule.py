"""When a subscription is due, and which window an alert looks at.

A subscription is due once per period — a day, an ISO week or a calendar month — from its
send day on: a weekly digest on Monday is due on Monday and, if the scheduled run was
missed (the server was down, cron skipped), still on Tuesday … Sunday of that ISO week;
a monthly digest on day 5 is due from the 5th to the month's end. The period key says
which period it is due for, and the send ledger (ledger.claim) keeps it to one send per
key, so the catch-up sends at most once and a later run in the same period sends nothing.
A period that ended without any run is not sent afterwards: the next period starts fresh.
"""

from __future__ import annotations

import datetime as dt

from cxdata.notify.config import WEEKDAYS, AlertRule, Subscription


def period_key(sub: Subscription, today: dt.date) -> str | None:
    """The period `sub` is due for on `today`, or None when it is not yet due in the
    current period.

    daily → "2026-11-30" (every day); weekly on weekday W → the ISO week "2026-W49" when
    today's weekday is W or later in that ISO week (the ISO year, which differs from the
    calendar year around New Year: 2027-01-01 is in "2026-W53"); monthly on day D →
    "2026-11" when today.day ≥ D.
    """
    if sub.every == "daily":
        return today.isoformat()
    if sub.every == "weekly":
        iso = today.isocalendar()
        if iso.weekday - 1 < WEEKDAYS.index(sub.weekday):
            return None
        return f"{iso.year}-W{iso.week:02d}"
    if sub.every == "monthly":
        if today.day < sub.day:
            return None
        return f"{today.year:04d}-{today.month:02d}"
    raise ValueError(f"unknown schedule every = {sub.every!r}")


def alert_period(rule: AlertRule, last_day: dt.date) -> str:
    """The window an alert evaluates, as "first..last" ISO dates, both included: the
    `rule.period_days` days ending on `last_day` (the data's last day), e.g.
    "2026-11-24..2026-11-30" for 7 days ending on 2026-11-30."""
    first = last_day - dt.timedelta(days=rule.period_days - 1)
    return f"{first.isoformat()}..{last_day.isoformat()}"
