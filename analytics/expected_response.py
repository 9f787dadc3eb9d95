"""Expected treatment response from the clinic's own history, and the early-warning signal.

A client's course on a measure is read against the course that the clinic's *discharged*
clients with a similar intake score took (Finch, Lambert & Schaalje 2001; Lambert et al. 2002;
docs/metrics.md, "Expected recovery curves"):

* **Expected score.** For week t since intake and intake score x0 (the client's first treatment
  score, given in weeks 0-1), ``expected = x0 + (c0 + c1 * x0) * L`` with
  ``L = ln(t + 1) - ln(t0 + 1)`` (t0: the week of the intake score, usually 0). That is the
  regression of score on ln(weeks + 1), the intake score and their interaction, with the intake
  score as an offset so the curve starts at the client's own intake score. c0 and c1 are fitted
  by weighted least squares on every later treatment score of the discharged clients, each
  client weighing 1 whatever their number of scores. Change is fast early and slows (log shape);
  a higher intake drops further (c1 < 0 on a lower-is-better measure).
* **Band.** Where clients with that intake score usually are: the 10th and 90th percentiles of
  the residuals (score - expected) in the same week band (0-2, 3-4, 5-6, 7-9, 10-13, 14+) and
  the same intake-severity third, each client weighing 1 in a cell. A cell with fewer than
  :data:`MIN_CELL_CLIENTS` clients uses the week band over all intakes, then the intake third over
  all weeks, then all residuals.
* **Off track.** A score worse than the band (above the 90th percentile when lower is better,
  below the 10th when higher is better). A client is "off track since week W" when their latest
  treatment score is off track; W is the first week of the run of off-track scores that ends
  with it. Otherwise "on track".
* **History.** Curves are fitted per measure from the discharged clients the viewer may see
  (their scope; the cohort filters do not narrow it), and only when at least
  :data:`MIN_HISTORY_CLIENTS` of them have an intake score and a later score. With less, there
  is no curve and callers fall back to the fixed not-on-track rule. The whole network's and each
  clinic's curves are fitted at import and stored (analytics/stored.py); other fits are cached per
  data version and scope (:func:`expected_curves`).

The pages fit in DuckDB (:func:`fit_curves_in_db`, query ``expected_response_fit``), so only the
fitted numbers reach Python; :func:`fit_curve` (numpy and pandas) is the reference it is tested
equal to, and the back-test's fit. No Streamlit.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .config import MeasureDefinition, Settings, active_settings
from .db import ClinicDatabase
from .privacy import WITHHELD_TEXT, settings_policy
from .scope import CohortFilter, Viewer, query_params
from .stored import fit_scope_of

MIN_HISTORY_CLIENTS = 30  # discharged clients with an intake score and a later score, per measure
MIN_CELL_CLIENTS = 30  # clients in a residual cell (week band x intake third)
INTAKE_SCORE_MAX_WEEK = 1  # the intake score is the first treatment score, given in week 0 or 1
BAND_QUANTILES = (0.10, 0.90)
WEEK_BAND_UPPER = (2, 4, 6, 9, 13, math.inf)  # week bands 0-2, 3-4, 5-6, 7-9, 10-13, 14+
WEEK_BAND_LABELS = ("0-2", "3-4", "5-6", "7-9", "10-13", "14+")
BACKTEST_WEEKS = (3, 4, 6)
BACKTEST_TRAIN_SHARE = 0.6  # default split: the intake date before which 60% of discharged clients started
FIT_CACHE_SIZE = 32

ON_TRACK = "on_track"
OFF_TRACK = "off_track"
NO_LATER_SCORE = "no_later_score"
NO_INTAKE_SCORE = "no_intake_score"
NO_CURVE = "no_curve"


# ----------------------------------------------------------------------------- the curve


@dataclass(frozen=True)
class ExpectedCurve:
    """One measure's fitted expected-response curve and band (see the module docstring)."""

    measure: str
    higher_is_better: bool
    min_score: float
    max_score: float
    c0: float  # points per ln-week at intake score 0
    c1: float  # extra points per ln-week per intake point
    n_clients: int  # discharged clients the curve was fitted on
    n_scores: int  # their later treatment scores
    intake_cuts: tuple[float, float]  # intake-severity thirds: < cut 1, < cut 2, the rest
    #: residual (low, high) quantiles: cells[(week band, intake third)]; -1 = pooled over that axis
    cells: tuple[tuple[int, int, float, float, int], ...]

    def _lookup(self) -> dict[tuple[int, int], tuple[float, float]]:
        return {(b, t): (lo, hi) for b, t, lo, hi, _ in self.cells}

    def expected(self, intake: Any, weeks: Any, intake_weeks: Any = 0.0) -> np.ndarray:
        """Expected score(s) at ``weeks`` since intake for intake score(s) ``intake`` (vectorised;
        the SQL macro ``expected_course_score``, analytics/sql/outcome_macros.sql)."""
        x0, w, t0 = np.broadcast_arrays(np.asarray(intake, dtype=float), np.asarray(weeks, dtype=float),
                                        np.asarray(intake_weeks, dtype=float))
        return self._evaluate("expected", x0, w, t0)[0].reshape(x0.shape)

    def band(self, intake: Any, weeks: Any, intake_weeks: Any = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(low, high): the 10th and 90th percentile scores of clients with that intake score at
        ``weeks`` (the band of ``course_positions``, analytics/sql/outcome_macros.sql)."""
        x0, w, t0 = np.broadcast_arrays(np.atleast_1d(np.asarray(intake, dtype=float)),
                                        np.atleast_1d(np.asarray(weeks, dtype=float)), np.asarray(intake_weeks, dtype=float))
        _, low, high = self._evaluate("band", x0, w, t0)
        return low.reshape(x0.shape), high.reshape(x0.shape)

    def _evaluate(self, what: str, x0: np.ndarray, w: np.ndarray, t0: np.ndarray) -> tuple[np.ndarray, ...]:
        """The expected score and band edges of points (x0, weeks, intake weeks), by the SQL macros."""
        from .metrics import _on_frames

        points = pd.DataFrame({"_row": np.arange(x0.size), "x0": x0.ravel(), "w": w.ravel(), "t0": t0.ravel()})
        out = _on_frames("SELECT * FROM expected_course_points(course_points, $curve) ORDER BY _row",
                         {"curve": self.parameter()}, course_points=points)
        return tuple(out[c].to_numpy(dtype=float) for c in ("expected", "low", "high"))

    def parameter(self) -> dict[str, Any]:
        """The curve as the SQL macros take it (one element of ``$curves``: :func:`curves_parameter`)."""
        cells = 3 * len(WEEK_BAND_LABELS)
        table = self._table() if self.cells else np.full((len(WEEK_BAND_LABELS), 3, 2), np.nan)  # fitting: no band yet
        return {
            "measure": self.measure, "higher_is_better": bool(self.higher_is_better),
            "min_score": float(self.min_score), "max_score": float(self.max_score),
            "c0": float(self.c0), "c1": float(self.c1),
            "cut_1": float(self.intake_cuts[0]), "cut_2": float(self.intake_cuts[1]),
            "intake_max_week": INTAKE_SCORE_MAX_WEEK,
            "week_band_upper": [float(u) for u in WEEK_BAND_UPPER if math.isfinite(u)],
            "low": [None if np.isnan(v) else float(v) for v in table[:, :, 0].ravel()][:cells],
            "high": [None if np.isnan(v) else float(v) for v in table[:, :, 1].ravel()][:cells],
        }

    def _table(self) -> np.ndarray:
        """(week band, intake third, low/high) residual quantiles with the pooled fall-backs resolved."""
        lookup = self._lookup()
        table = np.empty((len(WEEK_BAND_LABELS), 3, 2))
        for b in range(len(WEEK_BAND_LABELS)):
            for t in range(3):
                table[b, t] = _cell_value(lookup, b, t)
        return table

    def intake_third(self, intake: Any) -> np.ndarray:
        x0 = np.atleast_1d(np.asarray(intake, dtype=float))
        return np.searchsorted(np.asarray(self.intake_cuts), x0, side="right")

    def describe(self) -> str:
        """The fitted model in one sentence (docs, the page's notes)."""
        return (f"{self.measure}: expected = intake + ({self.c0:.2f} {'+' if self.c1 >= 0 else '-'} "
                f"{abs(self.c1):.3f} x intake) x ln(weeks + 1); fitted on {self.n_clients} discharged clients "
                f"({self.n_scores} later scores); band = 10th-90th percentile of clients with a similar intake.")


def curves_parameter(curves: CurveSet) -> list[dict[str, Any]]:
    """The fitted curves of ``curves`` as the SQL macros take them (``$curves`` of ``course_positions``
    / ``course_tracks``, analytics/sql/outcome_macros.sql); an empty list when none is fitted."""
    return [curve.parameter() for _, curve, _ in curves.curves if curve is not None]


def _cell_value(lookup: dict[tuple[int, int], tuple[float, float]], band: int, third: int) -> tuple[float, float]:
    for key in ((band, third), (band, -1), (-1, third), (-1, -1)):
        if key in lookup:
            return lookup[key]
    raise KeyError("the curve has no pooled residual cell")  # never: fit_curve always stores (-1, -1)


def week_band(weeks: Any) -> np.ndarray:
    """Index into :data:`WEEK_BAND_LABELS` of each week since intake (week 0-2 -> 0, ..., 14+ -> 5)."""
    w = np.atleast_1d(np.asarray(weeks, dtype=float))
    return np.searchsorted(np.asarray(WEEK_BAND_UPPER), np.floor(np.maximum(w, 0.0)), side="left")


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Weighted quantiles (inverse of the weighted empirical CDF at mid-points, as np.quantile's
    'linear' method when every weight is 1)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w) - w / 2.0
    cum /= w.sum()
    return [float(np.interp(q, cum, v)) for q in qs]


def prepare_history(history: pd.DataFrame) -> pd.DataFrame:
    """Per score: the client's intake score and week, the score's week and ln-week offset.

    ``history``: client_id, measure, days (since intake), week, total_score, administered_date,
    discharge_date (the ``expected_response_scores`` query). Adds intake_score, intake_weeks,
    weeks (days / 7, from 0), log_weeks (ln(weeks + 1) - ln(intake_weeks + 1)), is_intake (the
    first score), n_later (the client's later scores on the measure) and usable (the client has an
    intake score in weeks 0-1).
    """
    h = history.sort_values(["measure", "client_id", "administered_date"], kind="stable").reset_index(drop=True)
    weeks = np.maximum(h["days"].to_numpy(dtype=float), 0.0) / 7.0
    h["weeks"] = weeks
    h["series"] = h.groupby(["measure", "client_id"], sort=False).ngroup().to_numpy()  # one integer per course
    group = h.groupby("series", sort=False)
    h["intake_score"] = group["total_score"].transform("first")
    h["intake_weeks"] = group["weeks"].transform("first")
    h["intake_week"] = group["week"].transform("first")
    h["is_intake"] = group.cumcount() == 0
    h["log_weeks"] = np.log1p(weeks) - np.log1p(h["intake_weeks"].to_numpy(dtype=float))
    later = ~h["is_intake"] & (h["log_weeks"] > 0)
    h["later"] = later
    h["n_later"] = later.groupby(h["series"]).transform("sum")
    h["usable"] = h["intake_week"] <= INTAKE_SCORE_MAX_WEEK
    return h


def fit_curve(prepared: pd.DataFrame, definition: MeasureDefinition,
              min_clients: int = MIN_HISTORY_CLIENTS) -> ExpectedCurve | None:
    """The expected curve of one measure from its prepared history (:func:`prepare_history`) of
    discharged clients, or None when fewer than ``min_clients`` have an intake score and a later score."""
    rows = prepared[prepared["usable"] & prepared["later"]]
    clients = rows["series"].unique()  # one course per client within a measure
    if len(clients) < max(int(min_clients), 3):
        return None
    y = rows["total_score"].to_numpy(dtype=float)
    x0 = rows["intake_score"].to_numpy(dtype=float)
    log_weeks = rows["log_weeks"].to_numpy(dtype=float)
    weight = 1.0 / rows["n_later"].to_numpy(dtype=float)  # each client weighs 1
    design = np.column_stack([log_weeks, x0 * log_weeks])
    root = np.sqrt(weight)
    (c0, c1), *_ = np.linalg.lstsq(design * root[:, None], (y - x0) * root, rcond=None)

    intakes = prepared.loc[prepared["usable"] & prepared["is_intake"] & (prepared["n_later"] > 0), "intake_score"]
    intakes = intakes.to_numpy(dtype=float)
    cuts = tuple(float(c) for c in np.quantile(intakes, [1 / 3, 2 / 3]))
    curve = ExpectedCurve(definition.name, definition.higher_is_better, float(definition.min_score),
                          float(definition.max_score), float(c0), float(c1), len(clients), len(rows),
                          (cuts[0], cuts[1]), ())
    residual = y - curve.expected(x0, rows["weeks"].to_numpy(dtype=float), rows["intake_weeks"].to_numpy(dtype=float))
    client = pd.factorize(rows["series"].to_numpy())[0]
    bands, thirds = week_band(rows["weeks"].to_numpy(dtype=float)), curve.intake_third(x0)
    cells: list[tuple[int, int, float, float, int]] = []
    for by_band, by_third in ((True, True), (True, False), (False, True), (False, False)):
        key = (bands * 3 + thirds if by_band and by_third else bands if by_band else thirds if by_third
               else np.zeros(len(bands), dtype=np.int64))
        pair = key.astype(np.int64) * (int(client.max()) + 1) + client  # one id per (cell, client)
        _, pair_index, pair_count = np.unique(pair, return_inverse=True, return_counts=True)
        weight = 1.0 / pair_count[pair_index]  # each client weighs 1 in a cell
        for value in np.unique(key):
            mask = key == value
            n = len(np.unique(client[mask]))
            if (by_band or by_third) and n < MIN_CELL_CLIENTS:
                continue
            lo, hi = _weighted_quantiles(residual[mask], weight[mask], BAND_QUANTILES)
            band = int(value // 3 if by_third else value) if by_band else -1
            third = int(value % 3 if by_band else value) if by_third else -1
            cells.append((band, third, lo, hi, int(n)))
    return ExpectedCurve(**{**curve.__dict__, "cells": tuple(cells)})


# ----------------------------------------------------------------------------- data and cache


def response_history(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, *,
                     settings: Settings | None = None, client_id: str | None = None,
                     open_on: date | None = None) -> pd.DataFrame:
    """Every treatment score of the cohort's clients on the configured measures (query
    ``expected_response_scores``), in the viewer's scope; with ``open_on``, only the clients in
    treatment on that date and their scores up to it."""
    settings = settings or active_settings()
    return db.query("expected_response_scores", query_params(
        viewer, cohort, measures=[m.name for m in settings.measures],
        baseline_days=settings.baseline_days_before_intake, client_id=client_id, open_on=open_on))


@dataclass(frozen=True)
class CurveSet:
    """Per measure: the fitted curve, or None with the number of clients the history had."""

    curves: tuple[tuple[str, ExpectedCurve | None, int], ...]  # (measure, curve, clients in history)
    fit_before: date | None = None  # fitted on clients with intake before this date (back-test)

    def curve(self, measure: str) -> ExpectedCurve | None:
        for name, curve, _ in self.curves:
            if name == measure:
                return curve
        return None

    def history_clients(self, measure: str) -> int:
        for name, _, n in self.curves:
            if name == measure:
                return n
        return 0

    def fallback_note(self, measure: str) -> str:
        """Why a measure has no curve, in one sentence."""
        return (f"No expected curve for {measure}: {self.history_clients(measure)} discharged client(s) with an "
                f"intake score and a later score in your view (at least {MIN_HISTORY_CLIENTS} needed).")


def fit_curves(history: pd.DataFrame, settings: Settings, *, fit_before: date | None = None,
               as_of: date | None = None, min_clients: int = MIN_HISTORY_CLIENTS) -> CurveSet:
    """Fit every configured measure's curve on the discharged clients of ``history`` (intake before
    ``fit_before`` when given; discharged on or before ``as_of`` when given)."""
    return _fit_prepared(prepare_history(history), settings, fit_before=fit_before, as_of=as_of,
                         min_clients=min_clients)


def _fit_prepared(prepared: pd.DataFrame, settings: Settings, *, fit_before: date | None = None,
                  as_of: date | None = None, min_clients: int = MIN_HISTORY_CLIENTS) -> CurveSet:
    done = prepared["discharge_date"].notna()
    if as_of is not None:
        done &= pd.to_datetime(prepared["discharge_date"]) <= pd.Timestamp(as_of)
    if fit_before is not None:
        done &= pd.to_datetime(prepared["intake_date"]) < pd.Timestamp(fit_before)
    train = prepared[done]
    out = []
    for definition in settings.measures:
        part = train[train["measure"] == definition.name]
        n = int(part.loc[part["usable"] & part["later"], "series"].nunique())
        out.append((definition.name, fit_curve(part, definition, min_clients), n))
    return CurveSet(tuple(out), fit_before)


def fit_parameters(settings: Settings, min_clients: int = MIN_HISTORY_CLIENTS) -> dict[str, Any]:
    """The parameters of the query ``expected_response_fit`` that are not the scope, the dates
    ($as_of, $fit_before) nor $by_clinic: the settings and constants the fit depends on."""
    measures = list(settings.measures)
    return {
        "measures": [m.name for m in measures], "baseline_days": int(settings.baseline_days_before_intake),
        "intake_max_week": INTAKE_SCORE_MAX_WEEK, "min_clients": max(int(min_clients), 3),
        "min_cell_clients": MIN_CELL_CLIENTS, "intake_thirds": [1 / 3, 2 / 3],
        "band_low": BAND_QUANTILES[0], "band_high": BAND_QUANTILES[1],
        "week_band_upper": [float(u) for u in WEEK_BAND_UPPER if math.isfinite(u)],
        "min_scores": [float(m.min_score) for m in measures], "max_scores": [float(m.max_score) for m in measures],
    }


def fit_key(settings: Settings, min_clients: int = MIN_HISTORY_CLIENTS) -> str:
    """What a fit depends on besides its scope and dates, as one string: a hash of
    :func:`fit_parameters` and of the fit's SQL (the query and the definitions of the macros it
    uses, comments left out: :func:`analytics.db.query_dependencies`). The import stores the fits
    with the key they were made under (analytics/stored.py); a stored fit is read only under the
    same key, so other settings, or code whose fit differs, fit anew. Editing a macro the fit does
    not use keeps the key: at a national scale a fit anew takes longer than a page may (bug: every
    edit of macros.sql made the stored fits stale until the next import, and the QI page of a
    1M-client network timed out fitting them)."""
    from .db import query_dependencies

    h = hashlib.sha256(json.dumps(fit_parameters(settings, min_clients), sort_keys=True).encode())
    for text in query_dependencies("expected_response_fit"):
        h.update(text.encode())
    return h.hexdigest()


def _stored_fit_applies(db: ClinicDatabase, viewer: Viewer, settings: Settings, fit_before: date | None,
                        as_of: date | None, min_clients: int) -> bool:
    """Whether the fit stored at import for the viewer's scope is the fit asked for: a stored scope
    (the whole network or one clinic; never a therapist's caseload, :func:`analytics.stored.fit_scope_of`),
    the same key (:func:`fit_key`), no ``fit_before``, and no ``as_of`` or one on or after the latest
    discharge date of the scope's clients: the query trains on the clients discharged on or before
    ``as_of``, which are then all the discharged clients, as in the stored fit (``as_of`` bounds
    nothing else in the query)."""
    scope = fit_scope_of(viewer)
    stored = db.stored_fit_scopes.get(scope) if scope is not None else None
    if stored is None or fit_before is not None:
        return False
    latest_discharge, key = stored
    return key == fit_key(settings, min_clients) and (as_of is None or latest_discharge is None
                                                       or as_of >= latest_discharge)


def fit_curves_in_db(db: ClinicDatabase, viewer: Viewer, *, settings: Settings | None = None,
                     fit_before: date | None = None, as_of: date | None = None,
                     min_clients: int = MIN_HISTORY_CLIENTS) -> CurveSet:
    """:func:`fit_curves` on the viewer's scope, fitted in DuckDB (query ``expected_response_fit``):
    only the coefficients, intake cuts and band cells reach Python, never the scores (at a national
    scale the history is millions of scores). :func:`fit_curves` is the reference it is tested
    against (tests/test_expected_response.py).

    The import stores the fits of the whole network and of each clinic under its settings
    (analytics/stored.py, the same query): when the viewer's scope and the request match a stored
    fit (:func:`_stored_fit_applies`), its rows are read (query ``expected_response_fit_stored``)
    instead of fitting again; otherwise the query runs on the viewer's scope."""
    settings = settings or active_settings()
    measures = list(settings.measures)
    if _stored_fit_applies(db, viewer, settings, fit_before, as_of, min_clients):
        rows = db.query("expected_response_fit_stored", query_params(viewer, None))
    else:
        rows = db.query("expected_response_fit", query_params(
            viewer, None, as_of=as_of, fit_before=fit_before, by_clinic=False, **fit_parameters(settings, min_clients)))
    out = []
    for definition in measures:
        part = rows[rows["measure"] == definition.name]
        n = int(part["n_clients"].iloc[0]) if len(part) else 0
        if part.empty or pd.isna(part["c0"].iloc[0]):
            out.append((definition.name, None, n))
            continue
        first = part.iloc[0]
        # the cells in fit_curve's order: by band and third, by band, by third, pooled
        level = (part["band"] < 0).astype(int) * 2 + (part["third"] < 0).astype(int)
        part = part.assign(level=level).sort_values(["level", "band", "third"], kind="stable")
        cells = tuple((int(b), int(t), float(lo), float(hi), int(k)) for b, t, lo, hi, k in zip(
            part["band"], part["third"], part["low"], part["high"], part["cell_clients"], strict=True))
        out.append((definition.name, ExpectedCurve(
            definition.name, definition.higher_is_better, float(definition.min_score), float(definition.max_score),
            float(first["c0"]), float(first["c1"]), n, int(first["n_scores"]),
            (float(first["cut_1"]), float(first["cut_2"])), cells), n))
    return CurveSet(tuple(out), fit_before)


_FIT_CACHE: OrderedDict[tuple, CurveSet] = OrderedDict()
_FIT_LOCK = threading.Lock()


def clear_curve_cache() -> None:
    """Forget every fitted curve kept by :func:`expected_curves` (a cold start, for the benchmark)."""
    with _FIT_LOCK:
        _FIT_CACHE.clear()


def expected_curves(db: ClinicDatabase, viewer: Viewer, *, settings: Settings | None = None,
                    fit_before: date | None = None, as_of: date | None = None) -> CurveSet:
    """The curves of the viewer's scope (every discharged client they may see; discharged on or
    before ``as_of`` when given, so a report dated in the past uses only what was known then),
    fitted once per data version, scope, settings and date and kept in a small in-process cache (the
    pages also cache their results by data version: ui.run)."""
    settings = settings or active_settings()
    clinics = None if viewer.scope_clinics is None else tuple(viewer.scope_clinics)  # () = no clinic at all
    key = (str(db.path), str(getattr(db, "version", "")), clinics, viewer.scope_therapist, settings.measures,
           settings.baseline_days_before_intake, fit_before, as_of)
    with _FIT_LOCK:
        if key in _FIT_CACHE:
            _FIT_CACHE.move_to_end(key)
            return _FIT_CACHE[key]
    curves = fit_curves_in_db(db, viewer, settings=settings, fit_before=fit_before, as_of=as_of)
    with _FIT_LOCK:
        _FIT_CACHE[key] = curves
        while len(_FIT_CACHE) > FIT_CACHE_SIZE:
            _FIT_CACHE.popitem(last=False)
    return curves


# ----------------------------------------------------------------------------- reading a course


COURSE_COLUMNS = ["client_id", "measure", "administered_date", "days", "week", "total_score"]


def score_positions(curve: ExpectedCurve, prepared: pd.DataFrame) -> pd.DataFrame:
    """Each later score of ``prepared`` (one measure; :func:`prepare_history` or the
    expected_response_scores rows) with its expected score, band and off-track flag: the SQL macro
    ``course_positions`` (analytics/sql/outcome_macros.sql) on the frame, in course and date order.
    Columns: client_id, measure, administered_date, days, week, total_score, weeks, intake_score,
    intake_weeks, expected, low, high, off_track."""
    from .metrics import _on_frames

    course = prepared[COURSE_COLUMNS].assign(measure=curve.measure)
    return _on_frames("SELECT * FROM course_positions(course_scores, $curves) "
                      "ORDER BY measure, client_id, administered_date, total_score",
                      {"curves": [curve.parameter()]}, course_scores=course).reset_index(drop=True)


def latest_tracks(curve: ExpectedCurve, prepared: pd.DataFrame) -> pd.DataFrame:
    """Per client (one measure): the status at their latest score and, when off track, the week
    and date the run of off-track scores began: the SQL macro ``course_tracks``
    (analytics/sql/outcome_macros.sql), the one the caseload and the alerts run in the database."""
    from .metrics import _on_frames

    columns = ["client_id", "status", "since_week", "since_date", "latest_week", "latest_date"]
    course = prepared[COURSE_COLUMNS].assign(measure=curve.measure)
    out = _on_frames("SELECT * FROM course_tracks(course_scores, $curves) ORDER BY client_id",
                     {"curves": [curve.parameter()]}, course_scores=course)
    out["since_week"] = out["since_week"].astype(object).where(out["status"] == OFF_TRACK, None)
    out["since_date"] = out["since_date"].astype(object).where(out["status"] == OFF_TRACK, None)
    return out[columns].reset_index(drop=True)


@dataclass(frozen=True)
class Track:
    """One client's course on one measure against the expected curve."""

    measure: str
    status: str  # ON_TRACK, OFF_TRACK, NO_LATER_SCORE, NO_INTAKE_SCORE or NO_CURVE
    message: str
    since_week: int | None = None
    since_date: date | None = None
    latest_week: int | None = None
    points: pd.DataFrame | None = None  # administered_date, week, total_score, expected, low, high, off_track
    curve: pd.DataFrame | None = None  # week, week_start, expected, low, high: the band to draw

    @property
    def label(self) -> str:
        if self.status == OFF_TRACK:
            return f"Off track since week {self.since_week}"
        if self.status == ON_TRACK:
            return "On track"
        return "Not assessed"


def client_track(curves: CurveSet, scores: pd.DataFrame, measure: str, intake_date: date | None,
                 settings: Settings | None = None) -> Track:
    """One client's course on ``measure``: ``scores`` are the client review's scores (measure,
    administered_date, total_score, week, period)."""
    settings = settings or active_settings()
    curve = curves.curve(measure)
    if curve is None:
        return Track(measure, NO_CURVE, curves.fallback_note(measure))
    s = scores[scores["measure"] == measure]
    if "period" in s:
        s = s[s["period"] == "treatment"]
    if s.empty or intake_date is None:
        return Track(measure, NO_LATER_SCORE, f"No {measure} score in treatment yet.")
    intake = pd.Timestamp(intake_date)
    history = pd.DataFrame({
        "client_id": "client", "measure": measure, "administered_date": pd.to_datetime(s["administered_date"]),
        "days": (pd.to_datetime(s["administered_date"]) - intake).dt.days, "week": s["week"].astype(int),
        "total_score": s["total_score"].astype(float),
    })
    prepared = prepare_history(history)
    first = prepared.iloc[0]
    if not bool(first["usable"]):
        return Track(measure, NO_INTAKE_SCORE,
                     f"The first {measure} score was given in week {int(first['week'])}: the expected curve needs an "
                     f"intake score in week 0 or 1.")
    x0, t0 = float(first["intake_score"]), float(first["intake_weeks"])
    last_week = max(int(prepared["week"].max()), 4)
    grid_weeks = np.arange(0, last_week + 1, dtype=float)
    grid_weeks = grid_weeks[grid_weeks >= math.floor(t0)]
    low, high = curve.band(np.full(len(grid_weeks), x0), grid_weeks, t0)
    band = pd.DataFrame({
        "week": grid_weeks.astype(int), "week_start": [(intake + pd.Timedelta(days=7 * int(w))).date() for w in grid_weeks],
        "expected": curve.expected(x0, grid_weeks, t0), "low": low, "high": high,
    })
    pos = score_positions(curve, prepared)
    points = pos[["administered_date", "week", "total_score", "expected", "low", "high", "off_track"]].reset_index(drop=True)
    if points.empty:
        return Track(measure, NO_LATER_SCORE,
                     f"Only the intake {measure} score so far: the course can be read from the next score.",
                     points=points, curve=band)
    track = latest_tracks(curve, prepared).iloc[0]
    edge = "10th" if curve.higher_is_better else "90th"
    last = points.iloc[-1]
    where = f"expected about {last['expected']:.0f}, band {last['low']:.0f}-{last['high']:.0f}"
    if track["status"] == OFF_TRACK:
        since_week, since_date = int(track["since_week"]), pd.Timestamp(track["since_date"]).date()
        message = (f"{measure}: off track since week {since_week} ({since_date:%Y-%m-%d}): every score since then is "
                   f"{'below' if curve.higher_is_better else 'above'} the {edge} percentile of the clinic's "
                   f"discharged clients with a similar intake score ({int(x0)}). Latest {int(last['total_score'])} in "
                   f"week {int(last['week'])}; {where}.")
        return Track(measure, OFF_TRACK, message, since_week, since_date, int(last["week"]), points, band)
    message = (f"{measure}: on track: the latest score ({int(last['total_score'])} in week {int(last['week'])}) is within "
               f"the range of the clinic's discharged clients with a similar intake score ({int(x0)}); {where}.")
    return Track(measure, ON_TRACK, message, None, None, int(last["week"]), points, band)


# ----------------------------------------------------------------------------- back-test


def default_split(history: pd.DataFrame, share: float = BACKTEST_TRAIN_SHARE) -> date | None:
    """The intake date before which ``share`` of the discharged clients started."""
    done = history[history["discharge_date"].notna()].drop_duplicates("client_id")
    if done.empty:
        return None
    return pd.Timestamp(pd.to_datetime(done["intake_date"]).quantile(share)).normalize().date()


BACKTEST_COLUMNS = ["measure", "week", "split", "train_clients", "test_clients", "n", "positives", "flagged",
                    "true_pos", "false_pos", "false_neg", "true_neg", "sensitivity", "sensitivity_low",
                    "sensitivity_high", "specificity", "specificity_low", "specificity_high", "ppv", "ppv_low", "ppv_high"]


def backtest_history(history: pd.DataFrame, settings: Settings, *, split: date | None = None,
                     weeks: Sequence[int] = BACKTEST_WEEKS, min_clients: int = MIN_HISTORY_CLIENTS) -> pd.DataFrame:
    """How well being off track at week k predicts a poor final outcome, on clients who started
    after ``split`` with curves fitted on discharged clients who started before it.

    Test clients: discharged, intake on or after ``split``, an intake score (weeks 0-1), a later score
    in weeks 1..k (the latest of them decides "off track at week k") and a last treatment score after
    week k (the outcome is not the score that raised the flag). Poor outcome (the positive class): no
    reliable improvement from the first to the last treatment score (reliable deterioration included;
    :func:`analytics.metrics.classify_outcomes`). Sensitivity, specificity and PPV with Wilson 95% CIs.
    """
    from .metrics import classify_outcomes
    from .statistics import wilson_interval

    split = split or default_split(history)
    rows: list[dict[str, Any]] = []
    if split is None:
        return pd.DataFrame(columns=BACKTEST_COLUMNS)
    prepared = prepare_history(history)
    curves = _fit_prepared(prepared, settings, fit_before=split, min_clients=min_clients)
    test = prepared[prepared["discharge_date"].notna() & (pd.to_datetime(prepared["intake_date"]) >= pd.Timestamp(split))
                    & prepared["usable"]]
    for definition in settings.measures:
        curve = curves.curve(definition.name)
        part = test[test["measure"] == definition.name]
        if curve is None or part.empty:
            continue
        pos = score_positions(curve, part)
        ends = part.groupby("client_id").agg(first_date=("administered_date", "first"),
                                             first_score=("total_score", "first"),
                                             last_date=("administered_date", "last"),
                                             last_score=("total_score", "last"), last_week=("week", "last"))
        ends = classify_outcomes(ends.assign(measure=definition.name).reset_index(), settings).set_index("client_id")
        poor = ~ends["reliable_improvement"].astype("boolean").fillna(False).astype(bool)
        for k in weeks:
            early = pos[pos["week"] <= k].groupby("client_id").tail(1).set_index("client_id")
            early = early[ends.loc[early.index, "last_week"].to_numpy() > k]
            flagged = early["off_track"].astype(bool)
            truth = poor.loc[early.index]
            tp, fp = int((flagged & truth).sum()), int((flagged & ~truth).sum())
            fn, tn = int((~flagged & truth).sum()), int((~flagged & ~truth).sum())
            row: dict[str, Any] = {
                "measure": definition.name, "week": int(k), "split": split,
                "train_clients": curve.n_clients, "test_clients": int(part["client_id"].nunique()),
                "n": len(early), "positives": tp + fn, "flagged": tp + fp,
                "true_pos": tp, "false_pos": fp, "false_neg": fn, "true_neg": tn,
            }
            for name, num, den in (("sensitivity", tp, tp + fn), ("specificity", tn, tn + fp), ("ppv", tp, tp + fp)):
                ci = wilson_interval(num, den)
                row[name] = num / den if den else None
                row[f"{name}_low"], row[f"{name}_high"] = ci if ci else (None, None)
            rows.append(row)
    return pd.DataFrame(rows, columns=BACKTEST_COLUMNS)


def backtest(db: ClinicDatabase, viewer: Viewer, *, split: date | None = None,
             weeks: Sequence[int] = BACKTEST_WEEKS, settings: Settings | None = None) -> pd.DataFrame:
    """:func:`backtest_history` on the viewer's scope. An aggregate (counts and rates, no client)."""
    settings = settings or active_settings()
    return backtest_history(response_history(db, viewer, settings=settings), settings, split=split, weeks=weeks)


def _pct_ci(value: Any, low: Any, high: Any) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{value:.0%} ({low:.0%}-{high:.0%})"


def backtest_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The back-test as shown: one row per measure and week, rates with their 95% CIs."""
    return pd.DataFrame({
        "Measure": table["measure"], "Off track at week": table["week"],
        "n (poor outcome)": [f"{n} ({p})" for n, p in zip(table["n"], table["positives"], strict=True)],
        "Flagged": table["flagged"],
        "Sensitivity": [_pct_ci(*v) for v in zip(table["sensitivity"], table["sensitivity_low"],
                                                  table["sensitivity_high"], strict=True)],
        "Specificity": [_pct_ci(*v) for v in zip(table["specificity"], table["specificity_low"],
                                                  table["specificity_high"], strict=True)],
        "PPV": [_pct_ci(*v) for v in zip(table["ppv"], table["ppv_low"], table["ppv_high"], strict=True)],
    })


def backtest_markdown(table: pd.DataFrame) -> str:
    """The back-test as a Markdown table (the CLI's --markdown and docs/metrics.md)."""
    shown = backtest_rows(table)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines)


def backtest_table(db: ClinicDatabase, viewer: Viewer, deidentified: bool = True, *,
                   settings: Settings | None = None) -> pd.DataFrame:
    """The back-test as the quality-improvement page shows it (:func:`backtest_rows`). De-identified
    (always for aggregates-only viewers): a row whose poor-outcome, other or flagged count is small under
    the deployment's suppression policy (:func:`analytics.privacy.settings_policy`) is withheld, as small
    counts are on the rest of that page."""
    settings = settings or active_settings()
    table = backtest(db, viewer, settings=settings)
    shown = backtest_rows(table)
    if (deidentified or not viewer.can_see_identifiers) and len(table):
        policy = settings_policy(settings)
        small = np.zeros(len(table), dtype=bool)
        for counts in (table["positives"], table["n"] - table["positives"], table["flagged"]):
            small |= np.array([policy.is_small(int(n)) for n in counts], dtype=bool)
        # A withheld row reads "suppressed" (privacy.WITHHELD_TEXT); only a flagged count that is itself
        # small reads the policy's marker ("<11"): a cell hiding 11 or more never does (issue 15, item 1).
        for column in ("n (poor outcome)", "Sensitivity", "Specificity", "PPV"):
            shown[column] = shown[column].astype(object).where(~small, WITHHELD_TEXT)
        flagged_text = [policy.marker_text if policy.is_small(int(n)) else WITHHELD_TEXT for n in table["flagged"]]
        shown["Flagged"] = shown["Flagged"].astype(object).where(~small, pd.Series(flagged_text, index=shown.index))
    return shown


BACKTEST_NOTE = (
    "Back-test: curves fitted on the discharged clients who started before the split date, tested on those who "
    "started on or after it. Poor outcome = no reliable improvement (reliable deterioration included) from the first "
    "to the last treatment score. A client counts at week k when they had a later score by week k and a last score "
    "after week k. Sensitivity: share of poor outcomes flagged; specificity: share of the others not flagged; PPV: "
    "share of flagged clients who ended with a poor outcome. 95% Wilson intervals."
)


__all__ = [
    "BACKTEST_COLUMNS",
    "BACKTEST_NOTE",
    "BACKTEST_WEEKS",
    "MIN_CELL_CLIENTS",
    "MIN_HISTORY_CLIENTS",
    "NO_CURVE",
    "NO_INTAKE_SCORE",
    "NO_LATER_SCORE",
    "OFF_TRACK",
    "ON_TRACK",
    "CurveSet",
    "ExpectedCurve",
    "Track",
    "backtest",
    "backtest_history",
    "backtest_markdown",
    "backtest_rows",
    "backtest_table",
    "client_track",
    "default_split",
    "expected_curves",
    "fit_curve",
    "fit_curves",
    "fit_curves_in_db",
    "latest_tracks",
    "prepare_history",
    "response_history",
    "score_positions",
    "week_band",
]
