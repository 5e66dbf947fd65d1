"""Send what is due: digests of the subscriptions whose period has come, and alerts.

`send_due(store, config, policy, …)` is what `python -m cxdata send --due` runs (from
cron, a systemd timer or a Kubernetes CronJob; README "Subscriptions and alerts") and
what an import runs for the alerts (`alerts_after_import`). For every recipient:

1. the recipient's grant comes from the access file (no grant: nothing is sent), and the
   Store is narrowed to it (Grant.scoped) — every number is computed under the reader's
   own restriction, min n applied after it; a webhook channel is computed under its
   rule's `webhook_as` reader;
2. the ledger (cxdata.notify.ledger) is claimed for the key before anything is sent, so a
   second run — or two at once — sends nothing twice; the result is settled after;
3. a digest whose view is empty or wholly withheld for the reader is not sent ("skipped");
4. an alert finding is sent once while it holds: the per-reader alert state
   (`<data dir>/notify/alert_state.json`) remembers which rule × scope held at the last
   evaluation; a finding that already held is not sent again, one that cleared re-arms.

`dry_run` (a folder) writes every e-mail as an .eml file there (webhook bodies as .json)
and claims nothing: a dry run never stops the real one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from cxdata.access import AccessPolicy, Grant
from cxdata.config import Thresholds
from cxdata.errors import CxError
from cxdata.importing.datasets import data_dir_of
from cxdata.notify import ledger, mail, webhook
from cxdata.notify.alerts import Finding, evaluate
from cxdata.notify.config import AlertRule, NotifyConfig, Subscription
from cxdata.notify.digest import view_digest
from cxdata.notify.render import ChartRenderer, Rendered, render_alert, render_digest
from cxdata.notify.schedule import period_key
from cxdata.store import Store
from cxdata.targets import Targets

STATE_FILE = "alert_state.json"
STATE_LOCK = "alert_state.lock"
DryRun = Path | None
PdfMaker = Callable[[Rendered], bytes]


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: `status` sent | failed | skipped | dry-run;
    `detail` says why (the SMTP error, "nothing to send: …", the .eml path)."""

    key: str
    kind: str  # "digest" | "alert"
    recipient: str
    subject: str
    status: str
    detail: str = ""


def scope_words(grant: Grant) -> str:
    """What a reader may see, in words ("country = Norway; metrics: country = Norway";
    "" when everything): a dataset's own restriction keeps its dataset's name."""
    return "; ".join(f"{k.replace(':', ': ')} = {', '.join(v)}" for k, v in grant.restrict)


@dataclass
class _Pending:
    key: str
    kind: str
    recipient: str
    message: EmailMessage | None = None  # an e-mail, or
    webhook: tuple[str, dict[str, Any]] | None = None  # (url, payload)
    on_sent: Callable[[], None] | None = None
    also: Sequence[str] = ()  # further ledger keys the same message settles
    subject: str = ""  # a webhook's, as the log shows it (its body is escaped for Slack)


class _Run:
    """One send run: the ledger folder, the transport and the outcomes so far."""

    def __init__(self, store: Store, settings: mail.SmtpSettings | None, dry_run: DryRun) -> None:
        self.folder = data_dir_of(store)
        self.settings = settings
        self.dry_run = dry_run
        self.outcomes: list[Outcome] = []
        self.pending: list[_Pending] = []

    def claim(self, key: str, kind: str, recipient: str, name: str) -> bool:
        """Whether this run may send `key` (dry run: whenever it was not sent yet)."""
        if self.dry_run is not None:
            return key not in ledger.sent_keys(self.folder)
        meta = {"kind": kind, "recipient": recipient, "name": name}
        return ledger.claim(self.folder, key, meta)

    def done(self, p: _Pending | tuple[str, str, str], subject: str, status: str,
             detail: str = "") -> None:
        key, kind, recipient = (p.key, p.kind, p.recipient) if isinstance(p, _Pending) else p
        keys = [key, *(p.also if isinstance(p, _Pending) else ())]
        if self.dry_run is None and status != "dry-run":
            for k in keys:
                ledger.settle(self.folder, k, status == "sent", detail,
                              skipped=status == "skipped")
        self.outcomes.append(Outcome(key, kind, recipient, subject, status, detail))

    def email(self, key: str, kind: str, to: str, r: Rendered,
              attachments: Sequence[tuple[str, str, bytes]] = (),
              on_sent: Callable[[], None] | None = None, also: Sequence[str] = ()) -> None:
        sender = self.settings.sender if self.settings else "cx-dashboard@localhost"
        msg = mail.build_message(sender, to, r.subject, r.html, r.text, r.images, attachments)
        self.pending.append(_Pending(key, kind, to, message=msg, on_sent=on_sent, also=also))

    def flush(self) -> None:
        """Send (or, in a dry run, write) everything pending; settle each in the ledger."""
        emails = [p for p in self.pending if p.message is not None]
        if self.dry_run is not None:
            for p in self.pending:
                path = (mail.write_eml(p.message, self.dry_run) if p.message is not None
                        else _write_json(self.dry_run, p))
                self.done(p, _subject(p), "dry-run", str(path))
        else:
            results = (mail.send_messages(self.settings, [p.message for p in emails])
                       if emails and self.settings else [])
            for p, res in zip(emails, results, strict=True):
                self._settled(p, res.ok, res.error or "")
            if emails and not self.settings:
                for p in emails:
                    self._settled(p, False, "no SMTP server configured (CX_SMTP_URL)")
            for p in (p for p in self.pending if p.webhook is not None):
                try:
                    webhook.post_json(*p.webhook)  # type: ignore[misc]
                    self._settled(p, True, "")
                except CxError as exc:
                    self._settled(p, False, str(exc))
        self.pending = []

    def _settled(self, p: _Pending, ok: bool, detail: str) -> None:
        self.done(p, _subject(p), "sent" if ok else "failed", detail)
        if ok and p.on_sent is not None:
            p.on_sent()


