"""Saved mappings ("profiles"), kept as JSON in <data dir>/mappings: saved by name, found
again for a file with the same headers."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from cxdata.importing.errors import MappingError
from cxdata.importing.mapping import Mapping

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


def profiles_dir(data_dir: str | Path) -> Path:
    """Where named mappings live: <data dir>/mappings."""
    return Path(data_dir) / "mappings"


def _profile_path(name: str, data_dir: str | Path) -> Path:
    if not PROFILE_NAME.match(name):
        raise MappingError(
            f"invalid profile name {name!r} (letters, digits, space, _ . -; at most 64)"
        )
    return profiles_dir(data_dir) / f"{name}.json"


def save_profile(mapping: Mapping, name: str, data_dir: str | Path) -> Path:
    """Save `mapping` as the profile `name` (replacing one of that name); returns its path."""
    path = _profile_path(name, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
    ) as tmp:
        tmp.write(mapping.to_json() + "\n")
    os.replace(tmp.name, path)
    return path


def load_profile(name: str, data_dir: str | Path) -> Mapping:
    """The saved profile `name`."""
    path = _profile_path(name, data_dir)
    if not path.is_file():
        known = profile_names(data_dir)
        raise MappingError(
            f"no mapping profile {name!r} in {profiles_dir(data_dir)}; "
            f"saved: {', '.join(known) or 'none'}"
        )
    return replace(Mapping.from_file(path), profile=name)


def profile_names(data_dir: str | Path) -> list[str]:
    """Names of the saved profiles, sorted."""
    folder = profiles_dir(data_dir)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def matching_profile(
    headers: list[str], data_dir: str | Path, dataset: str | None = None
) -> Mapping | None:
    """The most recently saved profile made for a file with exactly these headers."""
    folder = profiles_dir(data_dir)
    if not folder.is_dir():
        return None
    wanted = set(headers)
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            mapping = Mapping.from_file(path)
        except MappingError:
            continue
        if set(mapping.headers) == wanted and dataset in (None, mapping.dataset):
            return replace(mapping, profile=path.stem)
    return None
