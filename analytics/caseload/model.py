"""A therapist's caseload: the viewer's active clients, sorted by need (issue 15 item 4).

Every figure is computed in the database over the whole caseload (issue 12 item 3, national
scale): the macro ``caseload_client_rows`` (analytics/sql/alert_macros.sql, from the scoped cohort)
gives each active client of the viewer's scope on the data's as-of date their rules and need;
``caseload_counts.sql`` counts them (the tiles) and ``caseload.sql`` lists the first ``limit``
clients in need order with their scores, so at most ``limit`` rows reach Python whatever the
size of the caseload. Every definition is reused (docs/metrics.md, "Caseload"):

- first / latest score, change and reliable change: :func:`analytics.metrics.classify_outcomes`;
  bands: :meth:`analytics.config.MeasureDefinition.band_for` (the listed rows only);
- risk, reliable deterioration and not on track: the QI alert rule (the macro
  ``alert_client_rows``, as :func:`analytics.quality_improvement.model.alert_clients`: same active
  clients, same as-of date, same expected curves);
- homework: the alert rule's last 4 weeks (``quantity_fraction``, ``counted_quantity``,
  ``in_treatment_window``); no recent contact: the macro ``no_recent_contact``.

"Now" is always the data's as-of date (:func:`analytics.data_as_of`), never the wall clock.
Client-level rows: refused for viewers who see aggregates only (qi).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ..client_review.model import format_date, format_percent, format_points
from ..config import Settings, active_settings
from ..data.model import data_as_of
from ..db import ClinicDatabase
from ..drill_down import client_review_href
from ..metrics import classify_outcomes
from ..quality_improvement.model import ALERT_HOMEWORK_WINDOW_WEEKS, alert_rule_params
from ..scope import Viewer, query_params

#: Homework columns cover the assignments set in this many weeks up to the as-of date (the
#: QI alerts' window: the 28 days ending on as_of).
HOMEWORK_WEEKS = ALERT_HOMEWORK_WINDOW_WEEKS
#: Measures always given a column (when configured), scored or not.
ALWAYS_SHOWN_MEASURES = ("PHQ-9", "GAD-7")

# Need, most urgent first: a client is listed under the first that applies (docs/metrics.md).
NEED_RISK = "Risk: PHQ-9 item 9 above 0"
NEED_DETERIORATION = "Reliable deterioration"
NEED_NOT_ON_TRACK = "Not on track"
NEED_OVERDUE = "Measures overdue"
NEED_NO_CONTACT = "No recent contact"
NEED_NONE = ""
NEED_ORDER: tuple[str, ...] = (NEED_RISK, NEED_DETERIORATION, NEED_NOT_ON_TRACK, NEED_OVERDUE, NEED_NO_CONTACT,
                               NEED_NONE)
NO_MEASURE_YET = "no measure recorded"

CLIENT_COLUMNS = [
    "client_id", "clinic", "therapist_id", "program", "intake_date", "days_since_intake", "weeks_since_intake",
    "need", "need_rank", "risk", "deterioration", "not_on_track", "not_on_track_reasons",
    "measures_overdue", "overdue_measures", "no_contact", "last_contact_date", "days_since_contact",
    "homework_set", "homework_reviewed", "homework_quantity", "homework_reviewed_share", "review_link",
]
SCORE_COLUMNS = [
    "client_id", "measure", "n_scores", "first_date", "first_score", "last_date", "last_score", "band",
    "paired", "change", "reliable_improvement", "reliable_deterioration", "days_since_score", "overdue",
]


#: Rows listed by default, and the choices the page offers: the list stops there, the counts never do.
DEFAULT_LIMIT = 200
LIMIT_CHOICES = (200, 1000, 5000)
#: The most rows one caseload query may bring into Python (issue 12 item 3: 10,000 per page).
MAX_LIMIT = 5000
COUNT_KEYS = ("clients", "risk", "deterioration", "not_on_track", "measures_overdue", "no_contact")


@dataclass(frozen=True)
class Caseload:
    """The caseload of one viewer on one as-of date: counts over every active client, and the first
    ``limit`` of them in need order (those with the ``needs`` asked for, when given)."""

    as_of: date | None
    clients: pd.DataFrame  # the listed clients, one row each (CLIENT_COLUMNS), sorted by need
    scores: pd.DataFrame  # one row per listed client and scored measure (SCORE_COLUMNS)
    measures: tuple[str, ...]  # measures given a column, in the settings' order
    measure_overdue_weeks: int
    no_contact_days: int
    homework_weeks: int = HOMEWORK_WEEKS
    #: per need (NEED_ORDER label, in need order): active clients and how many each rule flags
    need_counts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["need", *COUNT_KEYS]))
    limit: int = DEFAULT_LIMIT
    needs: tuple[str, ...] | None = None  # the needs listed (None: every client)

    @property
    def empty(self) -> bool:
        """No active client at all (whatever is listed)."""
        return self.counts()["clients"] == 0

    def counts(self) -> dict[str, int]:
        """Active clients, and how many are flagged by each rule (a client may count under several),
        over the whole caseload."""
        return {key: int(self.need_counts[key].sum()) for key in COUNT_KEYS}

    @property
    def total(self) -> int:
        """The clients the list is drawn from: every active client, or those with the needs asked for."""
        c = self.need_counts
        return int((c["clients"] if self.needs is None else c.loc[c["need"].isin(self.needs), "clients"]).sum())

    @property
    def shown(self) -> int:
        return len(self.clients)

    def listing(self) -> str:
        """What the list holds, in one sentence ("Showing the N ... of M ...")."""
        which = "active clients" if self.needs is None else "active clients with the needs chosen"
        if self.shown >= self.total:
            return f"Showing all {self.total:,} {which}, most in need first."
        return (f"Showing the first {self.shown:,} of {self.total:,} {which}, most in need first: show more rows, "
                "or choose needs, to see the others.")


def count_tiles(result: Caseload) -> list[tuple[str, str, str]]:
    """The caseload's headline counts as (label, value text, help), in the order pages show them
    (the Caseload page and Home), over every active client."""
    counts = result.counts()
    return [(label, f"{counts[key]:,}", help_text) for label, key, help_text in (
        ("Active clients", "clients", "Intake on or before the as-of date; not discharged, or discharged after it."),
        ("Risk flag", "risk", "PHQ-9 item 9 (thoughts of self-harm) above 0 on the latest PHQ-9."),
        ("Not on track", "not_on_track", "The quality-improvement alert rule (risk and reliable deterioration included)."),
        ("Measures overdue", "measures_overdue", f"No score of a measure in the last {result.measure_overdue_weeks} weeks."),
        ("No recent contact", "no_contact", f"No attended session in the last {result.no_contact_days} days."),
    )]


def no_recent_contact(days_since_contact: pd.Series, days_since_intake: pd.Series, no_contact_days: int) -> pd.Series:
    """The no-contact rule (docs/metrics.md, "Caseload"): no attended session in the last
    ``no_contact_days`` days, counting from intake when the client has attended none yet: the SQL
    macro ``no_recent_contact`` (analytics/sql/outcome_macros.sql) the caseload runs in the database.
    Used by the client review."""
    from ..metrics import _on_frames

    frame = pd.DataFrame({
        "_row": np.arange(len(days_since_contact)),
        "since_contact": pd.Series(days_since_contact).astype("Float64").to_numpy(dtype=float, na_value=np.nan),
        "since_intake": pd.Series(days_since_intake).astype("Float64").to_numpy(dtype=float, na_value=np.nan),
    })
    out = _on_frames("SELECT no_recent_contact(CASE WHEN isnan(since_contact) THEN NULL ELSE since_contact END, "
                     "CASE WHEN isnan(since_intake) THEN NULL ELSE since_intake END, $days) AS flag "
                     "FROM contact_days ORDER BY _row", {"days": int(no_contact_days)}, contact_days=frame)
    return pd.Series(out["flag"].to_numpy(dtype=bool), index=pd.Series(days_since_contact).index)


def _empty(as_of: date | None, settings: Settings, overdue_weeks: int, no_contact_days: int, limit: int,
           needs: tuple[str, ...] | None) -> Caseload:
    return Caseload(as_of=as_of, clients=pd.DataFrame(columns=CLIENT_COLUMNS), scores=pd.DataFrame(columns=SCORE_COLUMNS),
                    measures=_shown_measures(settings, []), measure_overdue_weeks=overdue_weeks,
                    no_contact_days=no_contact_days, limit=limit, needs=needs)


def _shown_measures(settings: Settings, scored: list[str]) -> tuple[str, ...]:
    wanted = set(scored) | set(ALWAYS_SHOWN_MEASURES)
    return tuple(m.name for m in settings.measures if m.name in wanted)


def caseload(
    db: ClinicDatabase,
    viewer: Viewer,
    as_of: date | None = None,
    settings: Settings | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    needs: tuple[str, ...] | list[str] | None = None,
) -> Caseload:
    """The viewer's active clients on ``as_of`` (default: the data's as-of date): the counts over
    all of them, and the first ``limit`` (at most :data:`MAX_LIMIT`; 0 = counts only, as Home shows)
    sorted by need, among those whose need is one of ``needs`` (labels of :data:`NEED_ORDER`; None =
    every client).

    Scope: a therapist sees their own clients, a supervisor their clinics' (the viewer's scope,
    enforced in SQL). Need order: risk (PHQ-9 item 9 above 0 at the latest PHQ-9), reliable
    deterioration, not on track (the QI alert rule), measures overdue (a measure the client has
    been scored on has no score in the last ``settings.measure_overdue_weeks`` weeks, or no
    score at all that long after intake), no recent contact (no attended session in the last
    ``settings.no_contact_days`` days, counting from intake when none), then the rest; by client
    id within each. Refused (:class:`analytics.scope.IdentifiersNotPermitted`) for qi viewers.
    """
    viewer.require_identifiers()
    settings = settings or active_settings()
    overdue_weeks, no_contact_days = int(settings.measure_overdue_weeks), int(settings.no_contact_days)
    limit = max(0, min(int(limit), MAX_LIMIT))
    needs = None if needs is None else tuple(n for n in NEED_ORDER if n in set(needs))
    if as_of is None:
        as_of = data_as_of(db, viewer)
    if as_of is None:
        return _empty(None, settings, overdue_weeks, no_contact_days, limit, needs)
    params = query_params(viewer, None, **alert_rule_params(db, viewer, as_of=as_of, settings=settings),
                          overdue_days=7 * overdue_weeks, no_contact_days=no_contact_days)
    counts = db.query("caseload_counts", params)
    counts = counts.assign(need=counts["need_rank"].map(lambda r: NEED_ORDER[int(r) - 1]))[["need", *COUNT_KEYS]]
    if counts.empty or not limit:
        return replace(_empty(as_of, settings, overdue_weeks, no_contact_days, limit, needs), need_counts=counts)
    ranks = None if needs is None else [NEED_ORDER.index(n) + 1 for n in needs]
    rows = db.query("caseload", params | {"limit": limit, "need_ranks": ranks})

    # Scores of the listed clients: one row per client and measure (classify_outcomes' definitions).
    scores = pd.DataFrame([{"client_id": cid, **m} for cid, listed in zip(rows["client_id"], rows["measure_scores"],
                                                                          strict=True) for m in listed],
                          columns=["client_id", "measure", "n_scores", "first_date", "first_score", "last_date",
                                   "last_score", "days_since_score"])
    if len(scores):
        for column in ("first_date", "last_date"):
            scores[column] = pd.to_datetime(scores[column])
        scores = classify_outcomes(scores, settings)
        scores["band"] = [settings.measure(m).band_for(int(s)) for m, s in zip(scores["measure"], scores["last_score"],
                                                                               strict=True)]
        scores["overdue"] = scores["days_since_score"].astype(int) >= 7 * overdue_weeks
    else:
        scores = pd.DataFrame(columns=SCORE_COLUMNS)
    scores = scores[SCORE_COLUMNS].reset_index(drop=True)

    clients = rows.drop(columns="measure_scores")
    clients["need"] = clients["need_rank"].map(lambda r: NEED_ORDER[int(r) - 1]).astype(object)
    clients["need_rank"] = clients["need_rank"].astype(int)
    for column in ("risk", "deterioration", "not_on_track", "measures_overdue", "no_contact"):
        clients[column] = clients[column].astype(bool)
    clients["review_link"] = clients["client_id"].map(client_review_href)
    return Caseload(
        as_of=as_of,
        clients=clients[CLIENT_COLUMNS].reset_index(drop=True),
        scores=scores,
        measures=_shown_measures(settings, list(scores["measure"])),
        measure_overdue_weeks=overdue_weeks,
        no_contact_days=no_contact_days,
        need_counts=counts,
        limit=limit,
        needs=needs,
    )


# ----------------------------------------------------------------------------- table for display

HW = f"({HOMEWORK_WEEKS} wk)"  # the homework columns' period, in their headers


def column_help(result: Caseload, settings: Settings | None = None) -> dict[str, str]:
    """Display header -> what it means (the page's column help; docs/metrics.md, "Caseload").
    The change column says which way is better for that measure (its configured direction)."""
    settings = settings or active_settings()
    per_measure: dict[str, str] = {}
    for m in result.measures:
        definition = settings.measure(m)
        better = "higher" if definition is not None and definition.higher_is_better else "lower"
        per_measure[m] = f"Latest {m} score on or before the as-of date (blank: never scored)."
        per_measure[f"{m} band"] = f"Severity band of the latest {m} score."
        per_measure[f"{m} change"] = (f"Latest minus first {m} score, in points ({better} is better); \"(reliable)\": at "
                                      "least the measure's reliable change. Blank with a single score.")
    return per_measure | {
        "Client": "Opens the client's review.",
        "Need": "The most urgent of: risk, reliable deterioration, not on track, measures overdue, no recent contact.",
        "Therapist": "The client's therapist.",
        "Programme": "The client's programme.",
        "Weeks since intake": "Whole weeks from intake to the data's as-of date.",
        "Risk": "PHQ-9 item 9 (thoughts of self-harm) above 0 on the latest PHQ-9.",
        "Not on track": "The quality-improvement alert rule, with its reasons.",
        "Measures overdue": f"Measures the client has been scored on with no score in the last "
                            f"{result.measure_overdue_weeks} weeks (\"no measure recorded\": none at all that long "
                            "after intake).",
        "Last contact": "The latest attended session.",
        "Days since contact": "Days from the latest attended session to the data's as-of date.",
        f"Homework set {HW}": f"Assignments set in the last {HOMEWORK_WEEKS} weeks.",
        f"Homework quantity {HW}": f"Mean share done of the reviewed assignments set in the last {HOMEWORK_WEEKS} "
                                   "weeks.",
        f"Homework reviewed {HW}": f"Reviewed share of the assignments set in the last {HOMEWORK_WEEKS} weeks.",
    }


def _true(value: Any) -> bool:
    return value is not None and not pd.isna(value) and bool(value)


def _measure_cells(result: Caseload) -> dict[str, dict[str, list[Any]]]:
    """Per shown measure: latest score, band and change of each listed client (in list order)."""
    ids = result.clients["client_id"]
    out: dict[str, dict[str, list[Any]]] = {}
    for measure in result.measures:
        rows = result.scores[result.scores["measure"] == measure].set_index("client_id").reindex(ids)
        change = []
        for paired, points, better, worse in zip(rows["paired"], rows["change"], rows["reliable_improvement"],
                                                 rows["reliable_deterioration"], strict=True):
            text = format_points(points) if _true(paired) else ""
            if text and (_true(better) or _true(worse)):
                text += " (reliable)"  # the sign says which way (column help: the measure's direction)
            change.append(text)
        out[measure] = {
            measure: [None if pd.isna(v) else int(v) for v in rows["last_score"]],
            f"{measure} band": [b if isinstance(b, str) else "" for b in rows["band"]],
            f"{measure} change": change,
        }
    return out


def caseload_table(result: Caseload, *, show_therapist: bool = True) -> pd.DataFrame:
    """The caseload as the page shows it: labelled columns, rounded, in need order.

    "Client" holds the deep link (``client_review?client=ID``); the page shows the id as the
    link text. Percentages are whole percents, changes signed points, dates ISO.
    """
    c = result.clients
    table: dict[str, Any] = {"Client": list(c["review_link"]), "Need": list(c["need"])}
    if show_therapist:
        table["Therapist"] = list(c["therapist_id"])
    table["Programme"] = [p if isinstance(p, str) else "\u2014" for p in c["program"]]
    table["Weeks since intake"] = [int(w) for w in c["weeks_since_intake"]]
    for cells in _measure_cells(result).values():
        table.update(cells)
    table["Risk"] = ["Yes" if r else "" for r in c["risk"]]
    table["Not on track"] = [reasons if flagged else "" for flagged, reasons in zip(c["not_on_track"],
                                                                                   c["not_on_track_reasons"], strict=True)]
    table["Measures overdue"] = list(c["overdue_measures"])
    table["Last contact"] = [format_date(d) for d in c["last_contact_date"]]
    table["Days since contact"] = [None if pd.isna(d) else int(d) for d in c["days_since_contact"]]
    table[f"Homework set {HW}"] = [int(n) for n in c["homework_set"]]
    table[f"Homework quantity {HW}"] = [format_percent(v) for v in c["homework_quantity"]]
    table[f"Homework reviewed {HW}"] = [format_percent(v) for v in c["homework_reviewed_share"]]
    out = pd.DataFrame(table)
    for measure in result.measures:
        out[measure] = out[measure].astype("Int64")
    out["Days since contact"] = out["Days since contact"].astype("Int64")
    return out


__all__ = [
    "Caseload",
    "DEFAULT_LIMIT",
    "LIMIT_CHOICES",
    "MAX_LIMIT",
    "count_tiles",
    "HOMEWORK_WEEKS",
    "NEED_ORDER",
    "caseload",
    "caseload_table",
    "column_help",
    "client_review_href",
]
