"""One visual language in headless Chromium (issue 15 item 5): the same concept has the same colour
on every page.

The traces Plotly actually drew are read from the page (each ``.js-plotly-plot`` div's
``_fullData``, after Plotly and Streamlit applied their templates), on the client review, the
cohort outcomes page (its lead, trajectories, compliance and assignment-design tabs) and the
quality-improvement trends. Each trace says what it draws in ``meta`` ({"concept": ...}, set by
the chart builders in analytics/*/charts.py); the colours are compared with analytics.theme.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from analytics import ClinicDatabase, theme
from tests.support.browser import (
    assert_no_errors,
    open_page,
    rerun,
    screenshot,
    wait_charts_settled,
)

pytestmark = pytest.mark.browser

# Every drawn (visible) chart: its Streamlit key and, per trace, its name, type, meta and the
# colours Plotly resolved for its visible markers, line and fill.
TRACES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(div => div.offsetParent !== null)
  .map(div => {
    const holder = div.closest('[class*="st-key-"]');
    const key = holder ? (Array.from(holder.classList).find(c => c.startsWith('st-key-')) || '') : '';
    return (div._fullData || []).map(t => ({
      chart: key,
      name: t.name || '',
      type: t.type,
      meta: ((div.data || [])[t.index] || {}).meta || null,
      // only what is visible: no markers on a lines-only scatter, no line of width 0
      marker: t.marker && !(typeof t.mode === 'string' && !t.mode.includes('markers'))
        ? (t.marker.color === undefined ? null : t.marker.color) : null,
      line: t.line && t.line.width !== 0 && !(typeof t.mode === 'string' && !t.mode.includes('lines'))
        ? (t.line.color === undefined ? null : t.line.color) : null,
      fill: t.fillcolor || null,
    }));
  }).flat()"""

RGB = re.compile(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)")


def normalise(colour: str) -> str:
    """``#abc`` / ``#AABBCC`` / ``rgb(...)`` / ``rgba(..., alpha)`` -> ``#AABBCC`` (alpha dropped);
    a named colour lower-cased."""
    c = colour.strip()
    if c.startswith("#"):
        h = c[1:]
        if len(h) in (3, 4):
            h = "".join(ch * 2 for ch in h[:3])
        return "#" + h[:6].upper()
    m = RGB.match(c)
    if m:
        return "#" + "".join(f"{round(float(v)):02X}" for v in m.groups())
    return c.lower()


def colour_list(value: Any) -> list[str]:
    """A colour, an array of colours (one per point) or nothing, as normalised colours."""
    if value is None:
        return []
    if isinstance(value, str):
        return [normalise(value)]
    if isinstance(value, list):
        return [normalise(v) for v in value if isinstance(v, str)]
    return []  # a numeric array (a colour scale): not a concept colour


@dataclass
class Trace:
    page: str
    chart: str
    name: str
    meta: dict[str, Any]
    colours: set[str] = field(default_factory=set)
    point_colours: list[str] = field(default_factory=list)

    @property
    def concept(self) -> str | None:
        return self.meta.get("concept")

    def __str__(self) -> str:
        return f"{self.page} {self.chart} trace {self.name!r} {self.meta} {sorted(self.colours)}"


def drawn_traces(page: Any, label: str) -> list[Trace]:
    traces = []
    for raw in page.evaluate(TRACES_JS):
        meta = raw["meta"] if isinstance(raw["meta"], dict) else {}
        points = colour_list(raw["marker"]) if isinstance(raw["marker"], list) else []
        colours = set(colour_list(raw["marker"]) + colour_list(raw["line"]) + colour_list(raw["fill"]))
        traces.append(Trace(label, raw["chart"], raw["name"], meta, colours, points))
    return traces


QUANTITY = normalise(theme.QUANTITY)
QUALITY = normalise(theme.QUALITY)
PHQ9 = normalise(theme.measure_colour("PHQ-9"))
GAD7 = normalise(theme.measure_colour("GAD-7"))


def band_shades(compliance: str) -> set[str]:
    """Every colour a compliance band of ``compliance`` can take (1-6 bands), "All clients" aside."""
    shades: set[str] = set()
    for n in range(1, 7):
        colours = theme.compliance_band_colours([f"band {i}" for i in range(n)], compliance)
        shades |= {normalise(c) for band, c in colours.items() if band != "All clients"}
    return shades


def _of(traces: Iterable[Trace], concept: str) -> list[Trace]:
    return [t for t in traces if t.concept == concept]


def _point_concepts(trace: Trace) -> list[tuple[str, str]]:
    concepts = trace.meta.get("point_concepts") or []
    assert len(concepts) == len(trace.point_colours), str(trace)
    return list(zip(concepts, trace.point_colours, strict=True))


