"""The one way a page draws a chart: :func:`chart` (issue 12 item 2).

Streamlit's own ``st.plotly_chart`` loads its 4.7 MB Plotly chunk (every trace type, WebGL and
maps included) only when the first chart arrives, and evaluating it held the main thread for
0.7 s on a first visit. The pages draw scatter, bar and one heatmap, so :func:`chart` draws
with the vendored plotly.js cartesian bundle (``ui/plotly_bundle/``, 1.5 MB, plotly.js 4.1.1,
MIT licence beside it) in a ``st.components.v2`` component mounted in the page itself (no
iframe, no shadow root: the chart is an ordinary ``.js-plotly-plot`` div). A figure with a
trace type outside that bundle (``scattergl``, for large scatters) is drawn by the full
plotly.js that ships inside the Python plotly package. The bundles are served by Streamlit's
component file route (``declare_component(path=...)``), cached by the browser.

Behaviour kept from ``st.plotly_chart``: hover, zoom and pan, the modebar (download as PNG),
the figure's config, the width of the column (follows resizes), and with ``on_select`` a click
on points selects them and returns them to Python, as
``{"selection": {"points": [{"customdata": ..., "curve_number": ..., "point_index": ..., "x": ...,
"y": ...}, ...], ...}}`` (what ``analytics.drill_down`` reads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components_v1

BUNDLE_DIR = Path(__file__).with_name("plotly_bundle")
#: The vendored partial bundle (plotly.js-cartesian-dist-min on the npm registry).
PLOTLY_VERSION = "4.1.1"
PARTIAL_BUNDLE = "plotly-cartesian.min.js"
FULL_BUNDLE = "plotly.min.js"  # in the Python plotly package's package_data
# Streamlit serves a declared component's folder at component/<module>.<name>/ (relative to
# the app's base URL, which the page's own URL shares).
_PARTIAL_NAME = "plotly_bundle"
_FULL_NAME = "plotly_full"
PARTIAL_URL = f"component/{__name__}.{_PARTIAL_NAME}/{PARTIAL_BUNDLE}"
FULL_URL = f"component/{__name__}.{_FULL_NAME}/{FULL_BUNDLE}"
COMPONENT = "between_sessions_plotly_chart"


def _full_bundle_dir() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data"


def _component_js() -> str:
    js = (BUNDLE_DIR / "chart.js").read_text(encoding="utf-8")
    return js.replace("__BUNDLE_PARTIAL__", PARTIAL_URL).replace("__BUNDLE_FULL__", FULL_URL)


_render = st.components.v2.component(COMPONENT, js=_component_js(), isolate_styles=False)


def _serve_bundles() -> None:
    """Register the two bundle folders with the running server (a registration lives in the
    runtime, and AppTest makes a new runtime per test: cheap, so done on every call)."""
    components_v1.declare_component(_PARTIAL_NAME, path=str(BUNDLE_DIR))
    components_v1.declare_component(_FULL_NAME, path=str(_full_bundle_dir()))


def figure_json(fig: Any) -> str:
    import plotly.io as pio

    return pio.to_json(fig, validate=False)


def chart(fig: Any, *, key: str, config: dict[str, Any] | None = None, on_select: bool = False) -> dict[str, Any]:
    """Draw ``fig`` (a plotly Figure) across its column. ``key`` names the chart on the page
    (the element gets the class ``st-key-<key>``). ``on_select``: clicks select points and
    rerun the page; returns the selection (``{"selection": {"points": [...]}}``, empty before
    any click), else ``{}``."""
    _serve_bundles()
    data = {"figure": figure_json(fig), "config": {"displaylogo": False, **(config or {})}, "select": on_select}
    if not on_select:
        _render(key=key, data=data)
        return {}
    result = _render(key=key, data=data, default={"selection": None}, on_selection_change=lambda: None)
    return result.get("selection") or {"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}}


def preload() -> None:
    """Start fetching and evaluating the chart bundle now (a page about to draw charts calls
    it first, so plotly.js loads while the page's queries run). Draws nothing."""
    _serve_bundles()
    _render(key="plotly_preload", data={"preload": True}, height=0)
