"""The layout and the "one way to do each thing" rules of issue 14, as checks that fail when
someone adds a second way (README "Layout"; docs in each package's ``__init__``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from analytics.config import Settings
from analytics.db import sql_files
from analytics.publishing import Column, PublishedTable

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "pages").glob("*.py"))
# Pages whose back-end is a core module rather than a folder of their own (README "Layout").
CORE_BACKENDS = {"admin_audit": "audit.py", "admin_users": "access.py", "glossary": None}
UI_LAYERS = ("charts", "session", "tables", "text", "audit", "context", "auth", "filters", "opening")


def _calls(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                out.append(f"{func.value.id}.{func.attr}")
            elif isinstance(func, ast.Attribute):
                out.append(f"?.{func.attr}")
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_each_page_back_end_is_found_from_its_file_name(page: Path):
    if page.stem in CORE_BACKENDS:
        backend = CORE_BACKENDS[page.stem]
        assert backend is None or (ROOT / "analytics" / backend).exists()
    else:
        assert (ROOT / "analytics" / page.stem / "__init__.py").exists(), f"analytics/{page.stem}/ is missing"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_each_page_opens_one_way_and_downloads_one_way(page: Path):
    calls = _calls(ast.parse(page.read_text(encoding="utf-8")))
    assert calls.count("ui.page") == 1, f"{page.name} must open with ui.page(...) exactly once"
    assert not [c for c in calls if c.endswith(".download_button") and c != "ui.download_button"], (
        f"{page.name}: downloads go through ui.download_button (it logs them)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_each_page_draws_charts_one_way(page: Path):
    """Issue 12 item 2: every chart goes through ui.chart (the partial plotly.js bundle)."""
    calls = _calls(ast.parse(page.read_text(encoding="utf-8")))
    assert not [c for c in calls if c.endswith("plotly_chart")], f"{page.name}: charts go through ui.chart"


def test_ui_is_layered_without_cycles_or_function_level_imports():
    for k, name in enumerate(UI_LAYERS):
        tree = ast.parse((ROOT / "ui" / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                below = UI_LAYERS[:k]
                assert node.module in below, f"ui/{name}.py imports ui.{node.module}: only {below} are below it"
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            inner = [n for n in ast.walk(func) if isinstance(n, ast.ImportFrom) and n.level > 0]
            assert not inner, f"ui/{name}.py: {func.name} imports ui/ inside the function (a hidden cycle)"
        text = (ROOT / "ui" / f"{name}.py").read_text(encoding="utf-8")
        if name != "session":
            assert '"_bs_viewer"' not in text and '"_bs_page"' not in text, f"ui/{name}.py copies a session key"


def test_query_names_are_unique_across_sql_folders():
    names = [p.stem for p in (ROOT / "analytics").glob("**/sql/*.sql")]
    assert len(names) == len(set(names))
    assert set(sql_files()) == set(names)


def test_measures_have_one_order():
    settings = Settings()
    assert settings.ordered_measures(["Zeta", "GAD-7", "PHQ-9", "GAD-7", "Alpha"]) == ["PHQ-9", "GAD-7", "Alpha", "Zeta"]


def test_published_cells_are_read_by_column_key_not_header():
    """Renaming a header (display text) must not change what the risk banner reads."""
    columns = (Column("group", "Group", "label"), Column("clients", "Clients", "count"),
               Column("rule_risk", "Self-harm item above 0 (renamed)", "count"))
    display = pd.DataFrame({"Group": ["Risk", "All"], "Clients": [3, 40], "Self-harm item above 0 (renamed)": [3, 3]})
    table = PublishedTable("alert_counts", "Alerts", display, display, columns)
    assert table.cell_text("rule_risk") == "3"
    assert table.cell_text("clients", "All") == "40" and table.cell_text("clients", "Nobody") == ""


def test_each_public_name_of_analytics_is_its_definition_whatever_was_imported_first():
    """``analytics`` loads its public names on first use (PEP 562 ``__getattr__``), which Python
    asks only for a name the package does not hold. Importing a subpackage sets it on the
    package: ``analytics.caseload`` (the function) became the folder ``analytics/caseload/``
    once anything had imported ``analytics.caseload.model`` first, as the server's warm-up
    does (ui/serve.py), and the home page's ``from analytics import caseload`` got a module.
    So no public name may also be the name of a module or folder of the package."""
    import subprocess
    import sys

    code = """
import importlib, pkgutil, analytics
for found in pkgutil.walk_packages(analytics.__path__, "analytics."):
    if not found.name.endswith("__main__"):
        importlib.import_module(found.name)
print(sorted(name for name, module in analytics._EXPORTS.items()
             if getattr(analytics, name) is not getattr(importlib.import_module(f"analytics.{module}"), name)))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", f"public names shadowed by a module of the same name: {done.stdout}"
