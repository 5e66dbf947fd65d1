"""A Plotly figure handed over as its finished spec, for charts drawn on every rerun.

st.plotly_chart reads a figure only through `to_dict()` (plotly.tools.
return_figure_from_figure_or_data); given a plain dict it validates it by building a
go.Figure, which for a small chart costs about three times the drawing itself. A
SpecFigure is a go.Figure whose `to_dict()` returns what `go.Figure(spec).to_dict()` would
— the default template added, numeric arrays packed as Plotly's typed arrays — without
building Plotly's objects: the spec is written once as JSON and every call returns a fresh
copy of it. It is meant only to be drawn; `built()` gives a real go.Figure to inspect.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from _plotly_utils.utils import convert_to_base64

# The default template as go.Figure adds it, by template name: Streamlit switches the
# default to its own when its Plotly theme is loaded, so it is looked up per drawing.
_TEMPLATES: dict[object, str] = {}


def _default_template() -> dict[str, Any]:
    """The layout.template go.Figure() puts into a figure without one, as a fresh dict."""
    name = pio.templates.default
    text = _TEMPLATES.get(name)
    if text is None:
        text = _TEMPLATES[name] = json.dumps(go.Figure().to_dict()["layout"].get("template", {}))
    return json.loads(text)


class SpecFigure(go.Figure):
    """A figure given as {"data": [trace dicts], "layout": {...}}, never changed after.

    The spec must be valid as Plotly would validate it (plain property names, no
    magic underscores); tests compare `to_dict()` with go.Figure(spec).to_dict()."""

    def __init__(self, spec: dict[str, Any]) -> None:  # pylint: disable=super-init-not-called
        # go.Figure.__init__ is skipped on purpose: it validates every property, which is
        # the cost this class exists to avoid. Only to_dict (and built) may be used.
        self._spec = spec
        self._spec_json: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The figure as go.Figure(spec).to_dict() gives it, as a new dict (the caller may
        change it); written as JSON on the first call."""
        if self._spec_json is None:
            data = [dict(trace) for trace in self._spec.get("data", [])]
            layout = dict(self._spec.get("layout", {}))
            if "template" not in layout:
                layout["template"] = _default_template()
            out = {"data": data, "layout": layout}
            convert_to_base64(out)
            self._spec_json = pio.to_json(out, validate=False)
        return json.loads(self._spec_json)

    def built(self) -> go.Figure:
        """The same figure as Plotly objects (validated), to read traces in tests."""
        return go.Figure(self.to_dict())

    def __repr__(self) -> str:
        return f"SpecFigure({len(self._spec.get('data', []))} traces)"
