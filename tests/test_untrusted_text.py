"""Untrusted text (issue 10, item 8; docs/security.md, "Untrusted text").

Markdown, HTML and image syntax is written into every free-text field of a realistic export
(the seeded sample clinic, 300 clients) and imported through the real importer, which must
accept it: they are valid strings. Then every page, as an admin and as a therapist, must show
those values as the characters typed: no Markdown-interpreting element (header, caption,
markdown, alert, metric, widget, expander or tab label) holds a live link, image, emphasis
or HTML tag from them, and no Plotly figure holds a live HTML tag from them. The HTML exports
and the PDFs hold the literal text. The real browser is tests/browser/test_untrusted_text.py.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import ClinicDatabase, Viewer, import_files
from analytics.access import viewer_for_email
from analytics.client_review.model import client_review, programme_homework
from analytics.client_review.session_review import session_review_html, session_review_pdf
from analytics.quality_improvement.charts import funnel_figure
from analytics.quality_improvement.meeting_pack import meeting_pack_html, meeting_pack_pdf, pack_content
from analytics.quality_improvement.model import quality_report
from analytics.text import AUTOLINK_BREAK, markdown_text, plotly_text
from tests.support.charts import drawn_charts
from tests.support.clinics import ROOT
from tests.support.clinics import signed_in as signed_in_as
from tests.support.hostile_clinic import (
    ADMIN,
    AS_OF,
    PAYLOAD,
    THERAPIST,
    build_hostile_clinic,
    first_client,
)
from tests.support.pdf import pdf_text

# What must never be live in Markdown source (after masking backslash-escaped characters).
LIVE_MARKUP = ("**pwns**", "<b>", "</b>", "[pwnl]", "](http", "![pwni]", "<img", "<a ", "</a>")
# GFM autolinks these in the text that remains after backslash escapes are removed.
AUTOLINK = re.compile(r"(?i)(?:https?://|www\.|[-.\w+]+@)[-\w.]*(?:evil\.example|203\.0\.113\.1)")
# What must never be live in Plotly text (Plotly renders <a href>, <b>, <br> ...).
LIVE_HTML = ("<b>", "</b>", "<img", "<a ", "</a>")
@pytest.fixture(scope="module")
def hostile_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hostile_clinic(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def hostile_app(hostile_db_path: Path, serve_copy) -> Path:
    return serve_copy(hostile_db_path)


# ----------------------------------------------------------------------------- checking rendered text

_ESCAPED = re.compile(r"\\[!-/:-@\[-`{-~]")


def live(markdown: str) -> str:
    """Markdown source with every backslash-escaped character masked: what is left is live syntax."""
    return _ESCAPED.sub("\x00", markdown)


def shown(markdown: str) -> str:
    """The text Markdown source leaves once backslash escapes are removed (where GFM finds autolinks)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def readable(markdown: str) -> str:
    """The characters a reader sees: :func:`shown` without the invisible autolink breaks."""
    return shown(markdown).replace(AUTOLINK_BREAK, "")


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def markdown_bodies(at: AppTest) -> list[tuple[str, str]]:
    """(element type, source) of every string the page renders as Markdown.

    Markdown, captions and badges, headings, alerts (bodies); metrics, widgets, buttons,
    expanders and tabs (labels and help). Not tables, ``st.text`` or selectbox options,
    which Streamlit shows as plain text."""
    from streamlit.testing.v1 import element_tree as et

    out: list[tuple[str, str]] = []
    for node in _walk(at._tree):
        kind = type(node).__name__
        if isinstance(node, et.Markdown | et.HeadingBase | et.AlertBase):
            out.append((kind, str(node.value)))
        for attr in ("label", "help"):
            value = getattr(node, attr, None) if not isinstance(node, et.Markdown) else None
            if isinstance(value, str) and value:
                out.append((f"{kind}.{attr}", value))
    return out