def check_one_visual_language(traces: list[Trace]) -> None:
    """Each concept in its theme colour; no other concept in the quantity or quality colour."""
    for concept, colour, bands in (("quantity", QUANTITY, band_shades("quantity")),
                                   ("quality", QUALITY, band_shades("quality"))):
        for t in _of(traces, concept):
            assert t.colours == {colour}, f"{concept} drawn in another colour: {t}"
        for t in _of(traces, f"{concept} band"):
            assert t.colours and t.colours <= bands, f"{concept} band not a shade of {concept}: {t}"
        for t in traces:
            for point_concept, point_colour in _point_concepts(t) if "point_concepts" in t.meta else ():
                if point_concept == concept:
                    assert point_colour == colour, f"a {concept} point drawn in {point_colour}: {t}"
                else:
                    assert point_colour != colour, f"a {point_concept} point in the {concept} colour: {t}"
            if t.concept not in (concept, f"{concept} band") and "point_concepts" not in t.meta:
                assert colour not in t.colours, f"another concept in the {concept} colour: {t}"
    for t in _of(traces, "measure"):
        expected = normalise(theme.measure_colour(t.meta["measure"]))
        assert t.colours == {expected}, f"{t.meta['measure']} scores not in the measure's colour: {t}"
    for t in traces:
        if not (t.concept == "measure" and t.meta.get("measure") == "PHQ-9"):
            assert PHQ9 not in t.colours, f"another concept in the PHQ-9 colour: {t}"


CLIENT_SQL = """
WITH rated AS (
    SELECT client_id, count(*) AS n FROM assignments
    WHERE quality_rating IS NOT NULL AND (quantity_rating IS NOT NULL OR completed_practices IS NOT NULL)
    GROUP BY client_id
),
measures AS (
    SELECT client_id, count(*) FILTER (WHERE measure = 'PHQ-9') AS phq9, count(*) FILTER (WHERE measure = 'GAD-7') AS gad7
    FROM scores GROUP BY client_id
)
SELECT client_id FROM rated JOIN measures USING (client_id)
WHERE n >= 3 AND phq9 >= 3 AND gad7 >= 1
ORDER BY n DESC, client_id LIMIT 1
"""


def test_same_concept_same_colour_on_every_page(page, e2e_clinic):
    with ClinicDatabase(e2e_clinic.db_path) as db:
        client = str(db.execute_sql(CLIENT_SQL).iloc[0, 0])
    seen: dict[str, list[Trace]] = {}

    # Client review: the client's PHQ-9 and GAD-7 scores and their weekly homework.
    open_page(page, "client_review", client=client)
    page.get_by_role("heading", name=f"Client {client}").wait_for()
    wait_charts_settled(page)
    seen["client review"] = drawn_traces(page, "client review")
    screenshot(page, "visual-language-client-review")

    # Cohort outcomes: the lead and the first tab, then the compliance and design tabs.
    open_page(page, "cohort_outcomes", outcome_measure="PHQ-9")
    wait_charts_settled(page)
    seen["cohort: trajectories"] = drawn_traces(page, "cohort: trajectories")
    for tab in ("Compliance and change", "Assignment design"):
        rerun(page, lambda tab=tab: page.get_by_role("tab", name=tab).click())
        wait_charts_settled(page)
        seen[f"cohort: {tab}"] = drawn_traces(page, f"cohort: {tab}")
    rerun(page, lambda: page.get_by_role("tab", name="Compliance and change").click())
    rerun(page, lambda: page.locator(".st-key-compliance").get_by_role("radio", name="Quality").click())
    wait_charts_settled(page)
    seen["cohort: compliance (quality)"] = drawn_traces(page, "cohort: compliance (quality)")
    assert_no_errors(page)

    # Quality improvement: the trends (monthly homework quantity and quality).
    open_page(page, "quality_improvement", section="Trends")
    wait_charts_settled(page)
    seen["QI trends"] = drawn_traces(page, "QI trends")
    screenshot(page, "visual-language-qi-trends")

    traces = [t for page_traces in seen.values() for t in page_traces]
    check_one_visual_language(traces)

    # The concepts the issue names are drawn where they should be (the checks above are not vacuous).
    def where(concept: str) -> set[str]:
        return {t.page for t in _of(traces, concept)}

    assert {"client review", "cohort: Assignment design", "QI trends"} <= where("quantity")
    assert {"client review", "cohort: Assignment design", "QI trends"} <= where("quality")
    assert {"cohort: trajectories", "cohort: Compliance and change"} <= where("quantity band")
    assert "cohort: compliance (quality)" in where("quality band")
    measures = {t.meta["measure"] for t in _of(seen["client review"], "measure")}
    assert {"PHQ-9", "GAD-7"} <= measures
    assert PHQ9 != GAD7
    comparison = [t for t in seen["cohort: Compliance and change"] if "point_concepts" in t.meta]
    assert comparison and {"quantity", "quality"} <= set(comparison[0].meta["point_concepts"])
