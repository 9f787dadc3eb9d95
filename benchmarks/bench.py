"""Benchmarks at clinic-network scale: ``python -m analytics bench [--sizes S,L,XL] [--out docs/benchmarks.md]``.

Measures, on this machine, and writes docs/benchmarks.md (machine, versions, date, tables):

- **import**: 1,000,000 assignment rows (plus the clients they reference) from CSV through
  :func:`analytics.import_files` (every rule checked, atomic swap) vs DuckDB's bare
  ``CREATE TABLE AS SELECT * FROM read_csv(...)`` of the same files into a database file.
  When the ratio misses its target, a per-statement profile of the import is written too.
- **pages**: every built page's server-side run under Streamlit's AppTest with
  ``BETWEEN_SESSIONS_DB`` set and a representative deep link: cold (caches cleared, so a new
  connection and every query), warm (a second session served from the cache), and beside it
  the bare SQL the page ran (each distinct statement once, on a fresh DuckDB connection,
  fetched as Arrow), with the largest result a page pulled (rows).
- **browser**: headless Chromium (Debian's, through Playwright), from navigation to the
  page's main chart drawn, at L; first visit (server cache cold for that page) and second.
- **cold_start**: the first visitor of a freshly started server: the server process started,
  ``/_stcore/health`` answered, then at once a new visitor's deep link to each chart page, to
  the main chart drawn; the launcher (``python -m ui.serve``, imports warmed up in the
  background) vs plain ``streamlit run dashboard.py``, three fresh servers each; at L (or the
  first size asked for when L is not).
- **memory**: resident memory of the Streamlit server (and any children) with 10
  concurrent browser sessions on mixed pages at L.
- **baseline**: the whole-clinic cohort summary (``python -m analytics summary --json``
  headline numbers) the way a clinic would without this product, pandas reading the CSV
  exports, vs :func:`analytics.cohort_summary` on the database; the numbers are compared.

Datasets (S = 600, L = 20,000, XL = 100,000 clients from the seeded sample generator) are
built through the real importer (XXL = 1,000,000 clients, generated in chunks and imported with
``python -m analytics import``, its time and peak memory measured, only when asked for:
``--sizes XXL``; never by default nor in the tests) into ``benchmarks/data/<size>/`` (gitignored) and reused
while the generator and schema are unchanged. Every step runs in its own process with a
time limit; a step that fails or times out is reported, not fatal. This module runs the
steps (benchmarks/step_*.py) and writes the report (benchmarks/report.py) from every step's
latest results, kept beside it in docs/benchmarks.json (``--render-only`` rewrites it from them).

Speed is measured here and only here: unit tests never assert timings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    DATA_DIR,
    DEFAULT_OUT,
    DEFAULT_SIZES,
    RESULTS_FILE,
    ROOT,
    SIZES,
    STEP_TIMEOUT_S,
    ensure_dataset,
    log,
)
from benchmarks.report import render
from benchmarks.step_baseline import step_baseline
from benchmarks.step_browser import step_browser, step_memory
from benchmarks.step_cold_start import step_cold_start
from benchmarks.step_import import step_import
from benchmarks.step_pages import step_pages
from tests.support.browser import CHROMIUM


def machine_info() -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    cpu = "-"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 2**20
                break
    chromium = "-"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_gb, 1) if mem_gb else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": version("duckdb"),
        "streamlit": version("streamlit"),
        "pandas": version("pandas"),
        "playwright": version("playwright"),
        "chromium": chromium,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _run_step(name: str, *args: str) -> dict[str, Any]:
    """Run one step in its own process (own process group) with a time limit."""
    size = args[args.index("--size") + 1] if "--size" in args else None
    timeout = STEP_TIMEOUT_S.get(f"{name}_{size}", STEP_TIMEOUT_S[name])
    fd, out_name = tempfile.mkstemp(prefix=f"step-{name}-", suffix=".json", dir=DATA_DIR)
    os.close(fd)
    out = Path(out_name)
    cmd = [sys.executable, "-m", "benchmarks.bench", "--step", name, "--result", str(out), *args]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        out.unlink(missing_ok=True)
        return {"error": f"timed out after {timeout} s", "step_s": time.perf_counter() - started}
    try:
        data = json.loads(out.read_text()) if out.stat().st_size else {}
    finally:
        out.unlink(missing_ok=True)
    if code != 0 and "error" not in data:
        data["error"] = f"exited with status {code}"
    data["step_s"] = time.perf_counter() - started
    return data


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "build": ensure_dataset, "import": step_import, "pages": step_pages, "browser": step_browser,
    "cold_start": step_cold_start, "baseline": step_baseline, "memory": step_memory,
}


def _step_main(name: str, size: str | None, result_path: Path) -> int:
    """One step, in this process: its results (or its error) as JSON in ``result_path``."""
    sys.path.insert(0, str(ROOT))
    try:
        if name not in STEPS:
            raise ValueError(f"unknown step {name}")
        assert size or name == "import"
        data = STEPS[name](*([size] if name != "import" else []))
        code = 0
    except Exception as exc:  # noqa: BLE001 - a failed step is reported in the results
        traceback.print_exc()
        data, code = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}, 1
    result_path.write_text(json.dumps(data, default=str))
    return code


def load_results() -> dict[str, Any]:
    try:
        return json.loads(RESULTS_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def run(sizes: list[str], steps: list[str], out: Path) -> dict[str, Any]:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    results = load_results()
    results["machine"] = machine_info()
    log(f"machine: {results['machine']['nproc']} CPUs, load {results['machine']['load_average']}")
    results.setdefault("datasets", {})
    for size in sorted(set(sizes) | ({"S"} if "pages" in steps else set()), key=list(SIZES).index):
        results["datasets"][size] = _run_step("build", "--size", size)
        log(f"dataset {size}: {results['datasets'][size]}")
    written: list[str] = [f"datasets/{size}" for size in results["datasets"]
                          if size in sizes or (size == "S" and "pages" in steps)]

    def stamp(data: dict[str, Any], section: str) -> dict[str, Any]:
        written.append(section)
        return {**data, "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}

    if "import" in steps:
        log("step import")
        results["import"] = stamp(_run_step("import"), "import")
    for size in sizes:
        if "pages" in steps:
            log(f"step pages {size}")
            results.setdefault("pages", {})[size] = stamp(_run_step("pages", "--size", size), f"pages/{size}")
    if "browser" in steps and "L" in sizes:
        log("step browser L")
        results["browser"] = stamp(_run_step("browser", "--size", "L"), "browser")
    if "memory" in steps and "XXL" in sizes:  # at L the browser step measures it with its timings
        log("step memory XXL")
        results["memory_XXL"] = stamp(_run_step("memory", "--size", "XXL"), "memory_XXL")
    if "cold_start" in steps:
        cold_size = "L" if "L" in sizes else sizes[0]
        log(f"step cold_start {cold_size}")
        results["cold_start"] = stamp(_run_step("cold_start", "--size", cold_size), "cold_start")
    for size in sizes:
        if "baseline" in steps and size in ("L", "XL"):
            log(f"step baseline {size}")
            results.setdefault("baseline", {})[size] = stamp(_run_step("baseline", "--size", size), f"baseline/{size}")
    results["command"] = f"python -m analytics bench --sizes {','.join(sizes)}" + (
        f" --steps {','.join(steps)}" if set(steps) != set(ALL_STEPS) else "")
    # The report combines the latest result of each step, so it names the runs they came from.
    machine = results["machine"]
    run_entry = {"command": results["command"], "date": machine.get("date"), "load_average": machine.get("load_average"),
                 "machine": f"{machine.get('nproc')} CPUs ({machine.get('cpu')})", "sections": written}
    results["runs"] = runs_still_shown([*results.get("runs", []), run_entry])
    RESULTS_FILE.write_text(json.dumps(results, indent=2, default=str))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results))
    log(f"wrote {out}")
    return results


ALL_STEPS = ("import", "pages", "browser", "cold_start", "baseline", "memory")


def runs_still_shown(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs (oldest first) that still hold a section of the report: a run whose every section
    a later run has measured again is dropped (an entry without ``sections``, from before they were
    recorded, counts as holding nothing a later run with sections has not replaced)."""
    replaced: set[str] = set()
    kept: list[dict[str, Any]] = []
    for entry in reversed(runs):
        sections = set(entry.get("sections") or [])
        legacy = "sections" not in entry
        if (legacy and not replaced) or sections - replaced:
            kept.append(entry)
        replaced |= sections
    return kept[::-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES),
                        help="comma-separated: S, L, XL, XXL (default S,L,XL; XXL only when asked for)")
    parser.add_argument("--steps", default=",".join(ALL_STEPS), help=f"comma-separated: {', '.join(ALL_STEPS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown report (default docs/benchmarks.md)")
    parser.add_argument("--render-only", action="store_true", help="rewrite the report from the last results")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        return _step_main(args.step, args.size, args.result)
    if args.render_only:
        args.out.write_text(render(load_results()))
        return 0
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    steps = [s.strip().lower() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES] + [s for s in steps if s not in ALL_STEPS]
    if unknown:
        parser.error(f"unknown size or step: {', '.join(unknown)}")
    results = run(sizes, steps, args.out)
    failed = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
