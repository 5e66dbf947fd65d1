"""pages/_shared/exports.py against the pinned Streamlit's media file manager: the id it
predicts is the id Streamlit stores a deferred download under, and `forget` deletes exactly
that file. An upgrade that changes either fails here, not silently in production (where
the export links would stay served)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from pages._shared import exports


def manager() -> tuple[MediaFileManager, MemoryMediaFileStorage]:
    storage = MemoryMediaFileStorage("/media")
    return MediaFileManager(storage), storage


def test_the_predicted_id_is_the_stored_one_and_forget_deletes_it() -> None:
    mgr, storage = manager()
    body = "comment\n'=1+1\n"
    make = exports.short_lived(lambda: body, "text/csv", "comments.csv", seconds=3600)
    placeholder = mgr.add_deferred(make, "text/csv", "1.2", file_name="comments.csv")
    url = mgr.execute_deferred(placeholder)
    file_id = exports.media_file_id(body.encode(), "text/csv", "comments.csv")
    assert url == f"/media/{file_id}.csv"
    assert storage.get_file(f"{file_id}.csv").content == body.encode()
    other = mgr.add(b"kept", "text/csv", "1.3", file_name="other.csv", is_for_static_download=True)

    assert exports.forget(mgr, file_id)
    with pytest.raises(MediaFileStorageError):
        storage.get_file(f"{file_id}.csv")
    assert storage.get_file(other.rsplit("/", 1)[-1]).content == b"kept"
    mgr.remove_orphaned_files()  # Streamlit's own cleanup still works afterwards
    mgr.remove_orphaned_files()


def test_a_file_a_session_shows_is_not_deleted() -> None:
    mgr, storage = manager()
    url = mgr.add(b"a,b\n", "text/csv", "1.4", file_name="t.csv", is_for_static_download=True)
    file_id = exports.media_file_id(b"a,b\n", "text/csv", "t.csv")
    assert url == f"/media/{file_id}.csv"
    assert not exports.forget(mgr, file_id)
    assert storage.get_file(f"{file_id}.csv").content == b"a,b\n"


def test_the_link_expires_after_its_seconds_and_a_newer_click_extends_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import streamlit.runtime as rt

    forgotten: list[str] = []
    done = threading.Event()

    def forget(_manager: Any, file_id: str) -> bool:
        forgotten.append(file_id)
        done.set()
        return True

    monkeypatch.setattr(rt, "exists", lambda: True)
    monkeypatch.setattr(rt, "get_instance", lambda: type("R", (), {"media_file_mgr": None}))
    monkeypatch.setattr(exports, "forget", forget)
    exports.expire_later("abc", 0.05)
    exports.expire_later("abc", 0.3)  # the same bytes made again: the newer link counts
    assert not done.wait(0.2)
    assert done.wait(5)
    assert forgotten == ["abc"]
