"""Step "baseline": the whole-clinic cohort summary computed with pandas from the CSV exports,
as a clinic would without this product, vs ours; the numbers are compared."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPEATS, ROOT, STEP_TIMEOUT_S, _median, dataset_db, dataset_dir

HEADLINE = ("clients", "assignments", "reviewed_assignments", "mean_quantity", "mean_quality")
MEASURE_HEADLINE = ("clients_paired", "mean_change", "reliable_improvement", "reliable_deterioration",
                    "caseness_at_first", "recovered", "recovery_rate", "r_quantity_change", "r_quality_change")


def pandas_cohort_summary(csv_dir: Path, settings: Any) -> dict[str, Any]:
    """The whole-clinic summary as a clinic analyst would compute it from the CSV exports.

    Same definitions as docs/metrics.md (checked against ours by :func:`step_baseline`):
    per assignment, quantity = quantity_rating/4, else completed/planned capped at 1;
    quality = quality_rating/4; only assignments in the treatment window count (set on or
    after intake and, once discharged, on or before discharge; homework after discharge is
    follow-up homework); unreviewed assignments are left out of quantity, or count as 0 with
    ``settings.unreviewed_as_not_done``; per client the mean; per measure the first score on or
    after intake (less ``baseline_days_before_intake`` days) and the last score on or before
    discharge, paired when the last is later than the first.
    """
    import pandas as pd

    clients = pd.read_csv(csv_dir / "clients.csv", parse_dates=["intake_date", "discharge_date"])
    assignments = pd.read_csv(csv_dir / "assignments.csv")
    scores = pd.read_csv(csv_dir / "scores.csv", parse_dates=["administered_date"])

    a = assignments.merge(clients[["client_id", "intake_date", "discharge_date"]], on="client_id")
    assigned = pd.to_datetime(a["assigned_date"])
    a = a[(assigned >= a["intake_date"]) & (a["discharge_date"].isna() | (assigned <= a["discharge_date"]))]
    ratio = (a["completed_practices"] / a["planned_practices"]).clip(upper=1.0)
    quantity = (a["quantity_rating"] / 4.0).where(a["quantity_rating"].notna(), ratio)
    counted = quantity.fillna(0.0) if settings.unreviewed_as_not_done else quantity
    quality = a["quality_rating"] / 4.0
    per_client = (
        pd.DataFrame({"client_id": a["client_id"], "quantity": quantity, "counted": counted, "quality": quality})
        .groupby("client_id")
        .agg(n=("quantity", "size"), reviewed=("quantity", "count"), quantity=("counted", "mean"),
             quality=("quality", "mean"))
    )
    summary: dict[str, Any] = {
        "clients": len(clients),
        "assignments": int(per_client["n"].sum()),
        "reviewed_assignments": int(per_client["reviewed"].sum()),
        "mean_quantity": float(per_client["quantity"].mean()),
        "mean_quality": float(per_client["quality"].mean()),
        "measures": {},
    }
    s = scores.merge(clients[["client_id", "intake_date", "discharge_date"]], on="client_id")
    s = s[s["administered_date"] >= s["intake_date"] - pd.Timedelta(days=int(settings.baseline_days_before_intake))]
    s = s.sort_values(["client_id", "measure", "administered_date"], kind="stable")
    keys = ["client_id", "measure"]
    first = s.drop_duplicates(keys, keep="first")[[*keys, "administered_date", "total_score"]]
    first.columns = [*keys, "first_date", "first_score"]
    in_treatment = s[s["discharge_date"].isna() | (s["administered_date"] <= s["discharge_date"])]
    last = in_treatment.drop_duplicates(keys, keep="last")[[*keys, "administered_date", "total_score"]]
    last.columns = [*keys, "last_date", "last_score"]
    outcomes = first.merge(last, on=keys, how="left")
    outcomes = outcomes[outcomes["last_date"] > outcomes["first_date"]]
    outcomes = outcomes.assign(change=outcomes["last_score"] - outcomes["first_score"])
    outcomes = outcomes.merge(per_client[["quantity", "quality"]], left_on="client_id", right_index=True, how="left")
    for m in settings.measures:
        p = outcomes[outcomes["measure"] == m.name]
        if not len(p):
            continue
        at_caseness = p["first_score"] >= m.caseness_threshold
        recovered = int((at_caseness & (p["last_score"] < m.caseness_threshold)).sum())
        summary["measures"][m.name] = {
            "clients_paired": len(p),
            "mean_change": float(p["change"].mean()),
            "reliable_improvement": int((p["change"] <= -m.reliable_change).sum()),
            "reliable_deterioration": int((p["change"] >= m.reliable_change).sum()),
            "caseness_at_first": int(at_caseness.sum()),
            "recovered": recovered,
            "recovery_rate": recovered / int(at_caseness.sum()) if at_caseness.any() else None,
            "r_quantity_change": float(p["quantity"].corr(p["change"])),
            "r_quality_change": float(p["quality"].corr(p["change"])),
        }
    return summary


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    out = {k: summary[k] for k in HEADLINE}
    for name, values in summary["measures"].items():
        for k in MEASURE_HEADLINE:
            out[f"{name} {k}"] = values.get(k)
    return out


def _differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    diffs = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or abs(a - b) > 1e-9 * max(1.0, abs(a)):
                diffs.append(f"{key}: ours {a} vs pandas {b}")
        elif a != b:
            diffs.append(f"{key}: ours {a} vs pandas {b}")
    return diffs


def _timed_process(args: list[str]) -> tuple[float, str]:
    """Run ``python args`` as its own process from the project folder: wall seconds (interpreter
    start, imports, work, exit) and its standard output."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=STEP_TIMEOUT_S["baseline"])
    return time.perf_counter() - started, done.stdout


def step_baseline(size: str) -> dict[str, Any]:
    """Whole processes, as a user runs them: ``python -m analytics summary --db ... --json`` vs
    ``python -m benchmarks.step_baseline CSV_DIR`` (pandas over the CSV exports, the numbers as
    JSON), each started fresh; plus the cold start of the command line (``--help``)."""
    db_path, csv_dir = dataset_db(size), dataset_dir(size) / "csv"
    ours_runs, pandas_runs, help_runs = [], [], []
    ours = theirs = None
    repeats = REPEATS if size != "XL" else 2
    for _ in range(repeats):
        seconds, out = _timed_process(["-m", "analytics", "summary", "--db", str(db_path), "--json"])
        ours_runs.append(seconds)
        ours = json.loads(out)
        seconds, out = _timed_process(["-m", "benchmarks.step_baseline", str(csv_dir)])
        pandas_runs.append(seconds)
        theirs = json.loads(out)
        help_runs.append(_timed_process(["-m", "analytics", "--help"])[0])
    assert ours is not None and theirs is not None
    diffs = _differences(_headline(ours), _headline(theirs))
    return {
        "size": size,
        "ours_s": _median(ours_runs),
        "ours_runs": ours_runs,
        "pandas_s": _median(pandas_runs),
        "pandas_runs": pandas_runs,
        "ratio": _median(pandas_runs) / _median(ours_runs),
        "cli_help_s": _median(help_runs),
        "numbers_agree": not diffs,
        "differences": diffs[:10],
        "headline_values": len(_headline(ours)),
        "whole_processes": True,
    }


if __name__ == "__main__":  # the pandas side as its own process: the numbers as JSON on stdout
    from analytics.config import Settings

    print(json.dumps(pandas_cohort_summary(Path(sys.argv[1]), Settings())))
