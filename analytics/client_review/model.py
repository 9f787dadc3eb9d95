"""One client's homework and symptoms over time: the data behind the Client review page.

Every function takes ``(db, viewer, client_id, ...)`` and reads only that client's rows
(``analytics/sql/client_review_*.sql``, each filtering by ``$client_id`` first). Scope is
enforced in SQL through the ``cohort_clients`` macro: a client the viewer may not see and
a client that does not exist both give ``None`` ("not found"), indistinguishably.

Metric definitions are reused, never redefined (docs/metrics.md, "Client review"):
assignment quantity / quality fractions come from the SQL macros, first / last / change /
reliable change / recovery / caseness from :func:`analytics.metrics.classify_outcomes`,
severity bands and caseness thresholds from :class:`analytics.config.MeasureDefinition`,
and the within-client association from :func:`analytics.statistics.pearson`.

Weeks are whole weeks since intake: week 0 is the 7 days starting on the intake date, week
n starts on ``intake_date + 7 n`` days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from .. import theme
from ..config import DESIGN_CHECKLIST, DESIGN_CHECKLIST_LABELS, Settings, active_settings
from ..db import ClinicDatabase
from ..expected_response import OFF_TRACK, Track, client_track, expected_curves
from ..metrics import classify_outcomes
from ..publishing import table_csv
from ..scope import CohortFilter, Viewer, query_params
from ..statistics import pearson
from ..sudden_gains import client_gains

# The definitions (docs/metrics.md, "Client review"):
RECENT_WEEKS = 4  # "the last 4 weeks against the weeks before"
MIN_ASSOCIATION_WEEKS = 6  # within-client association shown from 6 distinct score intervals with homework
SEARCH_LIMIT = 200  # client ids offered by the search at once
RISK_MEASURE_KEY = "PHQ9"  # PHQ-9 item 9 (thoughts of self-harm) > 0 is the risk flag

# Edge states: code -> the message the page (and the export) shows.
EDGE_STATES: dict[str, str] = {
    "no_scores": "No symptom scores recorded for this client yet: the symptom chart, the latest scores and "
    "the change since the first score appear once a measure has been administered.",
    "single_score": "Only one score per measure so far: change since the first score, reliable change and "
    "recovery need a second score.",
    "follow_up_only": "Discharged, with follow-up scores only: every score was given after the discharge date, "
    "so there is no in-treatment change to report. The follow-up scores are shown as such.",
    "screening_only": "Only screening scores so far, from before the baseline window (docs/metrics.md, \"Baseline "
    "and treatment window\"): they are shown but are not a baseline; change, reliable change and recovery start "
    "from the first score in the window.",
    "no_homework": "No homework assignments recorded for this client.",
    "none_reviewed": "Homework has been set but none has been reviewed yet: quantity and quality appear once "
    "an assignment is reviewed (rated or practices counted).",
}
ASSOCIATION_NOTE = (
    "This is an association, not proof: it does not show that doing more homework caused the change, "
    "nor why a score moved. Homework and change are taken over the same interval between two scores (weeks "
    "between the same two scores are averaged into one interval, so n counts intervals); consecutive "
    "intervals are not independent, so treat the confidence interval as a rough guide."
)
NOT_FOUND_MESSAGE = (
    "Client not found: there is no client with that id among the clients you can see. "
    "Search for the client below."
)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RiskFlag:
    """The latest PHQ-9 has item 9 (thoughts of self-harm) above 0."""

    measure: str
    date: date
    item_9: int
    total_score: int
    earlier_dates: tuple[date, ...] = ()  # earlier PHQ-9s with item 9 > 0

    @property
    def message(self) -> str:
        text = (
            f"Risk flag: on the latest {self.measure} ({self.date:%Y-%m-%d}, total {self.total_score}) item 9 "
            f"(thoughts of self-harm) was {self.item_9}. Follow your clinic's risk protocol before or at the "
            "next session."
        )
        if self.earlier_dates:
            text += " Item 9 was also above 0 on " + ", ".join(f"{d:%Y-%m-%d}" for d in self.earlier_dates) + "."
        return text


@dataclass(frozen=True)
class Association:
    """Within-client association of homework quantity with the score change over the same interval.

    The unit is a score interval (two consecutive in-treatment scores): its quantity is the mean
    weekly quantity of the weeks whose end falls in it, its change next - previous score.
    """

    measure: str
    n: int  # distinct score intervals with reviewed homework (weeks between the same two scores count once)
    r: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    shown: bool  # n >= MIN_ASSOCIATION_WEEKS and r defined
    message: str  # plain-language sentence
    pairs: pd.DataFrame = field(repr=False)  # week, quantity, previous / next score and dates, change
    weeks: int = 0  # weeks with reviewed homework and a score before and after the week's end
    clear: bool = False  # shown and the 95% CI excludes 0


@dataclass(frozen=True)
class ClientReview:
    """Everything the Client review page and the session-review export show for one client."""

    client_id: str
    as_of: date
    header: dict[str, Any]
    measures: pd.DataFrame  # one row per measure: classify_outcomes columns + latest / band / follow-up
    cards: tuple[dict[str, Any], ...]  # per measure, formatted: what the page and the PDF print
    scores: pd.DataFrame
    sessions: pd.DataFrame
    assignments: pd.DataFrame
    weekly: pd.DataFrame
    overall: dict[str, Any]  # assignments, reviewed, quality_rated, quantity, quality
    periods: pd.DataFrame  # last_4_weeks / before
    by_type: pd.DataFrame
    checklist_missing: pd.DataFrame
    associations: tuple[Association, ...]
    risk: RiskFlag | None
    risk_items_missing: bool  # the latest PHQ-9 has no item 9 recorded
    since_last_session: dict[str, Any]
    states: tuple[str, ...]  # EDGE_STATES codes that apply
    free_text: bool  # descriptions included (viewer.can_see_free_text)
    #: Homework set after discharge (follow-up period), kept out of ``overall``; same keys.
    follow_up_homework: dict[str, Any] = field(default_factory=dict)
    #: Sudden gains per measure with the homework of their interval (analytics.sudden_gains.client_gains).
    sudden_gains: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Per measure: the course against the expected curve of the clinic's discharged clients
    #: (analytics.expected_response.client_track), and the homework of the off-track weeks.
    tracks: tuple[Track, ...] = ()
    track_homework: tuple[dict[str, Any], ...] = ()

    @property
    def reviewed_share(self) -> float | None:
        """Reviewed assignments / assignments set in the treatment window (None when none set)."""
        set_ = self.overall.get("assignments") or 0
        return self.overall.get("reviewed", 0) / set_ if set_ else None

    @property
    def messages(self) -> list[tuple[str, str]]:
        return [(s, EDGE_STATES[s]) for s in self.states]

    def recent_assignments(self) -> pd.DataFrame:
        """Assignments of the last RECENT_WEEKS weeks (the period the summary calls "last 4 weeks")."""
        recent = self.periods[self.periods["key"] == "recent"]
        if recent.empty or self.assignments.empty:
            return self.assignments.iloc[0:0]
        first, last = int(recent["first_week"].iloc[0]), int(recent["last_week"].iloc[0])
        return self.assignments[self.assignments["week"].between(first, last)]


# ----------------------------------------------------------------------------- helpers


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    try:
        if pd.isna(value):  # None, NaN, NaT
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, datetime):  # pd.Timestamp is a datetime
        return value.date()
    return value


def _as_int(value: Any) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)


def _as_float(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    f = float(value)
    return None if math.isnan(f) else f


def format_percent(value: float | None) -> str:
    """A 0-1 fraction as a whole percent ("62%"), or an em dash when there is none."""
    return "\u2014" if value is None or pd.isna(value) else f"{float(value) * 100:.0f}%"


def format_points(value: float | None) -> str:
    """A change in score points with its sign ("\u22124" with a true minus sign, "+2", "0")."""
    if value is None or pd.isna(value):
        return "\u2014"
    v = int(round(float(value)))
    return f"+{v}" if v > 0 else str(v).replace("-", "\u2212")


SUDDEN_GAIN_NOTE = (
    "A sudden gain is a large, stable improvement between two consecutive scores (Tang & DeRubeis 1999): at "
    "least the measure's reliable change, at least 25% of the score before, and clearly beyond the scores "
    "around it. It is descriptive: with many scores some unchanged courses show a gain by chance, and it "
    "does not say why the score moved. Homework: assignments set in the weeks of that interval."
)


def sudden_gain_rows(review: ClientReview) -> pd.DataFrame:
    """The client review's sudden gains as shown (labels, dates, points, percent)."""
    gains = review.sudden_gains
    return pd.DataFrame({
        "Measure": gains["measure"],
        "Before": [format_date(d) for d in gains["before_date"]],
        "After": [format_date(d) for d in gains["after_date"]],
        "Scores": [f"{b:g} \u2192 {a:g}" for b, a in zip(gains["before_score"], gains["after_score"], strict=True)],
        "Gain (points of improvement)": [f"{m:g}" for m in gains["magnitude"]],
        "Reversed later": ["yes" if r else "no" for r in gains["reversed"]],
        "Homework weeks": gains["homework_weeks"],
        "Assignments set": gains["assignments"],
        "Reviewed": gains["reviewed"],
        "Quantity": [format_percent(q) for q in gains["quantity"]],
    })


