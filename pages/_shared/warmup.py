"""Import the app's modules once, one thread at a time, before any script run uses them.

Streamlit runs each session's script in its own thread. On a cold server, sessions that
start together (a restart with 20 open tabs) import cxdata, Ibis and Plotly at the same
moment; Ibis and our deferred imports have import cycles, and first imports of a cycle in
two threads deadlock or see a half-initialised module (`_DeadlockError`, "cannot import
name … from partially initialized module"), which fails those sessions' runs. Importing
this module first makes every other thread wait on its module lock until all is loaded.
"""

from __future__ import annotations

import importlib
import pkgutil

import cxdata
import pages._shared

_EXTERNAL = ("ibis", "ibis.backends.duckdb", "plotly.graph_objects", "plotly.express")


def _module_names() -> list[str]:
    """Every module the dashboard imports, in a fixed order."""
    names = list(_EXTERNAL)
    for package in (cxdata, pages._shared):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not info.name.endswith(("__main__", ".warmup")):
                names.append(info.name)
    return names


def import_all() -> list[str]:
    """Import every module of the dashboard; returns their names."""
    names = _module_names()
    for name in names:
        importlib.import_module(name)
    return names


IMPORTED: list[str] = import_all()  # at import: under this module's import lock