def _subject(p: _Pending) -> str:
    return str(p.message["Subject"]) if p.message is not None else p.subject


def _write_json(folder: Path, p: _Pending) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{len(list(folder.glob('*.json'))) + 1}-webhook-{p.key.split(':')[1]}.json"
    path.write_text(json.dumps((p.webhook or ("", {}))[1], ensure_ascii=False, indent=2))
    return path


# --- digests ---------------------------------------------------------------------------


def _digest_for(run: _Run, store: Store, sub: Subscription, email: str, period: str,
                grant: Grant | None, ctx: _Context) -> None:
    key = f"digest:{sub.name}:{period}:{email}"
    if not run.claim(key, "digest", email, sub.name):
        return
    if grant is None:
        run.done((key, "digest", email), "", "skipped", "no longer granted by the access file")
        return
    try:
        d = view_digest(grant.scoped(store), sub.page_path, sub.params, th=ctx.th,
                        targets=ctx.targets, base_url=ctx.base_url,
                        title=f"CX digest: {sub.name}", today=ctx.today)
    except CxError as exc:
        run.done((key, "digest", email), "", "failed", str(exc))
        return
    if d is None or not d.sendable:
        run.done((key, "digest", email), "", "skipped",
                 "nothing to send: the view is empty or withheld for this reader")
        return
    rendered = render_digest(d, ctx.th, ctx.renderer, kind=f"{sub.every.capitalize()} digest",
                             scope=scope_words(grant))
    attachments = []
    if sub.format == "html+pdf" and ctx.pdf is not None:
        attachments.append((f"{sub.name}-{period}.pdf", "application/pdf", ctx.pdf(rendered)))
    run.email(key, "digest", email, rendered, attachments)


@dataclass(frozen=True)
class _Context:
    th: Thresholds
    targets: Targets
    base_url: str
    today: dt.date
    renderer: ChartRenderer
    pdf: PdfMaker | None


# --- alerts ----------------------------------------------------------------------------


def _state_path(folder: Path) -> Path:
    return folder / ledger.LEDGER_DIR / STATE_FILE


