"""The admins' score targets (cxdata.targets) for the tiles, and the admins' note when the
targets file is wrong (then no target is shown anywhere: fail closed)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from cxdata import fmt
from cxdata.errors import display_text
from cxdata.targets import TARGETS_ENV, Targets, TargetsError, load_targets, targets_path
from pages._shared.auth import effective_grant


@dataclass(frozen=True)
class TargetState:
    """The targets in force (none when the file is wrong) and the file's problem ("")."""

    targets: Targets
    problem: str = ""


@functools.lru_cache(maxsize=8)
def _read(path: Path | None, stamp: tuple[int, int]) -> TargetState:
    # Keyed on the file's mtime and size: an edited file is read again on the next run.
    try:
        return TargetState(load_targets(path))
    except TargetsError as exc:
        return TargetState(Targets(), display_text(exc))


def current() -> TargetState:
    """The targets of $CX_TARGETS_FILE as of now (re-read when the file changes)."""
    path = targets_path()
    try:
        info = path.stat() if path is not None else None
        stamp = (info.st_mtime_ns, info.st_size) if info is not None else (0, 0)
    except OSError:
        stamp = (-1, -1)  # missing: load_targets says so
    return _read(path, stamp)


def admin_note() -> None:
    """For admins only: why no targets are shown when the targets file is wrong (the
    file, key and problem; other people see tiles without targets and no file details)."""
    problem = current().problem
    grant = effective_grant()
    if problem and grant is not None and grant.role == "admin":
        st.warning(
            f"Score targets are not shown: {fmt.md_escape(problem)}. Fix the file named by "
            f"{TARGETS_ENV} (see the README); until then no tile shows a target.",
            icon=":material/flag:",
        )
