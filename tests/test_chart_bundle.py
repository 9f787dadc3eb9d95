"""ui.chart's plotly.js (issue 12 item 2): the vendored cartesian bundle, its licence, and the
full plotly.js of the Python plotly package that draws any other trace type, are one version."""

from __future__ import annotations

import re

from ui import charts

VERSION = re.compile(rb"plotly\.js(?: \([a-z -]+\))? v(\d+\.\d+\.\d+)")


def _version(path) -> str:
    match = VERSION.search(path.read_bytes()[:400])
    assert match, path
    return match.group(1).decode()


def test_the_vendored_bundle_is_the_python_plotly_version_with_its_licence():
    partial = charts.BUNDLE_DIR / charts.PARTIAL_BUNDLE
    full = charts._full_bundle_dir() / charts.FULL_BUNDLE
    assert _version(partial) == charts.PLOTLY_VERSION == _version(full)
    assert "MIT License" in (charts.BUNDLE_DIR / "LICENSE").read_text()


def test_the_component_loads_the_bundles_from_the_declared_folders():
    js = charts._component_js()
    assert "__BUNDLE_PARTIAL__" not in js and "__BUNDLE_FULL__" not in js
    assert f'"{charts.PARTIAL_URL}"' in js and f'"{charts.FULL_URL}"' in js
    assert charts.PARTIAL_URL == "component/ui.charts.plotly_bundle/plotly-cartesian.min.js"
