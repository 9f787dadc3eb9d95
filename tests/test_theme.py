"""One visual language (issue 15 item 5): analytics/theme.py holds every colour, and the same
concept has the same colour on the client review, the cohort outcomes and the QI figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analytics import ClinicDatabase, Viewer, theme
from analytics.client_review.charts import client_figure
from analytics.client_review.model import client_review
from analytics.cohort_outcomes import charts as cc
from analytics.cohort_outcomes import model as co
from analytics.config import Settings
from analytics.quality_improvement import charts as qc
from analytics.quality_improvement.model import quality_report
from tests.support.review_clinic import AS_OF, build_review_clinic

ROOT = Path(__file__).resolve().parents[1]
LOCAL = Viewer.local()
HEX = re.compile(r"#[0-9A-Fa-f]{6}\b|#[0-9A-Fa-f]{3}\b")
RGB = re.compile(r"\brgba?\(\s*\d")


def test_no_colour_literal_outside_the_theme():
    offenders = []
    for folder in ("analytics", "pages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "analytics" / "theme.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if HEX.search(line) or RGB.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_palette_meanings_are_distinct():
    concepts = {
        "quantity": theme.QUANTITY, "quality": theme.QUALITY, "PHQ-9": theme.measure_colour("PHQ-9"),
        "GAD-7": theme.measure_colour("GAD-7"), "CORE-10": theme.measure_colour("CORE-10"), "better": theme.BETTER,
        "worse": theme.WORSE, "off track": theme.OFF_TRACK, "expected": theme.EXPECTED,
        "as expected": theme.AS_EXPECTED, "design checklist": theme.DESIGN_CHECKLIST, "recovered": theme.RECOVERED,
    }
    assert len(set(concepts.values())) == len(concepts)
    symbols = {theme.measure_symbol(m) for m in ("PHQ-9", "GAD-7", "CORE-10")}
    assert len(symbols) == 3
    # Severity fills: each band visibly darker than the one below (mild vs moderate differ).
    fills = theme.severity_fills(5)
    lightness = [sum(int(f[i:i + 2], 16) for i in (1, 3, 5)) for f in fills]
    assert all(b - a <= -40 for a, b in zip(lightness, lightness[1:], strict=False))


@pytest.fixture(scope="module")
def review_db(tmp_path_factory: pytest.TempPathFactory):
    with ClinicDatabase(build_review_clinic(tmp_path_factory.mktemp("theme"))) as db:
        yield db


def _colour(trace) -> str:
    line = getattr(trace, "line", None)
    marker = getattr(trace, "marker", None)
    return (line.color if line is not None and line.color else None) or marker.color


def test_the_same_concept_has_the_same_colour_on_every_page(review_db, sample_db):
    client = client_figure(client_review(review_db, LOCAL, "N1", AS_OF))
    by_name = {t.name: t for t in client.data}
    assert _colour(by_name["Quantity (how much was done)"]) == theme.QUANTITY
    assert _colour(by_name["Quality (how well)"]) == theme.QUALITY
    assert by_name["PHQ-9"].marker.color == theme.measure_colour("PHQ-9")

    design = co.assignment_design(sample_db, LOCAL, None, Settings())
    types = {t.name: t for t in cc.homework_type_chart(design.types).data}
    assert types["Completion (quantity)"].marker.color == theme.QUANTITY
    assert types["Quality"].marker.color == theme.QUALITY
    report = co.cohort_report(sample_db, LOCAL, None, "PHQ-9", Settings())
    jt = co.clinical_significance(sample_db, LOCAL, None, tuple(co.jt_norms_from_rows(co.jt_norm_rows(["PHQ-9"], ()))),
                                  Settings())
    jt_traces = {t.name: t for t in cc.jacobson_truax_chart(jt.categories).data}
    assert jt_traces["Improved"].marker.color == theme.BETTER
    assert report is not None

    qi = quality_report(sample_db, LOCAL, months=None, deidentified=False, measure="PHQ-9")
    homework = {t.name: t for t in qc.homework_figure(qi.trends_activity).data}
    assert homework["Mean quantity"].line.color == theme.QUANTITY
    assert homework["Mean quality"].line.color == theme.QUALITY
    outcomes = {t.name: t for t in qc.outcomes_figure(qi.trends_outcomes, qi.measure).data}
    assert outcomes["Reliable improvement"].line.color == theme.BETTER
    assert outcomes["Reliable deterioration"].line.color == theme.WORSE


def test_yardstick_chart_draws_each_relation_in_its_compliance_colour(sample_db):
    """The cohort's quality relation was drawn in quantity's blue beside the yardsticks (found by
    tests/browser/test_visual_language.py)."""
    report = co.cohort_report(sample_db, LOCAL, None, "PHQ-9", Settings())
    trace = cc.comparison_chart(report.comparison).data[0]
    by_label = dict(zip(trace.y, trace.marker.color, strict=True))
    assert by_label["This cohort: quantity"] == theme.QUANTITY
    assert by_label["This cohort: quality"] == theme.QUALITY
    assert {c for label, c in by_label.items() if not label.startswith("This cohort")} == {theme.AS_EXPECTED}


def test_one_colour_one_meaning_on_the_qi_trends_tab(sample_db):
    """Issue 15: one green meant assignments set, checklist coverage and reliable improvement."""
    qi = quality_report(sample_db, LOCAL, months=None, deidentified=False, measure="PHQ-9")
    figures = (qc.activity_figure(qi.trends_activity), qc.homework_figure(qi.trends_activity),
               qc.outcomes_figure(qi.trends_outcomes, qi.measure))
    meaning: dict[str, set[str]] = {}
    for fig in figures:
        for trace in fig.data:
            concept = trace.name.replace("Reliable recovery", "Recovery").replace("Assignments per attended session",
                                                                                  "Assignments set")
            concept = concept.replace("Assignments reviewed", "Assignments set")
            meaning.setdefault(_colour(trace), set()).add(concept)
    assert {c: m for c, m in meaning.items() if len(m) > 1} == {}
    assert theme.OFF_TRACK not in meaning  # amber means "off the expected course" only (client review)


def test_funnel_points_by_direction_clinics_labelled(sample_db):
    """Issue 15 item 6: clinic points carry their names; pseudonyms only outside the limits; colours
    say better / worse than the network, grey within the limits; the caption gives the chance flags."""
    qi = quality_report(sample_db, LOCAL, months=None, deidentified=False, measure="PHQ-9")
    clinic = qc.funnel_figure(qi.funnel("clinic", "quantity"))
    points = [t for t in clinic.data if t.mode and "markers" in t.mode]
    assert points and all(t.text is not None and len(t.text) == len(t.x) for t in points)  # every clinic named
    for trace in points:
        expected = {"Within": theme.AS_EXPECTED, "Better": theme.BETTER, "Worse": theme.WORSE}[trace.name.split()[0]]
        assert trace.marker.color == expected and trace.cliponaxis is False
    therapist = qc.funnel_figure(qi.funnel("therapist", "quantity"))
    within = [t for t in therapist.data if t.name == "Within limits (as expected)"]
    assert within and within[0].text is None  # pseudonyms of units within the limits stay unlabelled
    assert therapist.layout.xaxis.range[1] > max(max(t.x) for t in therapist.data if t.mode == "markers" or
                                                 (t.mode and "markers" in t.mode))
    assert any("chance alone" in (a.text or "") for a in therapist.layout.annotations)
