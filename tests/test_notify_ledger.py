"""The send ledger (cxdata.notify.ledger): one send per key, across crashes and processes."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cxdata.notify import send
from cxdata.notify.ledger import claim, ledger_path, records, sent_keys, settle

T0 = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)
META = {"recipient": "ola@example.com", "subject": "CX weekly", "kind": "subscription",
        "name": "norway-weekly"}
KEY = "sub:norway-weekly:2026-W49:ola@example.com"


def test_claim_twice_wins_once_and_sent_is_final(tmp_path: Path) -> None:
    assert claim(tmp_path, KEY, META, now=T0) is True
    assert claim(tmp_path, KEY, META, now=T0 + dt.timedelta(minutes=5)) is False
    assert sent_keys(tmp_path) == set()
    settle(tmp_path, KEY, True, "250 OK", now=T0 + dt.timedelta(minutes=1))
    assert sent_keys(tmp_path) == {KEY}
    # A sent key is never claimed again, not even days later.
    assert claim(tmp_path, KEY, META, now=T0 + dt.timedelta(days=3)) is False
    recs = records(tmp_path)
    assert [r["status"] for r in recs] == ["claimed", "sent"]
    assert recs[0] == {"key": KEY, "status": "claimed", "at": T0.isoformat(), "meta": META}
    # The result carries the claim's meta, for the log view.
    assert recs[1]["meta"] == META and recs[1]["detail"] == "250 OK"
    assert recs[1]["at"] == "2026-11-30T06:01:00+00:00"
    # Another key is independent.
    assert claim(tmp_path, KEY + "x", META, now=T0) is True


def test_failed_key_can_be_claimed_again(tmp_path: Path) -> None:
    assert claim(tmp_path, KEY, META, now=T0)
    settle(tmp_path, KEY, False, "SMTP 421", now=T0)
    assert sent_keys(tmp_path) == set()
    assert claim(tmp_path, KEY, META, now=T0 + dt.timedelta(minutes=1)) is True
    assert claim(tmp_path, KEY, META, now=T0 + dt.timedelta(minutes=2)) is False
    settle(tmp_path, KEY, True, now=T0 + dt.timedelta(minutes=3))
    assert [r["status"] for r in records(tmp_path)] == ["claimed", "failed", "claimed", "sent"]
    assert records(tmp_path)[1]["detail"] == "SMTP 421"
    assert sent_keys(tmp_path) == {KEY}


def test_stale_claim_counts_as_failed(tmp_path: Path) -> None:
    assert claim(tmp_path, KEY, META, now=T0)
    # Within the hour the claim is live (the sender may still be at work)…
    assert claim(tmp_path, KEY, META, now=T0 + dt.timedelta(minutes=59)) is False
    assert claim(tmp_path, KEY, META, now=T0 + dt.timedelta(hours=1)) is False
    # …after it, the run is taken to have crashed and the key is claimed again, once.
    later = T0 + dt.timedelta(hours=1, seconds=1)
    assert claim(tmp_path, KEY, META, now=later) is True
    assert claim(tmp_path, KEY, META, now=later) is False
    assert [r["at"] for r in records(tmp_path)] == [T0.isoformat(), later.isoformat()]


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    assert claim(tmp_path, "a", META, now=T0)
    settle(tmp_path, "a", True, now=T0)
    path = ledger_path(tmp_path)
    assert path == tmp_path / "notify" / "sent.jsonl"
    # A crash mid-write: half a record, no newline.
    whole = json.dumps({"key": "b", "status": "sent", "at": T0.isoformat(), "meta": {}})
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(whole[:25])
    assert [r["key"] for r in records(tmp_path)] == ["a", "a"]
    assert sent_keys(tmp_path) == {"a"}
    # The next record starts on its own line and is read back whole.
    assert claim(tmp_path, "b", META, now=T0) is True
    settle(tmp_path, "b", True, now=T0)
    assert [(r["key"], r["status"]) for r in records(tmp_path)] == [
        ("a", "claimed"), ("a", "sent"), ("b", "claimed"), ("b", "sent")
    ]
    assert sent_keys(tmp_path) == {"a", "b"}
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[2] == whole[:25] and lines[-1] == ""
    # Cut inside a multi-byte character: not UTF-8 on its own, still skipped.
    with open(path, "ab") as handle:
        handle.write('{"key": "ø'.encode()[:-1])
    assert len(records(tmp_path)) == 4


def test_no_ledger_yet(tmp_path: Path) -> None:
    assert records(tmp_path) == [] and sent_keys(tmp_path) == set()
    assert not (tmp_path / "notify").exists()  # reading creates nothing


def _claim_all(folder: str, keys: list[str], start: Any, out: Any) -> None:
    start.wait()
    out.put([k for k in keys if claim(folder, k, {"pid": multiprocessing.current_process().name})])


def test_two_processes_claim_each_key_exactly_once(tmp_path: Path) -> None:
    keys = [f"alert:nps-drop:{i}" for i in range(50)]
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    # The same order, released together: the two race for every key at once.
    procs = [
        ctx.Process(target=_claim_all, args=(str(tmp_path), keys, start, out), name=name)
        for name in ("p1", "p2")
    ]
    for proc in procs:
        proc.start()
    start.set()
    won = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    assert len(won[0]) + len(won[1]) == 50
    assert set(won[0]) | set(won[1]) == set(keys)
    assert not set(won[0]) & set(won[1])
    recs = records(tmp_path)
    assert len(recs) == 50 and {r["key"] for r in recs} == set(keys)
    assert all(r["status"] == "claimed" for r in recs)


def test_alert_state_updates_at_once_all_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send run and an import's alerts may update different rules' alert state at the
    same moment; each rewrites the whole file, so without the lock one loses the other's."""
    read = send._load_state

    def slow_read(folder: Path) -> dict[str, list[str]]:
        state = read(folder)
        time.sleep(0.02)  # widen the read-modify-write window
        return state

    monkeypatch.setattr(send, "_load_state", slow_read)
    keys = [f"rule {i}\treader{i}@example.com" for i in range(8)]
    threads = [
        threading.Thread(target=send._save_state, args=(tmp_path, key, [f"scope {key}"]))
        for key in keys
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read(tmp_path) == {key: [f"scope {key}"] for key in keys}