def _load_state(folder: Path) -> dict[str, list[str]]:
    """rule\\treader → the scopes that held at the last evaluation ({} when unreadable)."""
    try:
        data = json.loads(_state_path(folder).read_text())
        return {str(k): [str(s) for s in v] for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _save_state(folder: Path, key: str, scopes: Sequence[str]) -> None:
    """Store the scopes of one rule × reader (atomic: temp file, then rename), under a
    lock: a send run and an import's alerts may update other keys of the file at once,
    and each rewrites the whole file from what it read."""
    with ledger.locked(folder, STATE_LOCK, STATE_FILE) as path:
        state = _load_state(folder)
        state[key] = sorted(set(scopes))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
        with os.fdopen(fd, "w") as out:
            json.dump(state, out, ensure_ascii=False, indent=1)
        os.replace(tmp, path)


def _alert_for(run: _Run, store: Store, rule: AlertRule, reader: str, grant: Grant | None,
               ctx: _Context, hook: str | None) -> None:
    """Evaluate `rule` for one reader (an e-mail recipient, or the webhook's `webhook_as`
    when `hook` is its URL) and queue what is new."""
    if grant is None:
        return  # not granted (any more): nothing is evaluated or sent for them
    findings = evaluate(grant.scoped(store), rule, ctx.th, ctx.base_url, ctx.today)
    channel = "webhook" if hook else reader
    state_key = f"{rule.name}\t{channel}"
    held = set(_load_state(run.folder).get(state_key, []))
    holding = [f.scope for f in findings]
    new = [f for f in findings if f.scope not in held]
    if run.dry_run is None:  # what no longer holds re-arms now; new ones once sent
        _save_state(run.folder, state_key, [s for s in holding if s in held])
    claimed = []
    for f in new:
        key = f"alert:{rule.name}:{f.scope}:{f.period}:{channel}"
        if run.claim(key, "alert", channel, rule.name):
            claimed.append((key, f))
    if not claimed:
        return
    # one message per rule × reader, however many scopes are new (each keeps its own key)
    keys, found = [k for k, _ in claimed], [f for _, f in claimed]
    mark = _marker(run, state_key, found)
    rendered = render_alert(rule.name, found, scope_words(grant))
    if hook:
        lines = [f"{f.title}: {line}" for f in found for line in f.lines[:1]]
        payload = webhook.alert_payload(rendered.subject, [
            *lines, f"Computed under the access of {reader}"], found[0].link)
        run.pending.append(_Pending(keys[0], "alert", channel, webhook=(hook, payload),
                                    on_sent=mark, also=keys[1:], subject=rendered.subject))
    else:
        run.email(keys[0], "alert", reader, rendered, on_sent=mark, also=keys[1:])


def _marker(run: _Run, state_key: str, found: Sequence[Finding]) -> Callable[[], None]:
    """Mark `found` as holding once sent (a failed send re-tries next run)."""
    def mark() -> None:
        held = _load_state(run.folder).get(state_key, [])
        _save_state(run.folder, state_key, [*held, *(f.scope for f in found)])
    return mark


def _grant(policy: AccessPolicy | None, email: str) -> Grant | None:
    return policy.grant_for(email) if policy is not None else None


def send_due(
    store: Store,
    config: NotifyConfig,
    policy: AccessPolicy | None,
    *,
    th: Thresholds,
    targets: Targets,
    settings: mail.SmtpSettings | None,
    today: dt.date | None = None,
    dry_run: DryRun = None,
    digests: bool = True,
    alerts: bool = True,
    renderer: ChartRenderer | None = None,  # a running one (the caller's); else one is started
    pdf: PdfMaker | None = None,
    env: dict[str, str] | None = None,
) -> list[Outcome]:
    """Send the digests due `today` and the new alert findings (see the module docstring);
    `store` is the unrestricted store of the local process. Returns one Outcome per
    message considered. Raises nothing for a failed send (it is an Outcome and the ledger
    records it); CxError for a broken store."""
    env = dict(os.environ) if env is None else env
    run = _Run(store, settings, dry_run)
    day = today or dt.date.today()
    with nullcontext(renderer) if renderer is not None else ChartRenderer() as charts:
        ctx = _Context(th, targets, config.base_url, day, charts, pdf)
        if digests:
            for sub in config.subscriptions:
                period = period_key(sub, day)
                for email in sub.to if period else ():
                    _digest_for(run, store, sub, email, str(period), _grant(policy, email), ctx)
        if alerts:
            for rule in config.alerts:
                for email in rule.to:
                    _alert_for(run, store, rule, email, _grant(policy, email), ctx, None)
                hook = env.get(rule.webhook_env or "", "").strip()
                if rule.webhook_env and rule.webhook_as:
                    if not hook:  # counted as failed (not in the ledger): fix and rerun
                        run.outcomes.append(Outcome(
                            f"alert:{rule.name}:webhook", "alert", "webhook", "", "failed",
                            f"${rule.webhook_env} is not set, so the webhook was not called"))
                        continue
                    _alert_for(run, store, rule, rule.webhook_as,
                               _grant(policy, rule.webhook_as), ctx, hook)
        run.flush()
    return run.outcomes


def alerts_after_import(store: Store) -> list[str]:
    """Evaluate and send the alerts after an import (the rows are already stored, so a
    problem is a warning for the import's result, never a failed import). [] when no
    subscriptions file or no alert is configured."""
    from cxdata import config as settings  # the thresholds from the environment
    from cxdata.access import load_policy
    from cxdata.notify.config import load_config

    try:
        policy = load_policy()
        config = load_config(policy=policy)
        if config is None or not config.alerts:
            return []
        with ChartRenderer(enabled=False) as charts:  # alerts carry no charts
            outcomes = send_due(store, config, policy, th=settings.thresholds(),
                                targets=Targets(), settings=mail.smtp_settings(),
                                digests=False, renderer=charts)
    except CxError as exc:
        return [f"alerts were not evaluated: {exc}"]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        return [f"{len(failed)} alert message(s) could not be sent ({failed[0].detail}); "
                "`python -m cxdata send --due` tries again"]
    return []