def format_date(value: Any) -> str:
    d = _as_date(value)
    return "\u2014" if d is None else f"{d:%Y-%m-%d}"


def _band(settings: Settings, measure: str, score: Any) -> str | None:
    definition = settings.measure(measure)
    return definition.band_for(_as_int(score)) if definition else None


def _params(viewer: Viewer, client_id: str, as_of: date, **extra: Any) -> dict[str, Any]:
    # The client is opened whatever the search filters are: only the viewer's scope applies.
    return query_params(viewer, CohortFilter(), client_id=str(client_id), as_of=as_of, **extra)


# ----------------------------------------------------------------------------- on / off track

TRACK_NOTE = (
    "Expected course: the score expected by this week for a client with this intake score, and the range (10th to "
    "90th percentile) where the clinic's discharged clients with a similar intake score usually were, fitted on "
    "the clients you may see (docs/metrics.md, \"Expected recovery curves\"; Finch, Lambert & Schaalje 2001). "
    "Off track: the latest score is worse than that range; the week is when the run of off-track scores began. "
    "A signal to discuss, not a verdict: about one client in ten is outside the range at any score by definition."
)
HOMEWORK_READINGS: dict[str, str] = {
    "none_set": "No homework was set in these weeks.",
    "none_reviewed": "Homework was set but none of it was reviewed: whether it was done is not known.",
    "little": "Little homework done: the reviewed homework of these weeks was mostly not done.",
    "done_not_helping": "Homework done but not helping so far: it was mostly done, and the scores did not follow.",
}


def off_track_homework(weekly: pd.DataFrame, track: Track, settings: Settings) -> dict[str, Any]:
    """The homework of an off-track course: the weeks from the one before the first off-track score
    to the latest score (homework set then could have moved those scores).

    quantity / quality: means of the weeks' assignment fractions, each week weighted by its reviewed
    (rated) assignments. ``reading``: a key of :data:`HOMEWORK_READINGS`: no assignment set
    ("none_set"), none reviewed ("none_reviewed"), quantity below the lower compliance-band edge
    ("little", the QI alert groups' cut) or at or above it ("done_not_helping").
    """
    first = max(0, int(track.since_week or 0) - 1)
    last = max(first, int(track.latest_week if track.latest_week is not None else first))
    weeks = weekly[(weekly["week"] >= first) & (weekly["week"] <= last)] if len(weekly) else weekly
    assignments = int(weeks["assignments"].sum()) if len(weeks) else 0
    reviewed = int(weeks["reviewed"].sum()) if len(weeks) else 0
    rated = int(weeks["quality_rated"].sum()) if len(weeks) and "quality_rated" in weeks else 0

    def mean(column: str, weight: str) -> float | None:
        if not len(weeks) or weight not in weeks:
            return None
        ok = weeks[column].notna() & (weeks[weight] > 0)
        return float((weeks.loc[ok, column] * weeks.loc[ok, weight]).sum() / weeks.loc[ok, weight].sum()) if ok.any() else None

    quantity = mean("quantity", "assignments" if settings.unreviewed_as_not_done else "reviewed")
    quality = mean("quality", "quality_rated")
    if assignments == 0:
        reading = "none_set"
    elif reviewed == 0 and quantity is None:
        reading = "none_reviewed"
    elif quantity is not None and round(quantity, 6) < settings.compliance_band_edges[0]:
        reading = "little"
    else:
        reading = "done_not_helping"
    return {"measure": track.measure, "first_week": first, "last_week": last, "assignments": assignments,
            "reviewed": reviewed, "quality_rated": rated, "quantity": quantity, "quality": quality,
            "reading": reading, "text": HOMEWORK_READINGS[reading]}