def live_markup(at: AppTest) -> list[tuple[str, str, str]]:
    """(element, needle, source) for every payload markup left live in a Markdown body."""
    bodies = markdown_bodies(at)
    return ([(kind, needle, body) for kind, body in bodies for needle in LIVE_MARKUP if needle in live(body)]
            + [(kind, "autolink", body) for kind, body in bodies if AUTOLINK.search(shown(body))])


def plotly_strings(at: AppTest) -> list[str]:
    strings: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)

    for chart in drawn_charts(at):
        collect(json.loads(chart.spec))
    return strings


def assert_plain(at: AppTest, where: str) -> list[tuple[str, str]]:
    """No exception, no live payload markup in Markdown or Plotly text; returns the Markdown bodies."""
    assert not at.exception, (where, at.exception)
    leaks = live_markup(at)
    assert not leaks, f"{where}: payload markup rendered as Markdown: {leaks[:3]}"
    html_leaks = [s for s in plotly_strings(at) if any(tag in s for tag in LIVE_HTML) and "pwn" in s]
    assert not html_leaks, f"{where}: payload HTML in a Plotly figure: {html_leaks[:3]}"
    return markdown_bodies(at)


def signed_in(script: str, email: str, **query: str) -> AppTest:
    return signed_in_as(ROOT / script, email, timeout=120, run=False, **query)


# ----------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize("text", [PAYLOAD, "- item\n# heading\r\n> quote", "www.evil.example me@evil.example",
                                  "1. first", "=underline",
                                  "$x^2$ :red[red] :material/home: `code` ~~gone~~ a_b_ &lt;b&gt; \\*"])
def test_markdown_text_leaves_no_live_markup_and_shows_the_characters(text: str):
    escaped = markdown_text(text)
    assert readable(escaped) == re.sub(r"\s*[\r\n]+\s*", " ", text)  # one line, same characters
    assert not AUTOLINK.search(shown(escaped)) and not re.search(r"(?i)https?://|www\.|@\w", shown(escaped))
    masked = live(escaped)
    for ch in "*_[]()<>!`~$&#|+\\":
        assert ch not in masked, (ch, escaped)
    assert not re.search(r":\w", masked), escaped  # no :directive[...], :material/icon: or :emoji:
    assert not re.match(r"[-=]|\d+\.", masked), escaped  # no list item or heading underline
    # Ordinary values keep their look in the source too (dates, "Label: value").
    assert markdown_text("2025-01-06") == "2025-01-06" and markdown_text("Clinics: North") == "Clinics: North"
    assert markdown_text("1. first") == "1\\. first" and markdown_text(None) == ""


def test_plotly_text_escapes_the_html_plotly_renders():
    assert plotly_text('<a href="http://evil.example">x</a> & <b>') == (
        '&lt;a href="http://evil.example"&gt;x&lt;/a&gt; &amp; &lt;b&gt;')
    assert plotly_text("&lt;b&gt;") == "&amp;lt;b&amp;gt;"  # an entity stays the characters typed
    assert plotly_text(None) == ""


@pytest.mark.parametrize("column,rule", [("homework_type", "unknown homework type"), ("rated_by", "unknown rater")])
def test_enumerated_fields_cannot_carry_markup(tmp_path: Path, column: str, rule: str):
    """homework_type, rated_by and measure only take listed values: markup in them is rejected."""
    clients = tmp_path / "clients.csv"
    clients.write_text("client_id,clinic,therapist_id,intake_date\nC1,North,T1,2025-01-06\n", encoding="utf-8")
    row = {"assignment_id": "A1", "client_id": "C1", "assigned_date": "2025-01-07", "homework_type": "exposure",
           "rated_by": "client", column: PAYLOAD}
    assignments = tmp_path / "assignments.csv"
    pd.DataFrame([row]).to_csv(assignments, index=False)
    scores = tmp_path / "scores.csv"
    pd.DataFrame([{"client_id": "C1", "measure": PAYLOAD, "administered_date": "2025-01-07",
                   "total_score": 3}]).to_csv(scores, index=False)
    result = import_files(tmp_path / "c.duckdb", [clients, assignments, scores], today=AS_OF)
    rules = {(r.column, r.rule.split(" (")[0]) for r in result.rejects_preview}
    assert (column, rule) in rules and ("measure", "unknown measure") in rules, rules


