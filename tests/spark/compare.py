"""Equality of two analytics results within the stated floating-point tolerance (issue 17).

Floats agree within a relative or absolute difference of :data:`TOLERANCE` (Spark sums in another
order than DuckDB, so the last digits of a sum or a mean may differ), the estimates of an iterative
model fit (the REML mixed models of the within-client analysis) within :data:`MODEL_FIT_TOLERANCE`
(the optimiser stops within its own tolerance, so last-digit differences in its inputs move its
estimates by about 1e-7); everything else exactly: integers, texts, dates, NULLs, column names and
dtypes. A result's running time (a ``seconds`` field) is not a figure and is not compared. A DataFrame's rows are compared in order,
and, when only rows that tie on the query's ORDER BY come out in another order, as sorted rows."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

TOLERANCE = 1e-9
MODEL_FIT_TOLERANCE = 1e-6
#: Analytics functions whose figures are estimates of an iterative model fit.
MODEL_FITS = ("within_client_analysis", "deidentified_within")
#: Dataclass fields that are not figures: how long the computation took.
NOT_FIGURES = ("seconds",)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def differences(a: Any, b: Any, where: str = "result", tolerance: float = TOLERANCE) -> list[str]:
    """Where ``a`` and ``b`` differ (empty: equal), floats within ``tolerance``."""
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        return _frame_differences(a, b, where, tolerance)
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        return _frame_differences(a.to_frame(), b.to_frame(), where, tolerance)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            return [f"{where}: {type(a).__name__} != {type(b).__name__}"]
        return [d for f in dataclasses.fields(a) if f.name not in NOT_FIGURES
                for d in differences(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}", tolerance)]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}[{k!r}]", tolerance)]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return differences(list(np.asarray(a).tolist()), list(np.asarray(b).tolist()), where, tolerance)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{where}[{i}]", tolerance)]
    if hasattr(a, "item") and not isinstance(a, (str, bytes)):
        a = a.item()
    if hasattr(b, "item") and not isinstance(b, (str, bytes)):
        b = b.item()
    if _missing(a) or _missing(b):
        return [] if _missing(a) and _missing(b) else [f"{where}: {a!r} != {b!r}"]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
                math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance):
            return []
        return [f"{where}: {a!r} != {b!r}"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def _frame_differences(a: Any, b: Any, where: str, tolerance: float) -> list[str]:
    if not (isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame)):
        return [f"{where}: {type(a).__name__} != {type(b).__name__}"]
    if list(a.columns) != list(b.columns):
        return [f"{where}: columns {list(a.columns)} != {list(b.columns)}"]
    if a.dtypes.astype(str).tolist() != b.dtypes.astype(str).tolist():
        return [f"{where}: dtypes {a.dtypes.astype(str).to_dict()} != {b.dtypes.astype(str).to_dict()}"]
    if len(a) != len(b):
        return [f"{where}: {len(a)} rows != {len(b)}"]
    rows_a, rows_b = _rows(a), _rows(b)
    found = differences(rows_a, rows_b, where, tolerance)
    if found:  # rows that tie on the ORDER BY may come in another order: compare them sorted
        found = differences(sorted(rows_a, key=_sort_key), sorted(rows_b, key=_sort_key), where + " (sorted)",
                            tolerance)
    return found


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(row) for row in frame.astype(object).itertuples(index=False)]


def _sort_key(row: tuple) -> tuple:
    return tuple((_missing(v), round(v, 6) if isinstance(v, float) and not math.isnan(v) else str(v)) for v in row)


def tolerance_for(label: str) -> float:
    """The tolerance for a result labelled with its function's name (:data:`MODEL_FITS`)."""
    return MODEL_FIT_TOLERANCE if any(name in label for name in MODEL_FITS) else TOLERANCE
