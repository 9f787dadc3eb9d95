"""The within-between random-intercept model through statsmodels' MixedLM: the independent
implementation that :func:`analytics.statistics.within_between_model` (our REML fitter) is
checked against. Test-only: the product has one implementation."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.statistics import (
    MIXEDLM_MIN_GROUPS,
    MIXEDLM_MIN_OBS_PER_GROUP,
    MIXEDLM_MIN_OBSERVATIONS,
    MixedModelResult,
    _empty_mixed,
    _z_for,
    finite_or_none,
)


def within_between_mixedlm(
    df: pd.DataFrame,
    *,
    outcome: str,
    predictor: str,
    group: str,
    confidence: float = 0.95,
    covariates: Sequence[str] = (),
) -> MixedModelResult:
    """Separate within- and between-person associations with a linear mixed model.

    Fits ``outcome ~ 1 + predictor_within + predictor_between + (1 | group)`` with
    ``statsmodels.regression.mixed_linear_model.MixedLM`` (REML, random intercept
    per group), where

    * predictor_within = predictor - the group's mean predictor (person-mean
      centred), and
    * predictor_between = the group's mean predictor - the grand mean of the
      predictor over all rows used (grand-mean centred, so the intercept is the
      expected outcome at the average predictor; centring does not change the slopes).

    This is the within-between ("hybrid") random-effects model: Bell & Jones (2015),
    Political Science Research and Methods 3, 133-153; Curran & Bauer (2011), Annu
    Rev Psychol 62, 583-619. Confidence intervals and p-values are Wald (normal).

    Rows with a missing outcome, predictor or group are dropped. Minimum:
    ``MIXEDLM_MIN_OBSERVATIONS`` (20) rows and ``MIXEDLM_MIN_GROUPS`` (5) groups
    having at least ``MIXEDLM_MIN_OBS_PER_GROUP`` (2) rows each; groups with one row
    are kept (they inform the between effect). Below that, or if the predictor
    does not vary within groups or between groups, coefficients are ``None`` and
    ``message`` explains. Fitting errors (singular matrices, optimiser failures) are
    caught and reported in ``message``; convergence warnings set ``converged=False``
    and are reported but the estimates are kept.

    ``covariates``: further columns entered as grand-mean-centred fixed effects, so the
    within and between slopes are adjusted for them (rows missing one are dropped).
    """
    _z_for(confidence)  # validates
    covariates = tuple(covariates)
    for col in (outcome, predictor, group, *covariates):
        if col not in df.columns:
            raise ValueError(f"column {col!r} not in DataFrame")
    data = pd.DataFrame(
        {
            "y": pd.to_numeric(df[outcome], errors="coerce").astype(float),
            "x": pd.to_numeric(df[predictor], errors="coerce").astype(float),
            "g": df[group],
            **{f"c{k}": pd.to_numeric(df[c], errors="coerce").astype(float) for k, c in enumerate(covariates)},
        }
    )
    keep = np.isfinite(data["y"]) & np.isfinite(data["x"]) & data["g"].notna()
    for k in range(len(covariates)):
        keep &= np.isfinite(data[f"c{k}"])
    data = data[keep]
    n_obs = len(data)
    sizes = data.groupby("g", sort=False).size()
    n_groups = int(sizes.size)
    n_multi = int((sizes >= MIXEDLM_MIN_OBS_PER_GROUP).sum())
    if n_obs < MIXEDLM_MIN_OBSERVATIONS or n_multi < MIXEDLM_MIN_GROUPS:
        return _empty_mixed(
            n_obs,
            n_groups,
            True,
            f"too few observations: {n_obs} rows and {n_multi} groups with "
            f">= {MIXEDLM_MIN_OBS_PER_GROUP} rows (need >= {MIXEDLM_MIN_OBSERVATIONS} rows "
            f"and >= {MIXEDLM_MIN_GROUPS} such groups)",
        )

    group_mean = data.groupby("g", sort=False)["x"].transform("mean")
    within = (data["x"] - group_mean).to_numpy()
    between = (group_mean - data["x"].mean()).to_numpy()
    if np.allclose(within, 0.0):
        return _empty_mixed(n_obs, n_groups, False, "predictor does not vary within groups; within effect undefined")
    if np.allclose(between, 0.0):
        return _empty_mixed(
            n_obs, n_groups, False, "group means of the predictor are all equal; between effect undefined"
        )

    from statsmodels.regression.mixed_linear_model import MixedLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    exog = pd.DataFrame({"Intercept": 1.0, "within": within, "between": between}, index=data.index)
    for k in range(len(covariates)):
        exog[f"c{k}"] = data[f"c{k}"] - data[f"c{k}"].mean()
    groups = pd.factorize(data["g"])[0]
    problems: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = MixedLM(data["y"].to_numpy(), exog, groups=groups)
            fit = model.fit(reml=True)
        for w in caught:
            if issubclass(w.category, (ConvergenceWarning, RuntimeWarning, UserWarning)):
                text = str(w.message).strip()
                if text not in problems:
                    problems.append(text)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
        return _empty_mixed(n_obs, n_groups, False, f"model fit failed: {exc}")

    alpha = 1.0 - confidence
    fe = fit.fe_params
    try:
        ci = fit.conf_int(alpha=alpha)
        pvalues = fit.pvalues
    except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - defensive
        problems.append(f"standard errors unavailable: {exc}")
        ci = pd.DataFrame(np.nan, index=fe.index, columns=[0, 1])
        pvalues = pd.Series(np.nan, index=fe.index)

    def _ci(name: str) -> tuple[float, float] | None:
        low = finite_or_none(ci.loc[name].iloc[0])
        high = finite_or_none(ci.loc[name].iloc[1])
        return None if low is None or high is None else (low, high)

    converged = bool(getattr(fit, "converged", False)) and not any("converge" in p.lower() for p in problems)
    return MixedModelResult(
        within_coef=finite_or_none(fe["within"]),
        within_ci=_ci("within"),
        within_p=finite_or_none(pvalues["within"]),
        between_coef=finite_or_none(fe["between"]),
        between_ci=_ci("between"),
        between_p=finite_or_none(pvalues["between"]),
        intercept=finite_or_none(fe["Intercept"]),
        group_variance=finite_or_none(np.asarray(fit.cov_re)[0, 0]),
        residual_variance=finite_or_none(fit.scale),
        n_observations=n_obs,
        n_groups=n_groups,
        converged=converged,
        too_few=False,
        message="; ".join(problems) if problems else None,
    )