# ----------------------------------------------------------------------------- every page, two roles

PAGES = ("dashboard.py", "pages/client_review.py", "pages/cohort_outcomes.py", "pages/quality_improvement.py",
         "pages/data.py", "pages/glossary.py")
ADMIN_PAGES = ("pages/admin_users.py", "pages/admin_audit.py")
COHORT_SECTIONS = ("Trajectories", "Compliance and change", "Outcomes by band", "Assignment design")
QI_SECTIONS = ("Trends", "Comparisons", "Not on track", "Meeting pack")


@pytest.mark.parametrize("email", [ADMIN, THERAPIST])
def test_no_page_renders_imported_markup(hostile_app: Path, email: str):
    with ClinicDatabase(hostile_app) as db:
        viewer = viewer_for_email(db, email)
        assert viewer is not None
        client = first_client(db, viewer)
        clinic = db.execute_sql("SELECT clinic FROM clients WHERE client_id = $c", {"c": client})["clinic"].iloc[0]
    seen: list[str] = []  # what readers see in Markdown elements, over every page
    pages = PAGES + (ADMIN_PAGES if email == ADMIN else ())
    for page in pages:
        query = {"client": client} if page.endswith("client_review.py") else {}
        at = signed_in(page, email, **query).run()
        seen += [readable(body) for _, body in assert_plain(at, page)]
        if page.endswith("cohort_outcomes.py"):
            for section in COHORT_SECTIONS:
                at.query_params["section"] = section
                seen += [readable(b) for _, b in assert_plain(at.run(), f"{page} {section}")]
        if page.endswith("quality_improvement.py"):
            at = signed_in(page, email, clinic=clinic).run()
            at.toggle(key="qi_deidentified").set_value(False).run()  # identified: units and clients by name
            seen += [readable(b) for _, b in assert_plain(at, f"{page} identified")]
            for section in QI_SECTIONS:
                at.query_params["section"] = section
                at.run()
                seen += [readable(b) for _, b in assert_plain(at, f"{page} {section}")]
                if section == "Comparisons":
                    for unit_type in ("therapist", "program"):
                        at.button_group(key="qi_unit_type").set_value(unit_type).run()
                        assert_plain(at, f"{page} {section} {unit_type}")
    everything = "\n".join(seen)
    # Not passing by showing nothing: the values are on the pages, as the characters typed.
    assert f"Client {client}" in everything  # the client review's header
    assert f"Clinic: {clinic}" in everything or f"Clinics: {clinic}" in everything  # the QI cohort line
    assert sum(PAYLOAD in s for s in seen) >= 4, "too few payload values reached Markdown elements"


def test_funnel_plot_labels_and_hover_are_text(hostile_db_path: Path):
    with ClinicDatabase(hostile_db_path) as db:
        report = quality_report(db, Viewer.local(), months=None, deidentified=False)
    drawn = 0
    for panel in report.funnels:
        fig = json.loads(funnel_figure(panel).to_json())
        for trace in fig["data"]:
            for value in [*(trace.get("text") or []), *[row[0] for row in trace.get("customdata") or []]]:
                if "pwn" in str(value):
                    drawn += 1
                    assert str(value).endswith(plotly_text(PAYLOAD)), value
                    assert not any(tag in str(value) for tag in LIVE_HTML), value
    assert drawn > 0, "no unit name reached a funnel plot"


# ----------------------------------------------------------------------------- exports


def _outside_scripts(document: str) -> str:
    return re.sub(r"<script\b.*?</script>", "", document, flags=re.S | re.I)


