"""ui.chart keeps what st.plotly_chart gave (issue 12 item 2): on the cohort page's lead chart
(drawn by the vendored plotly.js cartesian bundle, which came with the page shell, not by
Streamlit's Plotly chunk), hovering a bar shows its label, a drag zooms, and the modebar
downloads the chart as a PNG."""

from __future__ import annotations

import pytest

from tests.support.browser import assert_no_errors, open_page, wait_charts_settled

pytestmark = pytest.mark.browser

RANGE = "d => JSON.stringify(d._fullLayout.yaxis.range)"


def test_the_lead_chart_hovers_zooms_and_downloads_a_png(page, e2e_clinic):
    open_page(page, "cohort_outcomes")
    wait_charts_settled(page)
    resources = page.evaluate("() => performance.getEntriesByType('resource').map(r => r.name)")
    # plotly.js came once, with the page shell (ui/shell.py); the chart took it from there.
    plotly = [r for r in resources if "/plotly-cartesian." in r]
    assert len(plotly) == 1 and "/static/bs/plotly-cartesian." in plotly[0], plotly
    assert page.evaluate("() => window.__bsShellPlotly.url") == plotly[0]
    assert not any("/PlotlyChart." in r for r in resources)  # Streamlit's 4.7 MB chunk is not loaded
    plot = page.locator(".st-key-chart_lead .js-plotly-plot")
    plot.scroll_into_view_if_needed()

    bar = page.locator(".st-key-chart_lead .js-plotly-plot .bars .point path").first.bounding_box()
    page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    page.locator(".st-key-chart_lead .hoverlayer .hovertext").first.wait_for()

    before = plot.evaluate(RANGE)
    drag = plot.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(drag["x"] + 20, drag["y"] + 20)
    page.mouse.down()
    page.mouse.move(drag["x"] + 200, drag["y"] + 120, steps=5)
    page.mouse.up()
    page.wait_for_function(f"([d, r]) => ({RANGE})(d) !== r", arg=[plot.element_handle(), before])

    plot.hover()
    with page.expect_download() as download:
        plot.locator('[data-title="Download plot as a PNG"]').click()
    path = download.value.path()
    with open(path, "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"
    assert_no_errors(page)