def track_rows(review: ClientReview) -> pd.DataFrame:
    """The on / off track signal per measure with the homework beside it, as shown and exported."""
    homework = {h["measure"]: h for h in review.track_homework}
    rows = []
    for track in review.tracks:
        h = homework.get(track.measure)
        rows.append({
            "Measure": track.measure, "Signal": track.label,
            "Homework in the off-track weeks": (
                f"weeks {h['first_week']}\u2013{h['last_week']}: {h['assignments']} set, {h['reviewed']} reviewed, "
                f"quantity {format_percent(h['quantity'])}, quality {format_percent(h['quality'])}" if h else ""),
            "Reading": h["text"] if h else "",
        })
    return pd.DataFrame(rows, columns=["Measure", "Signal", "Homework in the off-track weeks", "Reading"])


# ----------------------------------------------------------------------------- search


def find_clients(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, search: str = "", limit: int = SEARCH_LIMIT
) -> pd.DataFrame:
    """Clients of the cohort the viewer may see whose id contains ``search`` (case-insensitive).

    Prefix matches come first, then by id; at most ``limit`` rows. ``total_matches`` (on
    every row) counts all matches, so the page can say when the list is cut short.
    """
    viewer.require_identifiers()
    text = (search or "").strip() or None
    return db.query("client_review_search", query_params(viewer, cohort, search=text, limit=int(limit)))


# ----------------------------------------------------------------------------- the review