def test_session_review_html_and_pdf_hold_the_literal_text(hostile_db_path: Path):
    with ClinicDatabase(hostile_db_path) as db:
        client = first_client(db, Viewer.local())
        review = client_review(db, Viewer.local(), client, AS_OF)
        programme = programme_homework(db, Viewer.local(), review.header["program"])
    document = session_review_html(review, programme).decode("utf-8")
    body = _outside_scripts(document)
    assert html.escape(f"Session review: client {client}") in body
    assert f'<span class="label">Clinic:</span> {html.escape(review.header["clinic"])}' in body
    assert body.count(html.escape(PAYLOAD)) >= 4  # title, header facts, descriptions
    for tag in ("<b>pwnb", "<img src=x", '<a href="http://evil'):
        assert tag not in body
    text = pdf_text(session_review_pdf(review, programme, compress=False, chart=False))
    assert f"Session review: client {client}" in text
    assert f"Clinic: {review.header['clinic']}" in text


def test_meeting_pack_html_and_pdf_hold_the_literal_text(hostile_db_path: Path):
    from dataclasses import replace

    from analytics import CohortFilter

    with ClinicDatabase(hostile_db_path) as db:  # every concern chosen: the whole clinic, named in the header
        concerns = tuple(db.execute_sql("SELECT DISTINCT primary_concern AS c FROM clients WHERE c IS NOT NULL "
                                        "ORDER BY c")["c"])
        report = quality_report(db, Viewer.local(), CohortFilter.of(concerns=concerns), months=None,
                                deidentified=False)
    described = f"Cohort: Primary concerns: {concerns[0]}, {concerns[1]}"
    assert PAYLOAD in described
    content = pack_content(report)
    document = meeting_pack_html(report, content=content).decode("utf-8")
    body = _outside_scripts(document)
    assert html.escape(described) in body
    for tag in ("<b>pwnb", "<img src=x", '<a href="http://evil'):
        assert tag not in body
    svgs = re.findall(r'<svg class="main-svg".*?</svg>', document, flags=re.S)
    if svgs:  # static charts (inline SVG, in the body checked above): unit names as escaped text nodes
        assert sum("&#60;b&#62;pwnb&#60;/b&#62;" in svg for svg in svgs) >= 4
    else:  # no browser for the images: interactive charts, plotly.js embedded once
        figures = re.findall(r"Plotly\.newPlot\((.*?)\)\s*\};", document, flags=re.S)
        assert figures and not any("\\u003cb\\u003epwnb" in f for f in figures)
        assert sum(plotly_text("<b>pwnb<") in f for f in figures) >= 4  # funnel unit names, as text
    text = pdf_text(meeting_pack_pdf(report, content=replace(content, figures=()), compress=False))
    assert described in text


def test_an_upload_name_with_markup_is_reported_as_text(hostile_app: Path):
    """The Data page names a refused upload: the browser-supplied file name is text too."""
    name = "<img src=x onerror=alert(1)> **pwns** [pwnl](www.evil.example).csv"  # shown whole: < 80
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60).run()  # local mode: admin
    at.file_uploader(key="import_files").set_value([(name, b"", "text/csv")])
    at.run()
    at.button(key="run_import").click().run()
    errors = [e.value for e in at.error]
    assert [readable(e) for e in errors] == [f"Not imported: {name} is empty."]
    assert_plain(at, "data page upload error")


def test_a_user_warning_naming_a_typed_clinic_is_text(hostile_app: Path):
    """Users and roles: the "no client is in clinic(s) ..." warning repeats what the admin typed."""
    typed = "[pwnl](www.evil.example) <b>pwnb</b>"
    at = signed_in("pages/admin_users.py", ADMIN).run()
    assert not at.exception, at.exception
    at.text_input[0].input("new.supervisor@clinic.org")
    at.selectbox[0].set_value("supervisor")
    at.multiselect[0].set_value([typed])
    next(b for b in at.button if b.label == "Save user").click().run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert [readable(w) for w in warnings] == [f"No client is in clinic(s) {typed} yet (check the spelling)."]
    assert_plain(at, "users and roles warning")
