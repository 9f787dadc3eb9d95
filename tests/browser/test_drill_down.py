"""Drill-down in headless Chromium (local mode, identified): a click on a client's point of the
cohort scatter shows "Open the review of client X" under the chart, and the link opens that
client's review with its chart drawn (issue 15 item 10)."""

from __future__ import annotations

import re

import pytest

from tests.support.browser import (
    assert_no_errors,
    open_page,
    rerun,
    screenshot,
    wait_charts_settled,
    wait_settled,
)

pytestmark = pytest.mark.browser

# A point of the scatter far enough from every other point that a click there selects it alone,
# with the client id it carries (its trace's customdata at the point's index; Plotly binds the
# calculated point, with its index i, to each SVG point and the trace to each trace group).
ISOLATED_POINT = """(plot) => {
  const points = [];
  plot.querySelectorAll('.scatterlayer .trace').forEach(trace => {
    const data = trace.__data__ && trace.__data__[0] && trace.__data__[0].trace;
    trace.querySelectorAll('.point').forEach(el => {
      const box = el.getBoundingClientRect();
      const custom = data && data.customdata && el.__data__ ? data.customdata[el.__data__.i] : null;
      if (box.width > 0) points.push({x: box.x + box.width / 2, y: box.y + box.height / 2,
                                      client: custom ? String(custom[0]) : null});
    });
  });
  const alone = points.filter(p => p.client && points.every(q => q === p || Math.hypot(q.x - p.x, q.y - p.y) > 14));
  return {count: points.length, point: alone[0] || null};
}"""


def test_a_scatter_point_opens_the_client_review(page, e2e_clinic):
    open_page(page, "cohort_outcomes", section="Compliance and change")
    wait_charts_settled(page)
    plot = page.locator(".st-key-chart_quantity_vs_change .js-plotly-plot")
    plot.wait_for()
    plot.scroll_into_view_if_needed()
    found = plot.evaluate(ISOLATED_POINT)
    assert found["count"] > 50, found  # one SVG point per paired client
    point = found["point"]
    assert point is not None, "no isolated point to click"
    client = point["client"]

    page.mouse.move(point["x"], point["y"])
    rerun(page, lambda: page.mouse.click(point["x"], point["y"]))
    link = page.get_by_role("link", name=f"Open the review of client {client}")
    link.wait_for()
    assert page.get_by_role("link", name=re.compile(r"^Open the review of client ")).count() == 1
    screenshot(page, "drill-down-scatter-selection")

    link.click()
    page.wait_for_url(re.compile(rf"/client_review\?client={re.escape(client)}(&|$)"))
    wait_settled(page)
    page.get_by_role("heading", name=f"Client {client}").wait_for()
    assert wait_charts_settled(page) >= 1
    assert_no_errors(page)
    screenshot(page, "drill-down-client-review")