def _measure_table(measure_scores: pd.DataFrame, scores: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per measure: classify_outcomes' columns plus the latest score (in treatment or follow-up)."""
    if measure_scores.empty:
        return measure_scores
    out = classify_outcomes(measure_scores, settings)
    latest = scores.sort_values("administered_date").groupby("measure").tail(1).set_index("measure")
    out["latest_date"] = out["measure"].map(latest["administered_date"])
    out["latest_score"] = out["measure"].map(latest["total_score"])
    out["latest_follow_up"] = out["measure"].map(latest["follow_up"]).astype(bool)
    rows = []
    for row in out.itertuples(index=False):
        definition = settings.measure(row.measure)
        # The headline score: the last in-treatment score (the outcome definition's "last");
        # a client with follow-up scores only has none, and shows the latest follow-up.
        headline = _as_int(row.last_score) if not pd.isna(row.last_date) else _as_int(row.latest_score)
        rows.append(
            {
                "headline_score": headline,
                "headline_date": _as_date(row.last_date) or _as_date(row.latest_date),
                "headline_follow_up": bool(pd.isna(row.last_date)),
                "headline_band": definition.band_for(headline) if definition else None,
                "at_caseness": definition.at_caseness(headline) if definition else None,
                "caseness_threshold": definition.caseness_threshold if definition else None,
                "caseness_text": definition.caseness_text if definition else None,
                "better_text": definition.better_text if definition else None,
                "reliable_change_points": definition.reliable_change if definition else None,
                "latest_band": definition.band_for(_as_int(row.latest_score)) if definition else None,
            }
        )
    extra = pd.DataFrame(rows, index=out.index)
    out = pd.concat([out, extra], axis=1)
    order = settings.ordered_measures(out["measure"])
    return out.set_index("measure").loc[order].reset_index()


def _badges(row: pd.Series) -> list[tuple[str, str]]:
    """(label, colour) badges of one measure row."""
    badges: list[tuple[str, str]] = []
    if row.get("reliable_improvement") is True:
        badges.append(("Reliable improvement", theme.BADGE_BETTER))
    if row.get("reliable_deterioration") is True:
        badges.append(("Reliable deterioration", theme.BADGE_WORSE))
    # "Reliable recovery" (NHS Talking Therapies): recovered AND reliably improved. Crossing the
    # caseness line by less than the reliable change (GAD-7 8 -> 7) is not badged as recovery.
    if row.get("recovered") is True and row.get("reliable_improvement") is True:
        badges.append(("Reliable recovery", theme.BADGE_BETTER))
    elif row.get("recovered") is True:
        badges.append(("Out of caseness, change not reliable", theme.BADGE_NEUTRAL))
    if row.get("at_caseness") is True:
        badges.append(("At caseness", theme.BADGE_NEUTRAL))  # orange means off track only
    return badges


def _cards(measures: pd.DataFrame) -> tuple[dict[str, Any], ...]:
    """The formatted per-measure figures: exactly what the page and the export print."""
    cards = []
    for _, row in measures.iterrows():
        paired = bool(row["paired"])
        headline = row["headline_score"]
        follow_up_note = None
        if bool(row["latest_follow_up"]) and not row["headline_follow_up"]:
            follow_up_note = (
                f"Follow-up after discharge: {_as_int(row['latest_score'])} ({row['latest_band']}) "
                f"on {format_date(row['latest_date'])}"
            )
        if row["headline_follow_up"]:
            kind = "Follow-up score (after discharge)"
        elif paired:
            kind = "Latest score"
        else:
            kind = "Only score so far"
        cards.append(
            {
                "measure": row["measure"],
                "kind": kind,
                "score": "\u2014" if headline is None else str(headline),
                "band": row["headline_band"] or "",
                "date": format_date(row["headline_date"]),
                "first": f"{_as_int(row['first_score'])} on {format_date(row['first_date'])}",
                "change": format_points(row["change"]) if paired else None,
                "change_value": _as_float(row["change"]) if paired else None,
                "n_scores": int(row["n_scores"]),
                "badges": tuple(_badges(row)),
                "follow_up_note": follow_up_note,
                "caseness_threshold": row["caseness_threshold"],
                "caseness_text": row.get("caseness_text"),
                "better_text": row.get("better_text"),
            }
        )
    return tuple(cards)


def _risk(scores: pd.DataFrame, settings: Settings) -> tuple[RiskFlag | None, bool]:
    """Risk flag from the latest PHQ-9 (item 9 > 0), and whether its item 9 is missing."""
    names = [m.name for m in settings.measures if m.key == RISK_MEASURE_KEY]
    phq = scores[scores["measure"].isin(names)].sort_values("administered_date")
    if phq.empty:
        return None, False
    latest = phq.iloc[-1]
    item = _as_int(latest["item_9"])
    if item is None:
        return None, True
    if item <= 0:
        return None, False
    earlier = phq.iloc[:-1]
    earlier_dates = tuple(
        _as_date(d) for d in earlier.loc[earlier["item_9"].fillna(0).astype(int) > 0, "administered_date"]
    )
    flag = RiskFlag(
        measure=str(latest["measure"]),
        date=_as_date(latest["administered_date"]),
        item_9=item,
        total_score=int(latest["total_score"]),
        earlier_dates=earlier_dates,
    )
    return flag, False


def association_pairs(weekly: pd.DataFrame, scores: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Week-level pairs for the within-client association of one measure.

    For each week with reviewed homework (a weekly quantity), the previous score is the latest
    in-treatment score on or before the week's last day and the next score the first in-treatment
    score after it; change = next - previous (points, signed as the scale: negative is improvement
    on a lower-is-better measure, positive on a higher-is-better one).
    """
    columns = ["week", "week_start", "quantity", "previous_date", "previous_score", "next_date", "next_score", "change"]
    s = scores[(scores["measure"] == measure) & ~scores["follow_up"].astype(bool)]
    if "period" in s:  # screening scores before the baseline window (macro score_period) never count
        s = s[s["period"] == "treatment"]
    s = s[["administered_date", "total_score"]].sort_values("administered_date")
    w = weekly[weekly["quantity"].notna()][["week", "week_start", "quantity"]].copy()
    if s.empty or w.empty:
        return pd.DataFrame(columns=columns)
    w["week_end"] = pd.to_datetime(w["week_start"]) + pd.Timedelta(days=6)
    w = w.sort_values("week_end")
    s = s.assign(administered_date=pd.to_datetime(s["administered_date"]))
    prev = pd.merge_asof(
        w, s.rename(columns={"administered_date": "previous_date", "total_score": "previous_score"}),
        left_on="week_end", right_on="previous_date", direction="backward", allow_exact_matches=True,
    )
    nxt = pd.merge_asof(
        w, s.rename(columns={"administered_date": "next_date", "total_score": "next_score"}),
        left_on="week_end", right_on="next_date", direction="forward", allow_exact_matches=False,
    )
    out = prev.merge(nxt[["week", "next_date", "next_score"]], on="week")
    out = out.dropna(subset=["previous_score", "next_score"])
    out["change"] = out["next_score"].astype(float) - out["previous_score"].astype(float)
    return out[columns].reset_index(drop=True)


def association_intervals(pairs: pd.DataFrame) -> pd.DataFrame:
    """The week pairs of :func:`association_pairs` grouped into distinct score intervals.

    One row per (previous_date, next_date): weeks (how many weeks fell in it), quantity (the mean
    of those weeks' quantities) and change (the interval's one change, next - previous score).
    """
    columns = ["previous_date", "next_date", "weeks", "quantity", "change"]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    grouped = pairs.groupby(["previous_date", "next_date"], sort=True).agg(
        weeks=("week", "size"), quantity=("quantity", "mean"), change=("change", "first")
    )
    return grouped.reset_index()[columns]


def association_short(a: Association) -> str:
    """One line: "no clear association: r = -0.42 (95% CI -0.80 to 0.20), n = 9 score intervals", or why none."""
    if not a.shown or a.r is None:
        return (
            f"not shown: {a.n} score interval(s) with homework (needs {MIN_ASSOCIATION_WEEKS})"
        )
    ci = f" (95% CI {a.ci_low:.2f} to {a.ci_high:.2f})" if a.ci_low is not None and a.ci_high is not None else ""
    verdict = "association" if a.clear else "no clear association"
    return f"{verdict}: r = {a.r:.2f}{ci}, n = {a.n} score intervals".replace("-", "\u2212")


def within_client_association(weekly: pd.DataFrame, scores: pd.DataFrame, measure: str,
                              higher_is_better: bool = False) -> Association:
    """Pearson r of homework quantity with the change over the same score interval (one client, one measure).

    n = distinct score intervals (:func:`association_intervals`). The sentence states a direction
    only when the 95% CI excludes 0; otherwise it says there is no clear association. The
    direction is worded in the measure's terms (``higher_is_better``: a rise is improvement, so a
    positive r reads "larger rises"; otherwise a negative r reads "larger drops").
    """
    pairs = association_pairs(weekly, scores, measure)
    intervals = association_intervals(pairs)
    n, weeks = len(intervals), len(pairs)
    if n < MIN_ASSOCIATION_WEEKS:
        return Association(
            measure, n, None, None, None, None, False,
            f"Needs at least {MIN_ASSOCIATION_WEEKS} weeks with reviewed homework falling in at least "
            f"{MIN_ASSOCIATION_WEEKS} different intervals between two {measure} scores; this client has {weeks} "
            f"week(s) in {n} interval(s).",
            pairs, weeks,
        )
    result = pearson(intervals["quantity"], intervals["change"], min_n=MIN_ASSOCIATION_WEEKS)
    if result.r is None:
        return Association(
            measure, n, None, None, None, None, False,
            f"No association can be computed over these {n} score intervals ({result.message}).", pairs, weeks,
        )
    has_ci = result.ci_low is not None and result.ci_high is not None
    clear = has_ci and (result.ci_high < 0 or result.ci_low > 0)
    ci = f", 95% CI {result.ci_low:.2f} to {result.ci_high:.2f}" if has_ci else ""
    numbers = f"(r = {result.r:.2f}{ci}, n = {n} score intervals from {weeks} weeks of homework)"
    if not clear:
        message = (
            f"No clear association between how much of the homework was done and the change in {measure} over the "
            f"same interval: the 95% confidence interval includes 0 {numbers}."
        )
    elif higher_is_better:
        message = (
            f"Over {n} score intervals, intervals in which more of the homework was done were intervals with "
            + ("larger rises" if result.r > 0 else "smaller rises (or falls)")
            + f" in {measure} (higher is better) {numbers}."
        )
    elif result.r < 0:
        message = (
            f"Over {n} score intervals, intervals in which more of the homework was done were intervals with larger "
            f"drops in {measure} {numbers}."
        )
    else:
        message = (
            f"Over {n} score intervals, intervals in which more of the homework was done were intervals with smaller "
            f"drops (or rises) in {measure} {numbers}."
        )
    return Association(
        measure, n, result.r, result.ci_low, result.ci_high, result.p_value, True, message, pairs, weeks, clear
    )


def _since_last_session(
    header: dict[str, Any], scores: pd.DataFrame, assignments: pd.DataFrame, settings: Settings
) -> dict[str, Any]:
    """What was recorded on or after the last session date (the previous session before the next one).

    - new_scores: scores administered on or after that date, with the change from the
      measure's score before it (points) and the band before and after;
    - reviewed: assignments reviewed on or after that date; assigned: assignments set since.
    """
    anchor = header.get("last_session_date")
    result: dict[str, Any] = {
        "session_date": anchor,
        "attended": header.get("last_session_attended"),
        "next_session_date": header.get("next_session_date"),
        "new_scores": pd.DataFrame(),
        "reviewed": pd.DataFrame(),
        "assigned": pd.DataFrame(),
    }
    if anchor is None:
        return result
    ts = pd.Timestamp(anchor)
    rows = []
    for measure, group in scores.sort_values("administered_date").groupby("measure", sort=False):
        definition = settings.measure(measure)
        before = group[group["administered_date"] < ts]
        previous = before.iloc[-1] if len(before) else None
        for _, s in group[group["administered_date"] >= ts].iterrows():
            prev_score = None if previous is None else int(previous["total_score"])
            rows.append(
                {
                    "measure": measure,
                    "date": _as_date(s["administered_date"]),
                    "score": int(s["total_score"]),
                    "band": definition.band_for(int(s["total_score"])) if definition else None,
                    "previous_score": prev_score,
                    "previous_date": None if previous is None else _as_date(previous["administered_date"]),
                    "previous_band": None if previous is None or definition is None else definition.band_for(prev_score),
                    "change": None if prev_score is None else int(s["total_score"]) - prev_score,
                    "follow_up": bool(s["follow_up"]),
                }
            )
            previous = s
    if rows:
        new = pd.DataFrame(rows)
        order = {m: i for i, m in enumerate(settings.ordered_measures(new["measure"]))}
        result["new_scores"] = new.sort_values(["measure", "date"], key=lambda c: c.map(order) if c.name == "measure" else c)
    if not assignments.empty:
        result["reviewed"] = assignments[assignments["reviewed_date"] >= ts].sort_values("reviewed_date")
        result["assigned"] = assignments[assignments["assigned_date"] >= ts].sort_values("assigned_date")
    return result


def _edge_states(header: dict[str, Any], scores: pd.DataFrame, measures: pd.DataFrame,
                 assignments: pd.DataFrame) -> tuple[str, ...]:
    states = []
    if scores.empty:
        states.append("no_scores")
    else:
        if header.get("discharge_date") is not None and scores["follow_up"].astype(bool).all():
            states.append("follow_up_only")
        elif measures.empty:  # every score is a screening score (macro score_period)
            states.append("screening_only")
        elif int(measures["n_scores"].max()) == 1:
            states.append("single_score")
    if assignments.empty:
        states.append("no_homework")
    elif not assignments["reviewed"].astype(bool).any():
        states.append("none_reviewed")
    return tuple(states)


def client_header(db: ClinicDatabase, viewer: Viewer, client_id: str, as_of: date | None = None) -> dict[str, Any] | None:
    """The client's header (clinic, therapist, programme, dates, sessions, weeks), or None if not found."""
    viewer.require_identifiers()
    as_of = as_of or date.today()
    rows = db.query("client_review_client", _params(viewer, client_id, as_of))
    if rows.empty:
        return None
    row = rows.iloc[0]
    header = {
        "client_id": str(row["client_id"]),
        "clinic": row["clinic"],
        "therapist_id": row["therapist_id"],
        "program": None if pd.isna(row["program"]) else row["program"],
        "primary_concern": None if pd.isna(row["primary_concern"]) else row["primary_concern"],
        "intake_date": _as_date(row["intake_date"]),
        "discharge_date": _as_date(row["discharge_date"]),
        "sessions_scheduled": int(row["sessions_scheduled"]),
        "sessions_attended": int(row["sessions_attended"]),
        "sessions_upcoming": int(row["sessions_upcoming"]),
        "last_session_date": _as_date(row["last_session_date"]),
        "last_attended_date": _as_date(row["last_attended_date"]),
        "next_session_date": _as_date(row["next_session_date"]),
        "weeks_in_treatment": int(row["weeks_in_treatment"]),
    }
    header["last_session_attended"] = (
        None if header["last_session_date"] is None else header["last_session_date"] == header["last_attended_date"]
    )
    return header


def contact_gap(review: ClientReview, settings: Settings | None = None) -> str | None:
    """The no-contact flag of a client in treatment on the as-of date (the caseload's rule,
    :func:`analytics.caseload.model.no_recent_contact`), as a sentence, or None."""
    from ..caseload.model import no_recent_contact

    settings = settings or active_settings()
    header = review.header
    discharge, intake, last = header["discharge_date"], header["intake_date"], header["last_attended_date"]
    if (discharge is not None and discharge <= review.as_of) or intake is None or intake > review.as_of:
        return None
    since_contact = None if last is None else (review.as_of - last).days
    since_intake = (review.as_of - intake).days
    if not no_recent_contact(pd.Series([since_contact]), pd.Series([since_intake]), settings.no_contact_days).iloc[0]:
        return None
    gap = f"{since_contact} days (last attended session {format_date(last)})" if last else (
        f"{since_intake} days since intake (no session attended yet)")
    return (f"No contact for {gap}, longer than the clinic's {settings.no_contact_days}-day rule: "
            "check in with the client.")


def header_facts(header: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs of the header, in display order: the page and the export print these."""
    discharge = header["discharge_date"]
    return [
        ("Clinic", str(header["clinic"])),
        ("Therapist", str(header["therapist_id"])),
        ("Programme", header["program"] or "\u2014"),
        ("Primary concern", header["primary_concern"] or "\u2014"),
        ("Intake", format_date(header["intake_date"])),
        ("Discharge", format_date(discharge) if discharge else "In treatment"),
        ("Sessions attended", f"{header['sessions_attended']} of {header['sessions_scheduled']}"),
        ("Weeks in treatment", str(header["weeks_in_treatment"])),
    ]


def _higher_is_better(settings: Settings, measure: str) -> bool:
    definition = settings.measure(measure)
    return definition is not None and definition.higher_is_better


def _homework_totals(rows: pd.DataFrame) -> dict[str, Any]:
    """Assignments, reviewed, quality_rated, quantity and quality of one homework-summary row."""
    if len(rows) and int(rows.iloc[0]["assignments"]) > 0:
        row = rows.iloc[0]
        return {k: (_as_float(row[k]) if k in ("quantity", "quality") else _as_int(row[k]))
                for k in ("assignments", "reviewed", "quality_rated", "quantity", "quality")}
    return {"assignments": 0, "reviewed": 0, "quality_rated": 0, "quantity": None, "quality": None}


def client_review(
    db: ClinicDatabase, viewer: Viewer, client_id: str, as_of: date | None = None, settings: Settings | None = None
) -> ClientReview | None:
    """Everything about one client for the Client review page; None when not found.

    Unknown and out-of-scope clients both give None (the queries return no row either way).
    ``as_of`` (default today) separates past sessions from upcoming ones and ends the
    time in treatment of a client not yet discharged.
    """
    viewer.require_identifiers()
    settings = settings or active_settings()
    as_of = as_of or date.today()
    header = client_header(db, viewer, client_id, as_of)
    if header is None:
        return None
    params = _params(viewer, client_id, as_of, free_text=bool(viewer.can_see_free_text), recent_weeks=RECENT_WEEKS,
                     baseline_days=settings.baseline_days_before_intake,
                     unreviewed_as_not_done=settings.unreviewed_as_not_done)
    scores = db.query("client_review_scores", params)
    sessions = db.query("client_review_sessions", params)
    assignments = db.query("client_review_assignments", params)
    weekly = db.query("client_review_weekly", params)
    summary = db.query("client_review_homework_summary", params)
    measure_scores = db.query("client_measure_scores", params)
    if not viewer.can_see_free_text and "description" in assignments:
        assignments = assignments.drop(columns=["description"])
    scores["band"] = pd.Series(
        [_band(settings, m, v) for m, v in zip(scores["measure"], scores["total_score"], strict=True)],
        index=scores.index, dtype="object",
    )

    measures = _measure_table(measure_scores, scores, settings)
    overall, follow_up = (
        _homework_totals(summary[(summary["section"] == "client") & (summary["key"] == key)])
        for key in ("all", "follow_up")
    )
    periods = summary[summary["section"] == "period"].drop(columns=["section", "missing"]).reset_index(drop=True)
    by_type = (
        summary[summary["section"] == "type"]
        .drop(columns=["section", "sort_order", "missing"])
        .rename(columns={"key": "homework_type"})
        .sort_values(["assignments", "homework_type"], ascending=[False, True])
        .reset_index(drop=True)
    )
    checklist = summary[summary["section"] == "checklist"][["key", "assignments", "missing"]].rename(columns={"key": "item"})
    checklist = checklist.assign(
        label=checklist["item"].map(DESIGN_CHECKLIST_LABELS),
        missing_share=checklist["missing"].astype(float) / checklist["assignments"].astype(float),
        order=checklist["item"].map({k: i for i, k in enumerate(DESIGN_CHECKLIST)}),
    ).sort_values(["missing", "order"], ascending=[False, True]).drop(columns=["order"]).reset_index(drop=True)

    measure_names = list(measures["measure"]) if not measures.empty else []
    associations = tuple(
        within_client_association(weekly, scores, m, _higher_is_better(settings, m)) for m in measure_names
    ) if not weekly.empty else ()
    risk, risk_items_missing = _risk(scores, settings)
    curves = expected_curves(db, viewer, settings=settings, as_of=as_of)
    tracks = tuple(client_track(curves, scores, m, header["intake_date"], settings) for m in measure_names)
    track_homework = tuple(off_track_homework(weekly, t, settings) for t in tracks if t.status == OFF_TRACK)
    return ClientReview(
        client_id=header["client_id"],
        as_of=as_of,
        header=header,
        measures=measures,
        cards=_cards(measures) if not measures.empty else (),
        scores=scores,
        sessions=sessions,
        assignments=assignments,
        weekly=weekly,
        overall=overall,
        follow_up_homework=follow_up,
        periods=periods,
        by_type=by_type,
        checklist_missing=checklist,
        associations=associations,
        risk=risk,
        risk_items_missing=risk_items_missing,
        since_last_session=_since_last_session(header, scores, assignments, settings),
        states=_edge_states(header, scores, measures, assignments),
        free_text=bool(viewer.can_see_free_text) and "description" in assignments,
        sudden_gains=client_gains(scores, weekly, settings),
        tracks=tracks,
        track_homework=track_homework,
    )


def programme_homework(db: ClinicDatabase, viewer: Viewer, program: str | None,
                       settings: Settings | None = None) -> dict[str, Any]:
    """Median client quantity and quality in a programme (clients the viewer may see).

    ``shown`` is False when fewer than ``settings.min_clients_for_statistic`` clients have a
    value: the page then says "too few clients" instead of a median.
    """
    settings = settings or active_settings()
    empty = {"program": program, "clients": 0, "clients_with_quantity": 0, "median_quantity": None,
             "clients_with_quality": 0, "median_quality": None, "shown": False}
    if not program:
        return empty
    # Aggregated in DuckDB from the client values of analytics.metrics.client_homework
    # (one definition: the SQL macro client_homework_rows); one row reaches Python.
    params = query_params(viewer, CohortFilter(programs=(program,)), unreviewed_as_not_done=settings.unreviewed_as_not_done)
    row = db.query("programme_homework", params).iloc[0]
    out = {
        "program": program,
        "clients": int(row["clients"]),
        "clients_with_quantity": int(row["clients_with_quantity"]),
        "median_quantity": _as_float(row["median_quantity"]) if row["clients_with_quantity"] else None,
        "clients_with_quality": int(row["clients_with_quality"]),
        "median_quality": _as_float(row["median_quality"]) if row["clients_with_quality"] else None,
    }
    out["shown"] = out["clients_with_quantity"] >= settings.min_clients_for_statistic
    return out


# ----------------------------------------------------------------------------- tables for display / export


def period_rows(review: ClientReview) -> pd.DataFrame:
    """The last RECENT_WEEKS weeks against the weeks before, formatted for display."""
    labels = {"recent": f"Last {RECENT_WEEKS} weeks", "before": "Weeks before"}
    rows = []
    for _, p in review.periods.iterrows():
        rows.append(
            {
                "Period": labels.get(p["key"], p["key"]),
                "Weeks": f"{int(p['first_week'])}\u2013{int(p['last_week'])}",
                "Set": int(p["assignments"]),
                "Reviewed": int(p["reviewed"]),
                "Quantity": format_percent(p["quantity"]),
                "Quality": format_percent(p["quality"]),
            }
        )
    return pd.DataFrame(rows, columns=["Period", "Weeks", "Set", "Reviewed", "Quantity", "Quality"])


def summary_rows(review: ClientReview, programme: dict[str, Any]) -> pd.DataFrame:
    """The homework summary in one small table (page and export print the same rows)."""
    median_q = format_percent(programme["median_quantity"]) if programme.get("shown") else "too few clients"
    median_l = format_percent(programme["median_quality"]) if programme.get("shown") else "too few clients"
    o = review.overall
    rows = [
        ("Quantity (all assignments)", format_percent(o["quantity"]), f"programme median {median_q}"),
        ("Quality (all assignments)", format_percent(o["quality"]), f"programme median {median_l}"),
        ("Assignments set / reviewed", f"{o['assignments']} / {o['reviewed']}", ""),
    ]
    for _, p in period_rows(review).iterrows():
        rows.append(
            (f"{p['Period']} (weeks {p['Weeks']})", f"quantity {p['Quantity']}, quality {p['Quality']}",
             f"{p['Set']} set, {p['Reviewed']} reviewed")
        )
    missing = review.checklist_missing
    top = missing[missing["missing"] > 0].head(2)
    if len(top):
        rows.append(
            ("Design items most often missing",
             "; ".join(f"{r.label} ({int(r.missing)} of {int(r.assignments)})" for r in top.itertuples()), "")
        )
    for a in review.associations:
        rows.append((f"Homework vs {a.measure} change in the same interval", association_short(a),
                     "association, not proof" if a.shown else ""))
    return pd.DataFrame(rows, columns=["Item", "Value", "Comparison"])


SHORT_CHECKLIST_LABELS: dict[str, str] = {
    "goal_linked": "goal link",
    "rationale_given": "rationale",
    "rehearsed_in_session": "rehearsal",
    "practice_scheduled": "scheduling",
    "obstacles_planned": "obstacle plan",
}


def _tick(value: Any) -> str:
    if value is None or pd.isna(value):
        return "?"
    return "\u2713" if bool(value) else "\u2717"


def _checklist_text(row: pd.Series) -> str:
    """Compact checklist: "5 of 5" or "3 of 5; no rehearsal, no obstacle plan" (unknown counts as not met)."""
    missing = [SHORT_CHECKLIST_LABELS[k] for k in DESIGN_CHECKLIST if row[k] is not True and not (
        not pd.isna(row[k]) and bool(row[k]))]
    text = f"{int(row['checklist_met'])}/{len(DESIGN_CHECKLIST)}"
    return text + ("; no " + ", no ".join(missing) if missing else "")


def _practices_text(completed: Any, planned: Any) -> str:
    if pd.isna(completed):
        return "\u2014" if pd.isna(planned) else f"({int(planned)} planned)"
    return f"{int(completed)}" if pd.isna(planned) else f"{int(completed)} of {int(planned)}"


def assignment_rows(assignments: pd.DataFrame, *, free_text: bool, short: bool = False) -> pd.DataFrame:
    """Assignments formatted for display: dates, type, design checklist, practices, ratings, rater.

    Checklist cells: \u2713 met, \u2717 not met, ? not recorded; practices as "completed of planned".
    ``short`` (the one-page PDF) puts the checklist in one column ("3/5; no rehearsal, ...").
    The description (free text) is included only when ``free_text``.
    """
    out = pd.DataFrame(
        {
            "Assigned": [format_date(d) for d in assignments["assigned_date"]],
            "Reviewed": [format_date(d) if not pd.isna(d) else "not yet" for d in assignments["reviewed_date"]],
            "Week": pd.Series(assignments["week"].to_numpy(), dtype="Int64"),
            "Type": [str(t).replace("_", " ") for t in assignments["homework_type"]],
        }
    )
    if short:
        out = out.drop(columns=["Week"])
        out["Design checklist"] = [_checklist_text(r) for _, r in assignments.iterrows()]
        out["Practices done"] = [_practices_text(c, p) for c, p in
                                 zip(assignments["completed_practices"], assignments["planned_practices"], strict=True)]
    else:
        for k in DESIGN_CHECKLIST:
            out[DESIGN_CHECKLIST_LABELS[k]] = [_tick(v) for v in assignments[k]]
        out["Practices done"] = [_practices_text(c, p) for c, p in
                                 zip(assignments["completed_practices"], assignments["planned_practices"], strict=True)]
    out["Quantity"] = [format_percent(v) for v in assignments["quantity"]]
    out["Quality"] = [format_percent(v) for v in assignments["quality"]]
    out["Rater"] = [("" if pd.isna(v) else str(v)) for v in assignments["rated_by"]]
    if free_text and "description" in assignments:
        out["Description"] = [("" if pd.isna(v) else str(v)) for v in assignments["description"]]
    return out


def since_rows(review: ClientReview) -> pd.DataFrame:
    """"Since last session" as (What, Detail) rows: new scores with their change, reviewed and new assignments."""
    since = review.since_last_session
    rows: list[tuple[str, str]] = []
    if since["session_date"] is None:
        return pd.DataFrame(rows, columns=["What", "Detail"])
    for s in since["new_scores"].itertuples(index=False) if len(since["new_scores"]) else ():
        what = f"{s.measure} on {format_date(s.date)}" + (" (follow-up)" if s.follow_up else "")
        detail = f"{s.score} ({s.band})" if s.band else str(s.score)
        if s.previous_score is not None and not pd.isna(s.previous_score):
            detail += (f"; previous {int(s.previous_score)} ({s.previous_band}) on {format_date(s.previous_date)}: "
                       f"change {format_points(s.change)}")
            if s.band != s.previous_band:
                detail += f", {s.previous_band} \u2192 {s.band}"
        else:
            detail += "; first score of this measure"
        rows.append((what, detail))
    reviewed = since["reviewed"]
    for a in reviewed.itertuples(index=False) if len(reviewed) else ():
        rater = "" if pd.isna(a.rated_by) else f", rated by {a.rated_by}"
        rows.append(
            (f"Reviewed {format_date(a.reviewed_date)}",
             f"{str(a.homework_type).replace('_', ' ')} (set {format_date(a.assigned_date)}): quantity "
             f"{format_percent(a.quantity)}, quality {format_percent(a.quality)}{rater}")
        )
    assigned = since["assigned"]
    for a in assigned.itertuples(index=False) if len(assigned) else ():
        planned = "" if pd.isna(a.planned_practices) else f", {int(a.planned_practices)} practice(s) planned"
        status = "not reviewed yet" if pd.isna(a.reviewed_date) else f"reviewed {format_date(a.reviewed_date)}"
        rows.append(
            (f"Set {format_date(a.assigned_date)}",
             f"{str(a.homework_type).replace('_', ' ')}{planned}; design checklist {int(a.checklist_met)} of "
             f"{len(DESIGN_CHECKLIST)}; {status}")
        )
    if not rows:
        rows.append(("Nothing new", "No scores, reviews or assignments recorded on or after this session."))
    return pd.DataFrame(rows, columns=["What", "Detail"])


def scores_export(review: ClientReview) -> pd.DataFrame:
    """The client's scores for CSV: measure, date, total, band, item 9, follow-up, week since intake."""
    s = review.scores
    out = pd.DataFrame(
        {
            "client_id": review.client_id,
            "measure": s["measure"],
            "administered_date": [format_date(d) for d in s["administered_date"]],
            "total_score": s["total_score"].astype(int),
            "severity_band": s["band"],
            "item_9": s["item_9"],
            "follow_up": s["follow_up"].astype(bool),
            "week_since_intake": s["week"].astype(int),
        }
    )
    return out


def assignments_export(review: ClientReview) -> pd.DataFrame:
    """The client's assignments for CSV (description only when the viewer may see free text)."""
    a = review.assignments.copy()
    a.insert(0, "client_id", review.client_id)
    for col in ("assigned_date", "reviewed_date"):
        a[col] = [format_date(d) if not pd.isna(d) else "" for d in a[col]]
    a = a.rename(columns={"quantity": "quantity_fraction", "quality": "quality_fraction", "week": "week_since_intake"})
    if not review.free_text and "description" in a:
        a = a.drop(columns=["description"])
    return a


def scores_csv(review: ClientReview) -> bytes:
    """The scores CSV under labelled headers (analytics.client_review.tables, analytics.publishing)."""
    from .tables import SCORE_EXPORT_COLUMNS

    return table_csv(scores_export(review), SCORE_EXPORT_COLUMNS)


def assignments_csv(review: ClientReview) -> bytes:
    """The assignments CSV under labelled headers; the description only when the viewer may read it."""
    from .tables import ASSIGNMENT_EXPORT_COLUMNS

    frame = assignments_export(review)
    return table_csv(frame, [c for c in ASSIGNMENT_EXPORT_COLUMNS if c.key in frame.columns])


__all__ = [
    "ASSOCIATION_NOTE",
    "contact_gap",
    "EDGE_STATES",
    "HOMEWORK_READINGS",
    "MIN_ASSOCIATION_WEEKS",
    "NOT_FOUND_MESSAGE",
    "RECENT_WEEKS",
    "SEARCH_LIMIT",
    "SHORT_CHECKLIST_LABELS",
    "TRACK_NOTE",
    "Association",
    "ClientReview",
    "RiskFlag",
    "assignment_rows",
    "assignments_csv",
    "assignments_export",
    "association_intervals",
    "association_pairs",
    "association_short",
    "client_header",
    "client_review",
    "find_clients",
    "format_date",
    "format_percent",
    "format_points",
    "header_facts",
    "off_track_homework",
    "period_rows",
    "programme_homework",
    "scores_csv",
    "scores_export",
    "since_rows",
    "summary_rows",
    "track_rows",
    "within_client_association",
]
