"""The glossary: every plain reading and every link a page uses names an entry that exists; the
page shows an entry asked for by ``?term=``, the import format, and searches."""

from __future__ import annotations

import ast
import re

import pytest
from streamlit.testing.v1 import AppTest

from analytics import glossary
from tests.support.clinics import ROOT

PAGE = str(ROOT / "pages" / "glossary.py")
SOURCES = sorted([*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py"), ROOT / "dashboard.py",
                  *(ROOT / "analytics").rglob("*.py")])
GLOSSARY_CALLS = {"plain", "link", "help_text", "caption"}


def _terms_used() -> dict[str, set[str]]:
    """term -> the files naming it: glossary.plain/link/help_text/caption("term", ...) calls and
    "/glossary?term=..." addresses in the code."""
    used: dict[str, set[str]] = {}
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for term in re.findall(r"/glossary\?term=([A-Za-z0-9_-]+)", text):
            used.setdefault(term, set()).add(path.name)
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in GLOSSARY_CALLS
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "glossary"):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        used.setdefault(arg.value, set()).add(path.name)
    return used


def test_every_term_a_page_links_or_explains_is_in_the_glossary():
    used = _terms_used()
    # the pages do use it: the statistics of issue 15 item 11, and the import format link
    assert {"hedges-g", "cohens-u3", "fisher-z-interval", "within-client-model", "reverse-lag", "control-limits",
            "import-format"} <= set(used)
    missing = {term: files for term, files in used.items() if term not in glossary.anchors()}
    assert not missing, f"glossary terms without an entry: {missing}"
    explained = {t for t in used if t not in glossary.PARTS}
    assert all(glossary.plain(t) for t in explained)


def test_every_clinicians_entry_has_one_plain_line_and_a_unique_anchor():
    entries = glossary.sections("clinicians")
    assert len(entries) >= 20
    assert all(s.plain and len(s.plain) < 220 for s in entries), [s.anchor for s in entries if not s.plain]
    every = [s.anchor for s in glossary.sections()]
    assert len(every) == len(set(every)), "two glossary entries share an anchor"
    assert not set(every) & set(glossary.PARTS)
    assert glossary.anchor("Hedges' g") == "hedges-g" and glossary.anchor("Cohen's U3") == "cohens-u3"
    # developer detail stays out of the clinicians' part
    for s in entries:
        assert not re.search(r"analytics/|\.sql|SQL macro|BETWEEN_SESSIONS_|`", s.body), s.anchor
    with pytest.raises(KeyError):
        glossary.plain("no-such-term")


def _headers(at: AppTest) -> list[tuple[str, str]]:
    return [(h.value, h.proto.anchor) for h in at.subheader]


def test_the_page_opens_the_entry_a_link_names(app_db):
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["term"] = "reliable-improvement"
    at.run()
    assert not at.exception, at.exception
    assert _headers(at) == [("Reliable improvement (for clinicians)", "reliable-improvement")]
    assert any(glossary.plain("reliable-improvement") in m.value for m in at.markdown)


def test_the_import_format_link_shows_the_import_format(app_db):
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["term"] = "import-format"
    at.run()
    assert not at.exception, at.exception
    titles = [title for title, _ in _headers(at)]
    assert titles[:5] == ["Values", "clients", "sessions", "assignments", "scores"]
    assert any("administered_date" in m.value for m in at.markdown)


def test_search_filters_the_entries(app_db):
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert len(at.tabs) == 3
    at.text_input(key="glossary_search").set_value("Hedges").run()
    titles = [title for title, _ in _headers(at)]
    assert "Hedges' g (for clinicians)" in titles
    assert all("hedges" in (s.title + s.body).lower() for s in glossary.search("Hedges"))
    assert len(titles) == len(glossary.search("Hedges")) < len(glossary.sections())
