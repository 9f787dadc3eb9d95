"""The charts a page drew through ``ui.chart``, read from an AppTest run.

``ui.chart`` mounts a ``st.components.v2`` component, which AppTest shows as an unknown
``bidi_component`` element: its data (the figure JSON, the config, whether points are
selectable) is in the element's proto as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ui.charts import COMPONENT


@dataclass(frozen=True)
class DrawnChart:
    key: str | None  # the key given to ui.chart
    spec: str  # the figure as JSON (what plotly.js draws)
    config: dict[str, Any]
    selectable: bool  # ui.chart(..., on_select=True): a click selects points and reruns
    element: Any = field(default=None, compare=False, repr=False)  # the AppTest element (its place on the page)

    @property
    def figure(self) -> dict[str, Any]:
        return json.loads(self.spec)


def drawn_charts(at: Any) -> list[DrawnChart]:
    """Every chart of the page, in page order (the bundle preload, which draws nothing, left out)."""
    charts = []
    for element in at.get("bidi_component"):
        if element.proto.component_name != COMPONENT:
            continue
        data = json.loads(element.proto.json)
        if data.get("figure"):
            charts.append(DrawnChart(element.key, data["figure"], data.get("config") or {}, bool(data.get("select")),
                                      element))
    return charts
