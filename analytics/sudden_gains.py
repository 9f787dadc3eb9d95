"""Sudden gains in a client's session-by-session scores (Tang & DeRubeis 1999).

A *sudden gain* is a large, stable drop between two consecutive sessions' scores (lower is
better; a higher-is-better measure is turned round by the caller). A drop from session n to
session n + 1 is a sudden gain when all three criteria hold:

1. **Size**: x_n - x_(n+1) >= ``cutoff``. The cut-off is usually the measure's reliable
   change value (:func:`reliable_change_value`).
2. **Relative size**: x_n - x_(n+1) >= 25% of x_n.
3. **Stability**: mean(x_(n-2), x_(n-1), x_n) - mean(x_(n+1), x_(n+2), x_(n+3)) >
   t_crit × pooled SD of the two sets. Only the scores that exist are used, at least two on
   each side. t_crit is the two-tailed 5% critical value of Student's t with
   (number of pre + post scores) - 2 degrees of freedom: 2.776 with all six scores, 3.182
   with five, 4.303 with four. This is the missing-data adjustment of Lutz et al. (2013).

The magnitude of a gain is x_n - x_(n+1). A gain is *reversed* when any later session score
is above x_(n+1) + magnitude / 2, that is, when the client loses more than half the gain.

This follows the R package ``suddengains`` (Wiedemann et al. 2020, PLOS ONE 15(3): e0230276)
with its defaults, and reproduces that package's published results on its own data set
(tests/test_sudden_gains.py, data in tests/data/).

Sudden gains are descriptive. Measures have limited retest reliability, so with many scores
per client, some unchanged series show a "gain" by chance (Thomas & Persons 2013). A gain says
when a large drop happened. It does not say why.

Pure Python with numpy, pandas and scipy: no database, no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .config import Settings

RELATIVE_SIZE = 0.25  # criterion 2: at least 25% of the pre-gain score
STABILITY_ALPHA = 0.05  # criterion 3: two-tailed alpha of the t test
WINDOW = 3  # criterion 3: up to three scores before and three after
MIN_SIDE = 2  # criterion 3: at least two scores on each side


@dataclass(frozen=True)
class SuddenGain:
    """One sudden gain between the scores at positions ``pre_index`` and ``pre_index + 1``."""

    pre_index: int  # position in the series of the last score before the gain (x_n)
    pre_score: float  # x_n
    post_score: float  # x_(n+1)
    magnitude: float  # x_n - x_(n+1), in points
    pre_mean: float  # mean of up to three scores up to and including x_n
    post_mean: float  # mean of up to three scores from x_(n+1)
    critical_t: float  # the t critical value used for criterion 3
    reversed: bool  # a later score rose above post_score + magnitude / 2


def reliable_change_value(sd: float, reliability: float, z: float = 1.96) -> float:
    """Criterion 1's cut-off from data: z × sqrt(2) × SD × sqrt(1 - r), in points.

    SD is the standard deviation of the pre-treatment scores, r the measure's reliability
    (Jacobson & Truax 1991; ``suddengains::define_crit1_cutoff``)."""
    if sd < 0 or not 0 <= reliability <= 1:
        raise ValueError("sd must be >= 0 and reliability within [0, 1]")
    return z * math.sqrt(2) * sd * math.sqrt(1 - reliability)


@lru_cache(maxsize=16)
def _critical_t(df: int) -> float:
    from scipy import stats  # only when gains are looked for

    return float(stats.t.ppf(1 - STABILITY_ALPHA / 2, df))


def sudden_gains(scores: Sequence[float | None], cutoff: float) -> list[SuddenGain]:
    """The sudden gains in one client's series of session scores, in session order.

    ``scores`` has one entry per session, with ``None`` or NaN for a session with no score.
    Every interval with at least two scores on each side is tested, so neither the first
    interval nor the last can be a gain. A missing x_n or x_(n+1) means no gain there.
    """
    x = np.array([np.nan if v is None else float(v) for v in scores], dtype=float)
    gains = []
    for n in range(1, len(x) - 1):
        before, after = x[max(0, n - WINDOW + 1): n + 1], x[n + 1: n + 1 + WINDOW]
        before, after = before[~np.isnan(before)], after[~np.isnan(after)]
        if np.isnan(x[n]) or np.isnan(x[n + 1]) or len(before) < MIN_SIDE or len(after) < MIN_SIDE:
            continue
        drop = x[n] - x[n + 1]
        if drop < cutoff or drop < RELATIVE_SIZE * x[n]:
            continue
        df = len(before) + len(after) - 2
        pooled_sd = math.sqrt(
            ((len(before) - 1) * before.var(ddof=1) + (len(after) - 1) * after.var(ddof=1)) / df
        )
        t_crit = _critical_t(df)
        if not before.mean() - after.mean() > t_crit * pooled_sd:
            continue
        later = x[n + 2:]
        later = later[~np.isnan(later)]
        gains.append(SuddenGain(
            pre_index=n, pre_score=float(x[n]), post_score=float(x[n + 1]), magnitude=float(drop),
            pre_mean=float(before.mean()), post_mean=float(after.mean()), critical_t=t_crit,
            reversed=bool((later > x[n + 1] + drop / 2).any()),
        ))
    return gains


def sudden_gains_matrix(series: np.ndarray, cutoff: float) -> pd.DataFrame:
    """:func:`sudden_gains` for many series at once: one row per series of ``series`` (2-D, NaN
    for a missing score and as padding after the last), vectorised over the series. Returns one row
    per gain: series (row index), pre_index, pre_score, post_score, magnitude, reversed, in row then
    session order; the same gains as :func:`sudden_gains` on each row (tests/test_sudden_gains.py).
    """
    x = np.asarray(series, dtype=float)
    columns = ["series", "pre_index", "pre_score", "post_score", "magnitude", "reversed"]
    if x.ndim != 2 or x.shape[1] < 4:
        return pd.DataFrame(columns=columns)
    found = []
    t_table = np.array([np.inf] + [_critical_t(d) for d in range(1, 2 * WINDOW - 1)])  # df = 0 .. 2 WINDOW - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        later_max = np.full_like(x, np.nan)  # later_max[:, j] = max of x[:, j:] (NaN-aware)
        running = np.full(len(x), -np.inf)
        for j in range(x.shape[1] - 1, -1, -1):
            running = np.fmax(running, x[:, j])
            later_max[:, j] = running
        for n in range(1, x.shape[1] - 1):
            before, after = x[:, max(0, n - WINDOW + 1): n + 1], x[:, n + 1: n + 1 + WINDOW]
            nb, na = (~np.isnan(before)).sum(axis=1), (~np.isnan(after)).sum(axis=1)
            drop = x[:, n] - x[:, n + 1]
            ok = ~np.isnan(drop) & (nb >= MIN_SIDE) & (na >= MIN_SIDE)
            ok &= (drop >= cutoff) & (drop >= RELATIVE_SIZE * x[:, n])
            if not ok.any():
                continue
            mb, ma = np.nansum(before, axis=1) / nb, np.nansum(after, axis=1) / na
            vb = np.nansum((before - mb[:, None]) ** 2, axis=1) / (nb - 1)
            va = np.nansum((after - ma[:, None]) ** 2, axis=1) / (na - 1)
            df = nb + na - 2
            pooled = np.sqrt(((nb - 1) * vb + (na - 1) * va) / np.maximum(df, 1))
            t_crit = t_table[np.clip(df, 0, len(t_table) - 1)]
            ok &= (mb - ma) > t_crit * pooled
            rows = np.flatnonzero(ok)
            if not len(rows):
                continue
            later = later_max[rows, n + 2] if n + 2 < x.shape[1] else np.full(len(rows), np.nan)
            reversed_ = later > x[rows, n + 1] + drop[rows] / 2
            for r, rev in zip(rows.tolist(), reversed_.tolist(), strict=True):
                found.append((r, n, float(x[r, n]), float(x[r, n + 1]), float(drop[r]), bool(rev)))
    out = pd.DataFrame(found, columns=columns)
    return out.sort_values(["series", "pre_index"], kind="stable").reset_index(drop=True)


#: Treatment scores a client needs for a gain to be looked for in a cohort (two on each side).
MIN_SCORES = 4
#: One row per gain of :func:`clients_sudden_gains`.
CLIENT_GAIN_COLUMNS = ("client_id", "first_week", "last_week", "magnitude", "reversed")


def clients_sudden_gains(treatment: pd.DataFrame, reliable_change: float, higher_is_better: bool) -> pd.DataFrame:
    """The sudden gains of many clients on one measure (the cohort page, and the gains stored at
    import, analytics/stored.py): :func:`sudden_gains_matrix` on each client's treatment scores in
    date order, criterion 1 = the measure's ``reliable_change``, a higher-is-better measure turned
    round (``magnitude`` is always points of improvement). Clients with fewer than
    :data:`MIN_SCORES` scores are not looked at.

    ``treatment``: client_id, administered_date, total_score and week (whole weeks since intake)
    of the treatment-period scores. Returns one row per gain (:data:`CLIENT_GAIN_COLUMNS`), in
    client then session order: the gain's weeks run from the week of the score before it
    (first_week) to the week before the score after it (last_week, at least first_week), as on
    the client review.
    """
    treatment = treatment.sort_values(["client_id", "administered_date"], kind="stable")
    counts = treatment.groupby("client_id", sort=True).size()
    looked = counts[counts >= MIN_SCORES].index
    treatment = treatment[treatment["client_id"].isin(looked)].reset_index(drop=True)
    if not len(treatment):
        return pd.DataFrame(columns=list(CLIENT_GAIN_COLUMNS))
    position = treatment.groupby("client_id", sort=True).cumcount().to_numpy()
    row = pd.Index(looked).get_indexer(treatment["client_id"])
    sign = -1.0 if higher_is_better else 1.0  # lower-is-better scale for the criteria
    matrix = np.full((len(looked), int(position.max()) + 1), np.nan)
    matrix[row, position] = sign * treatment["total_score"].to_numpy(dtype=float)
    weeks = np.full(matrix.shape, -1, dtype=np.int64)
    weeks[row, position] = treatment["week"].to_numpy(dtype=np.int64)
    rows = []
    for g in sudden_gains_matrix(matrix, float(reliable_change)).itertuples(index=False):
        before, after = int(weeks[g.series, g.pre_index]), int(weeks[g.series, g.pre_index + 1])
        rows.append((looked[g.series], before, max(before, after - 1), float(g.magnitude), bool(g.reversed)))
    return pd.DataFrame(rows, columns=list(CLIENT_GAIN_COLUMNS))


GAIN_COLUMNS = ("measure", "before_date", "after_date", "before_score", "after_score", "magnitude", "reversed",
                "homework_weeks", "assignments", "reviewed", "quantity")


def client_gains(scores: pd.DataFrame, weekly: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """One client's sudden gains per measure, with the homework of the interval each came in.

    ``scores``: the client review's scores (measure, administered_date, total_score, week and
    period; only treatment-period scores count, in date order). ``weekly``: its weekly homework
    (week, assignments, reviewed, quantity). The criterion-1 cut-off is the measure's reliable
    change in points (Settings), and a higher-is-better measure is turned round, so
    ``magnitude`` is always points of improvement. Homework: the assignments set from the week of
    the score before the gain up to the week before the score after it (the interval in which
    the gain happened); ``quantity`` is their mean quantity fraction (weighted by the reviewed
    assignments, or by all assignments under the "unreviewed = not done" reading).
    """
    rows = []
    treatment = scores[scores["period"] == "treatment"] if "period" in scores else scores
    for measure, group in treatment.groupby("measure", sort=False):
        definition = settings.measure(str(measure))
        if definition is None:
            continue
        group = group.sort_values("administered_date")
        sign = -1.0 if definition.higher_is_better else 1.0  # lower-is-better scale for the criteria
        series = [sign * float(v) for v in group["total_score"]]
        for gain in sudden_gains(series, float(definition.reliable_change)):
            before, after = group.iloc[gain.pre_index], group.iloc[gain.pre_index + 1]
            first_week, last_week = int(before["week"]), max(int(before["week"]), int(after["week"]) - 1)
            weeks = weekly[(weekly["week"] >= first_week) & (weekly["week"] <= last_week)]
            weight = weeks["assignments"] if settings.unreviewed_as_not_done else weeks["reviewed"]
            counted = weeks["quantity"].notna() & (weight > 0)
            quantity = (float((weeks["quantity"][counted] * weight[counted]).sum() / weight[counted].sum())
                        if counted.any() else None)
            rows.append({
                "measure": str(measure), "before_date": before["administered_date"],
                "after_date": after["administered_date"], "before_score": float(before["total_score"]),
                "after_score": float(after["total_score"]), "magnitude": gain.magnitude, "reversed": gain.reversed,
                "homework_weeks": f"{first_week}-{last_week}" if last_week > first_week else str(first_week),
                "assignments": int(weeks["assignments"].sum()), "reviewed": int(weeks["reviewed"].sum()),
                "quantity": quantity,
            })
    return pd.DataFrame(rows, columns=list(GAIN_COLUMNS))
