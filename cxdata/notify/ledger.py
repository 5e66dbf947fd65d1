"""The send ledger: what was sent to whom, so that nothing is sent twice.

A JSON-lines file `<data_dir>/notify/sent.jsonl`, one record per line, newest last:

    {"key": "sub:norway-weekly:2026-W49:ola@example.com", "status": "claimed",
     "at": "2026-11-30T06:00:01.123456+00:00", "meta": {"recipient": "ola@example.com", ...}}

A sender first claims a key (`claim`), sends, then settles it (`settle`: "sent" or
"failed"). Every read-and-append runs under an fcntl lock on `<data_dir>/notify/
ledger.lock`, so of two processes claiming the same key exactly one wins. A key is
claimable when it has no "sent" record and no live claim: a claim without a result for
more than CLAIM_TTL (a run that crashed mid-send) counts as failed, and a failed key is
claimed again by the next run. Each record is flushed and fsynced; a line cut short by a
crash is skipped when read, and the next append starts on a fresh line.

The key is the caller's (the lead's send.py builds it from the rule or subscription, the
period and the recipient); the meta is free-form JSON (recipient, subject, kind, name).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LEDGER_DIR = "notify"
LEDGER_FILE = "sent.jsonl"
LOCK_FILE = "ledger.lock"
CLAIM_TTL = dt.timedelta(hours=1)

CLAIMED, SENT, FAILED = "claimed", "sent", "failed"
SKIPPED = "skipped"  # settled without sending (nothing to send): done, like SENT
DONE = frozenset({SENT, SKIPPED})

log = logging.getLogger(__name__)


def ledger_path(folder: str | Path) -> Path:
    """The ledger file of data directory `folder`."""
    return Path(folder) / LEDGER_DIR / LEDGER_FILE


@contextlib.contextmanager
def locked(folder: str | Path, lock: str = LOCK_FILE, name: str = LEDGER_FILE) -> Iterator[Path]:
    """Hold the exclusive fcntl lock `lock` in data directory `folder`'s notify folder
    (blocking: what it guards takes milliseconds) and yield the path of the file `name`
    there that it guards (default: the ledger). Every process and thread that opens the
    lock file waits for the others."""
    directory = Path(folder) / LEDGER_DIR
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / lock, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield directory / name
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # also UnicodeDecodeError: a line cut short by a crash
            log.warning("%s: line %d is not a complete record; skipped", path, number)
            continue
        if isinstance(record, dict) and isinstance(record.get("key"), str):
            out.append(record)
    return out


def _append(path: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record, ensure_ascii=False, default=str).encode() + b"\n"
    with open(path, "a+b") as handle:
        # A crash mid-write leaves a last line without its newline: start a fresh line so
        # this record is not glued to the broken one.
        if handle.seek(0, os.SEEK_END) > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = b"\n" + line
        handle.write(line)  # append mode: always at the end
        handle.flush()
        os.fsync(handle.fileno())


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def _claimable(records: list[dict[str, Any]], key: str, now: dt.datetime) -> bool:
    last: dict[str, Any] | None = None
    for record in records:
        if record["key"] != key:
            continue
        if record.get("status") in DONE:
            return False
        last = record
    if last is None or last.get("status") != CLAIMED:
        return True
    try:
        at = dt.datetime.fromisoformat(str(last.get("at")))
    except ValueError:
        return True  # an unreadable time cannot keep a key blocked forever
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return now - at > CLAIM_TTL


def claim(
    folder: str | Path, key: str, meta: dict[str, Any], *, now: dt.datetime | None = None
) -> bool:
    """Claim `key` for sending: True, with a "claimed" record appended, when the key has
    no "sent" record and no live claim (younger than CLAIM_TTL without a result); False
    otherwise. `folder` is the data directory; `meta` (JSON-able) is kept with the record;
    `now` (UTC, aware) is for tests. Safe across processes."""
    moment = _now(now)
    with locked(folder) as path:
        if not _claimable(_read(path), key, moment):
            return False
        _append(path, {"key": key, "status": CLAIMED, "at": moment.isoformat(), "meta": meta})
    return True


def settle(
    folder: str | Path,
    key: str,
    ok: bool,
    detail: str = "",
    *,
    skipped: bool = False,
    now: dt.datetime | None = None,
) -> None:
    """Record the result of sending `key`: "sent" (never sent again) when `ok`, else
    "failed" (claimable again by the next run); "skipped" when `skipped` (nothing was
    sent, on purpose — e.g. the reader's view is empty — and the key counts as done).
    `detail` is a short note (e.g. the SMTP error); the record carries the meta of the
    key's latest claim."""
    moment = _now(now)
    with locked(folder) as path:
        meta: dict[str, Any] = {}
        for record in _read(path):
            if record["key"] == key and record.get("status") == CLAIMED:
                meta = record.get("meta") or {}
        _append(
            path,
            {
                "key": key,
                "status": SKIPPED if skipped else SENT if ok else FAILED,
                "at": moment.isoformat(),
                "meta": meta,
                "detail": detail,
            },
        )


def sent_keys(folder: str | Path) -> set[str]:
    """Every key with a "sent" record."""
    return {r["key"] for r in records(folder) if r.get("status") == SENT}


def records(folder: str | Path) -> list[dict[str, Any]]:
    """Every readable record, oldest first (newest last): dicts with key, status
    (claimed | sent | failed), at (UTC ISO time), meta and, on a result, detail."""
    return _read(ledger_path(folder))
