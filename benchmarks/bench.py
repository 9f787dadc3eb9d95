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
- **memory**: resident memory of the Streamlit server (and any children) with 10
  concurrent browser sessions on mixed pages at L.
- **baseline**: the whole-clinic cohort summary (``python -m analytics summary --json``
  headline numbers) the way a clinic would without this product, pandas reading the CSV
  exports, vs :func:`analytics.cohort_summary` on the database; the numbers are compared.

Datasets (S = 600, L = 20,000, XL = 100,000 clients from the seeded sample generator) are
built through the real importer into ``benchmarks/data/<size>/`` (gitignored) and reused
while the generator and schema are unchanged. Every step runs in its own process with a
time limit; a step that fails or times out is reported, not fatal.

Speed is measured here and only here: unit tests never assert timings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "benchmarks" / "data"
RESULTS_FILE = DATA_DIR / "results.json"
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
DB_ENV = "BETWEEN_SESSIONS_DB"

SIZES = {"S": 600, "L": 20_000, "XL": 100_000}
SEED = 7
IMPORT_ROWS = 1_000_000
IMPORT_CLIENTS = 42_000  # ~24.7 assignments per client: > 1M rows, cut at exactly 1M

TARGETS = {
    "import_ratio": 3.0,  # import / bare read_csv
    "page_cold_L": 1.5,  # seconds
    "page_warm_L": 0.3,
    "page_cold_XL": 5.0,
    "browser_L": 3.0,
    "memory_L_mb": 1536.0,  # 1.5 GB
}
STEP_TIMEOUT_S = {"build": 1500, "import": 600, "pages": 900, "browser": 420, "baseline": 600}
REPEATS = 3

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLOTLY_DRAWN = ".js-plotly-plot .main-svg"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------- datasets


def generator_version() -> str:
    """Changes when the generated data (or the schema it is imported into) could change."""
    h = hashlib.sha256()
    for rel in ("sample_data/generator.py", "analytics/schema.py"):
        h.update((ROOT / rel).read_bytes())
    return h.hexdigest()[:16]


def dataset_dir(size: str) -> Path:
    return DATA_DIR / size


def dataset_db(size: str) -> Path:
    return dataset_dir(size) / "clinic.duckdb"


def _read_stamp(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / "stamp.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def ensure_dataset(size: str) -> dict[str, Any]:
    """Build (or reuse) the sample clinic of ``size``: CSV export and imported database."""
    from analytics import ClinicDatabase
    from analytics.ingest.sample import build_sample_database

    directory = dataset_dir(size)
    version = generator_version()
    stamp = _read_stamp(directory)
    if stamp and stamp.get("version") == version and stamp.get("clients") == SIZES[size] and dataset_db(size).exists():
        return {**stamp, "reused": True}
    log(f"building dataset {size} ({SIZES[size]:,} clients)")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    started = time.perf_counter()
    result = build_sample_database(dataset_db(size), clients=SIZES[size], seed=SEED, csv_dir=directory / "csv")
    if result.exit_code != 0:
        raise RuntimeError(f"building dataset {size} rejected rows:\n{result.report()}")
    build_s = time.perf_counter() - started
    with ClinicDatabase(dataset_db(size)) as db:
        rows = {t: int(db.execute_sql(f"SELECT count(*) AS n FROM {t}")["n"].iloc[0])
                for t in ("clients", "sessions", "assignments", "scores")}
    stamp = {
        "version": version,
        "size": size,
        "clients": SIZES[size],
        "seed": SEED,
        "rows": rows,
        "db_mb": round(dataset_db(size).stat().st_size / 2**20, 1),
        "csv_mb": round(sum(p.stat().st_size for p in (directory / "csv").glob("*.csv")) / 2**20, 1),
        "build_s": round(build_s, 1),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (directory / "stamp.json").write_text(json.dumps(stamp, indent=2))
    return {**stamp, "reused": False}


def ensure_import_export() -> dict[str, Any]:
    """clients.csv + assignments.csv with exactly IMPORT_ROWS assignment rows."""
    from sample_data.generator import generate_clinic, write_csv

    directory = DATA_DIR / "import-1m"
    version = generator_version()
    stamp = _read_stamp(directory)
    if stamp and stamp.get("version") == version and stamp.get("assignments") == IMPORT_ROWS:
        return stamp
    log("writing the 1M-row import export")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    frames = generate_clinic(n_clients=IMPORT_CLIENTS, seed=SEED)
    assignments = frames["assignments"]
    if len(assignments) < IMPORT_ROWS:
        raise RuntimeError(f"the generator gave only {len(assignments):,} assignments for {IMPORT_CLIENTS:,} clients")
    assignments = assignments.iloc[:IMPORT_ROWS]
    clients = frames["clients"]
    clients = clients[clients["client_id"].isin(set(assignments["client_id"]))]
    write_csv(clients, directory / "clients.csv")
    write_csv(assignments, directory / "assignments.csv")
    stamp = {
        "version": version,
        "assignments": IMPORT_ROWS,
        "clients": len(clients),
        "csv_mb": round(sum(p.stat().st_size for p in directory.glob("*.csv")) / 2**20, 1),
    }
    (directory / "stamp.json").write_text(json.dumps(stamp, indent=2))
    return stamp


# ---------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class PageCase:
    """One page: its file, URL path, how to tell it is drawn, and its deep links."""

    name: str
    file: str  # relative to ROOT
    url_path: str  # "" for the home page
    ready: str  # CSS selector that appears when the page's main content is drawn
    link: Callable[[Any, int], dict[str, str]]  # (db, i) -> query params of the i-th deep link
    link_label: str

    def params(self, db: Any, i: int = 0) -> dict[str, str]:
        return self.link(db, i)


def _no_link(db: Any, i: int) -> dict[str, str]:
    return {}


def _clinics_by_size(db: Any) -> list[str]:
    frame = db.execute_sql("SELECT clinic FROM clients GROUP BY clinic ORDER BY count(*) DESC, clinic")
    return frame["clinic"].tolist()


def _clinic_link(db: Any, i: int) -> dict[str, str]:
    clinics = _clinics_by_size(db)
    return {"clinic": clinics[i % len(clinics)]}


def _busy_clients(db: Any, n: int) -> list[str]:
    frame = db.execute_sql(
        "SELECT client_id FROM assignments GROUP BY client_id ORDER BY count(*) DESC, client_id LIMIT $n", {"n": n}
    )
    return frame["client_id"].tolist()


def _client_link(db: Any, i: int) -> dict[str, str]:
    return {"client": _busy_clients(db, i + 1)[i]}


KNOWN_PAGES: dict[str, tuple[str, Callable[[Any, int], dict[str, str]], str]] = {
    # stem: (ready selector, deep link, description of the deep link)
    "client_review": (PLOTLY_DRAWN, _client_link, "?client=<client with most assignments>"),
    "cohort_outcomes": (PLOTLY_DRAWN, _clinic_link, "?clinic=<largest clinic>"),
    "quality_improvement": (PLOTLY_DRAWN, _clinic_link, "?clinic=<largest clinic>"),
    "data": ('[data-testid="stMain"] h1', _no_link, "-"),
    "glossary": ('[data-testid="stMain"] h2', _no_link, "-"),
}


def is_stub(path: Path) -> bool:
    return "Not built yet" in path.read_text(encoding="utf-8")


def page_sections(path: Path) -> tuple[str, ...]:
    """The tab labels of a page that runs only its open tab (``TABS = (...)`` bound to ``?section=``)."""
    import ast

    source = path.read_text(encoding="utf-8")
    if 'key="section"' not in source:
        return ()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TABS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    return ()


def _with_section(link: Callable[[Any, int], dict[str, str]], section: str) -> Callable[[Any, int], dict[str, str]]:
    return lambda db, i: {**link(db, i), "section": section}


def page_cases(include_stubs: bool = False, include_sections: bool = False) -> list[PageCase]:
    """The home page and every built page in pages/ (stubs are skipped).

    With ``include_sections``, also each further tab of a page that runs only its open tab
    (the first tab is the page's default view), as its own case "page · tab".
    """
    cases = [PageCase("home", "dashboard.py", "", '[data-testid="stMetricValue"]', _no_link, "-")]
    for path in sorted((ROOT / "pages").glob("*.py")):
        if path.stem.startswith("_") or (is_stub(path) and not include_stubs):
            continue
        if path.stem in KNOWN_PAGES:
            ready, link, label = KNOWN_PAGES[path.stem]
        else:
            source = path.read_text(encoding="utf-8")
            ready = PLOTLY_DRAWN if "plotly_chart" in source else '[data-testid="stMain"] h1'
            link, label = _no_link, "-"
        cases.append(PageCase(path.stem, f"pages/{path.name}", path.stem, ready, link, label))
        if include_sections:
            for section in page_sections(path)[1:]:
                cases.append(PageCase(f"{path.stem} · {section}", f"pages/{path.name}", path.stem, ready,
                                      _with_section(link, section),
                                      f"{label}&section={section}" if label != "-" else f"?section={section}"))
    return cases


class SqlRecorder:
    """Records every statement a page runs through ClinicDatabase.execute_sql."""

    def __init__(self) -> None:
        import analytics.db as adb

        self.statements: list[tuple[str, str, dict[str, Any]]] | None = None
        original = adb.ClinicDatabase.execute_sql
        recorder = self

        def recording(db: Any, sql: str, params: dict[str, Any] | None = None, *, label: str = "query") -> Any:
            if recorder.statements is not None:
                recorder.statements.append((label, sql, dict(params or {})))
            return original(db, sql, params, label=label)

        adb.ClinicDatabase.execute_sql = recording  # type: ignore[method-assign]

    def start(self) -> None:
        self.statements = []

    def stop(self) -> list[tuple[str, str, dict[str, Any]]]:
        statements, self.statements = self.statements or [], None
        return statements


def bare_sql(db_path: Path, statements: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """Each distinct statement once on a fresh connection, fetched as Arrow: seconds, largest result."""
    from analytics.db import ClinicDatabase, sql_parameters

    unique: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for _label, sql, params in statements:
        bound = {k: params[k] for k in sql_parameters(sql)}
        unique.setdefault((sql, repr(sorted(bound.items(), key=lambda kv: kv[0]))), (sql, bound))
    labels = {(sql, repr(sorted({k: params[k] for k in sql_parameters(sql)}.items(), key=lambda kv: kv[0]))): label
              for label, sql, params in statements}
    with ClinicDatabase(db_path) as db:
        started = time.perf_counter()
        largest, largest_label = 0, "-"
        for key, (sql, bound) in unique.items():
            cursor = db._con.cursor()
            try:
                table = cursor.sql(sql, params=bound).to_arrow_table()
                if table.num_rows > largest:
                    largest, largest_label = table.num_rows, labels.get(key, "?")
            finally:
                cursor.close()
        seconds = time.perf_counter() - started
    return {"sql_s": seconds, "statements": len(statements), "distinct_statements": len(unique),
            "largest_result_rows": largest, "largest_result_query": largest_label}


def _apptest(case: PageCase, params: dict[str, str], timeout: float) -> tuple[float, list[str]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / case.file), default_timeout=timeout)
    for key, value in params.items():
        at.query_params[key] = value
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    errors = [str(e.message).splitlines()[0][:200] if e.message else "exception" for e in at.exception]
    return seconds, errors


class ThreadSampler(threading.Thread):
    """A small sampling profiler for the threads AppTest runs page scripts in.

    (pyinstrument and cProfile see only the calling thread.) Every ``interval`` it takes the
    stacks of the other threads and counts, per sample, each project function on the stack
    (inclusive time) and the library the innermost frame is in (where the time is spent).
    """

    def __init__(self, interval: float = 0.001):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples = 0
        self.inclusive: dict[str, int] = {}
        self.leaf: dict[str, int] = {}
        self._stop_event = threading.Event()
        self._skip = {threading.get_ident()}

    def run(self) -> None:
        self._skip.add(threading.get_ident())
        root = str(ROOT) + os.sep
        while not self._stop_event.is_set():
            for ident, frame in sys._current_frames().items():
                if ident in self._skip:
                    continue
                seen: set[str] = set()
                leaf = None
                f = frame
                while f is not None:
                    filename = f.f_code.co_filename
                    if leaf is None:
                        leaf = _library_of(filename, root)
                    if filename.startswith(root) and "/.venv/" not in filename:
                        seen.add(f"{os.path.relpath(filename, ROOT)}:{f.f_code.co_firstlineno} {f.f_code.co_name}")
                    f = f.f_back
                if not seen:
                    continue  # an idle server thread, not the page script
                self.samples += 1
                for key in seen:
                    self.inclusive[key] = self.inclusive.get(key, 0) + 1
                if leaf:
                    self.leaf[leaf] = self.leaf.get(leaf, 0) + 1
            self._stop_event.wait(self.interval)

    def stop(self) -> str:
        self._stop_event.set()
        self.join(timeout=5)
        if not self.samples:
            return "no samples"
        lines = [f"{self.samples} samples of the page's script thread; share of samples:", "",
                 "inclusive, project functions (file:line of the def):"]
        for key, n in sorted(self.inclusive.items(), key=lambda kv: -kv[1])[:18]:
            lines.append(f"  {100 * n / self.samples:5.1f}%  {key}")
        lines += ["", "innermost frame by library (where the time goes):"]
        for key, n in sorted(self.leaf.items(), key=lambda kv: -kv[1])[:10]:
            lines.append(f"  {100 * n / self.samples:5.1f}%  {key}")
        return "\n".join(lines)


def _library_of(filename: str, root: str) -> str:
    if "site-packages" + os.sep in filename:
        return filename.split("site-packages" + os.sep, 1)[1].split(os.sep, 1)[0]
    if filename.startswith(root):
        return os.path.relpath(filename, ROOT).split(os.sep, 1)[0] + " (project)"
    return "python stdlib / builtins"


def _profile_page(case: PageCase, params: dict[str, str], *, cold: bool) -> str:
    """Where one page run spends its time (cold: caches cleared first)."""
    import streamlit as st

    if cold:
        st.cache_data.clear()
        st.cache_resource.clear()
    sampler = ThreadSampler()
    sampler.start()
    seconds, _ = _apptest(case, params, 300)
    return f"one {'cold' if cold else 'warm'} run, {seconds:.2f} s\n" + sampler.stop()


def step_pages(size: str) -> dict[str, Any]:
    import streamlit as st

    from analytics import ClinicDatabase

    target = dataset_db(size)
    warmup_db = dataset_db("S")
    cases = page_cases(include_sections=True)
    recorder = SqlRecorder()
    with ClinicDatabase(target) as db:
        links = {c.name: c.params(db) for c in cases}
    with ClinicDatabase(warmup_db) as db:
        warm_links = {c.name: c.params(db) for c in cases}
    # Python imports and first-run costs (plotly, page modules) are paid once per server
    # process, not per data version: pay them on the small clinic first.
    os.environ[DB_ENV] = str(warmup_db)
    for case in cases:
        _apptest(case, warm_links[case.name], 120)
    os.environ[DB_ENV] = str(target)
    rows = []
    for case in cases:
        log(f"pages {size}: {case.name}")
        colds, warms, errors, statements = [], [], [], []
        for attempt in range(REPEATS):
            st.cache_data.clear()
            st.cache_resource.clear()
            gc.collect()
            recorder.start()
            seconds, errs = _apptest(case, links[case.name], 300)
            recorded = recorder.stop()
            if attempt == 0:
                statements = recorded
            colds.append(seconds)
            errors += errs
            if errs:
                break
        for _ in range(REPEATS):
            seconds, errs = _apptest(case, links[case.name], 300)
            warms.append(seconds)
            errors += errs
        sql = bare_sql(target, statements) if statements else {"sql_s": None, "statements": 0, "distinct_statements": 0,
                                                               "largest_result_rows": 0}
        cold, warm = _median(colds), _median(warms)
        row = {
            "page": case.name,
            "link": case.link_label,
            "cold_s": cold,
            "cold_runs": colds,
            "warm_s": warm,
            **sql,
            "cold_to_sql": (cold / sql["sql_s"]) if cold and sql["sql_s"] else None,
            "errors": sorted(set(errors)),
        }
        cold_limit = TARGETS.get(f"page_cold_{size}")
        warm_limit = TARGETS.get(f"page_warm_{size}")
        if warm_limit is not None and warm is not None and warm > warm_limit:
            row["warm_profile"] = _profile_page(case, links[case.name], cold=False)
        if cold_limit is not None and cold is not None and cold > cold_limit:
            row["cold_profile"] = _profile_page(case, links[case.name], cold=True)
        rows.append(row)
    stubs = [p.stem for p in sorted((ROOT / "pages").glob("*.py")) if is_stub(p)]
    return {"size": size, "rows": rows, "stubs": stubs}


# ---------------------------------------------------------------------------- server + browser


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``streamlit run dashboard.py`` on a free local port; always stopped on exit.

    The server runs in its own process group, so stopping it (SIGTERM, then SIGKILL after
    ``stop_timeout``) also ends anything it started.
    """

    def __init__(self, db_path: Path, *, port: int | None = None, log_path: Path | None = None,
                 env: dict[str, str] | None = None, start_timeout: float = 60.0, stop_timeout: float = 10.0,
                 address: str = "127.0.0.1", args: tuple[str, ...] = ()):
        self.db_path = Path(db_path)
        self.address = address  # the interface the server binds; it is always reached on 127.0.0.1
        self.args = tuple(args)  # further `streamlit run` options, e.g. ("--secrets.files", path)
        self.port = port or free_port()
        self.log_path = log_path
        self.extra_env = env or {}
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StreamlitServer:
        env = {**os.environ, DB_ENV: str(self.db_path), "PYTHONUNBUFFERED": "1", **self.extra_env}
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"),
            "--server.headless", "true", "--server.address", self.address, "--server.port", str(self.port),
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--server.runOnSave", "false",
            *self.args,
        ]
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path else ""
                raise RuntimeError(f"streamlit exited with status {self.proc.returncode} before serving\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"streamlit did not answer on port {self.port} within {self.start_timeout:.0f} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


def _process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _status_kb(pid: int, field: str, source: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{source}", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree_memory_mb(pid: int) -> dict[str, float]:
    """Memory of ``pid`` and its descendants, MiB: summed VmRSS (counts shared pages once per
    process), summed PSS (shared pages divided among their processes: the tree's real
    footprint), and the server process's own RSS."""
    tree = _process_tree(pid)
    rss = {p: _status_kb(p, "VmRSS") for p in tree}  # one reading per process: the sums agree
    return {
        "rss": sum(rss.values()) / 1024,
        "pss": sum(_status_kb(p, "Pss", "smaps_rollup") for p in tree) / 1024,
        "server_rss": rss.get(pid, _status_kb(pid, "VmRSS")) / 1024,
        "processes": len(tree),
    }


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of ``pid`` and all its descendants, in MiB."""
    return process_tree_memory_mb(pid)["rss"]


class RssSampler(threading.Thread):
    """Peak memory of a process tree (each measure's own peak), sampled every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak: dict[str, float] = {}
        self._stop_event = threading.Event()

    def _sample(self) -> None:
        for key, value in process_tree_memory_mb(self.pid).items():
            self.peak[key] = max(self.peak.get(key, 0.0), value)

    def run(self) -> None:
        while not self._stop_event.is_set():
            self._sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join(timeout=5)
        self._sample()
        return self.peak


def page_url(base: str, case: PageCase, params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    query = f"?{urlencode(params)}" if params else ""
    return f"{base}/{case.url_path}{query}"


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# Timeline of a page load, in ms since the navigation started (performance.now()):
# shell = Streamlit's app root exists; done = the first script run has finished;
# chart = the first chart element is mounted (its code has loaded); drawn = the page's
# main content (selector) is there. Long tasks: main-thread work over 50 ms.
TIMELINE_JS = """
window.__bench = {long: []};
new PerformanceObserver(list => {
  for (const e of list.getEntries()) window.__bench.long.push([Math.round(e.startTime), Math.round(e.duration)]);
}).observe({type: 'longtask', buffered: true});
new MutationObserver(() => {
  const t = window.__bench, now = Math.round(performance.now());
  const app = document.querySelector('[data-testid="stApp"]');
  if (app && t.shell === undefined) t.shell = now;
  if (app && t.done === undefined && app.getAttribute('data-test-script-state') === 'notRunning') t.done = now;
  if (t.chart === undefined && document.querySelector('.js-plotly-plot')) t.chart = now;
}).observe(document, {subtree: true, childList: true, attributes: true});
"""
# Streamlit's Plotly code chunk: when it was requested and when it had arrived (ms).
PLOTLY_CODE_JS = """() => {
  const e = performance.getEntriesByType('resource').find(r => /\\/PlotlyChart\\.[^/]*\\.js$/.test(r.name));
  return e ? [Math.round(e.startTime), Math.round(e.responseEnd), e.decodedBodySize] : null;
}"""


def _read_timeline(page: Any, drawn_s: float) -> dict[str, Any]:
    timeline = page.evaluate("window.__bench")
    longest = max(timeline.pop("long", []), key=lambda t: t[1], default=None)
    return {**timeline, "drawn": round(1000 * drawn_s), "longest_task": longest,
            "plotly_code": page.evaluate(PLOTLY_CODE_JS)}


def step_browser(size: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from analytics import ClinicDatabase

    cases = page_cases()
    target = dataset_db(size)
    with ClinicDatabase(target) as db:
        links = {c.name: [c.params(db, i) for i in range(10)] for c in cases}
    result: dict[str, Any] = {"size": size, "rows": [], "memory": {}}
    log_path = DATA_DIR / f"server-{size}.log"
    log_path.unlink(missing_ok=True)
    with StreamlitServer(target, log_path=log_path) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            assert server.pid is not None
            result["memory_at_start"] = process_tree_memory_mb(server.pid)
            result["memory_at_start_mb"] = result["memory_at_start"]["rss"]
            # Warm the browser's own caches (Streamlit's static JS) once, as a returning user.
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            ctx.new_page().goto(f"{server.url}/glossary", wait_until="networkidle", timeout=60_000)
            ctx.close()
            timings: dict[str, dict[str, Any]] = {c.name: {"page": c.name, "link": c.link_label} for c in cases}
            # New visitors: the first visit of each page (server cache cold for its queries),
            # then REPEATS more (cached); the median of those is "second".
            for visit in range(1 + REPEATS):
                for case in cases:
                    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                    ctx.add_init_script(TIMELINE_JS)
                    page = ctx.new_page()
                    started = time.perf_counter()
                    try:
                        page.goto(page_url(server.url, case, links[case.name][0]), wait_until="commit", timeout=60_000)
                        page.locator(case.ready).first.wait_for(state="visible", timeout=60_000)
                        seconds = time.perf_counter() - started
                        if visit == 0:
                            timings[case.name]["first_s"] = seconds
                        else:
                            timings[case.name].setdefault("second_runs", []).append(
                                (seconds, _read_timeline(page, seconds)))
                        exceptions = page.locator('[data-testid="stException"]').count()
                        if exceptions:
                            timings[case.name]["errors"] = f"{exceptions} exception element(s)"
                    except Exception as exc:  # noqa: BLE001 - reported in the table
                        timings[case.name]["errors"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                    finally:
                        ctx.close()
                    if visit == 0:
                        timings[case.name]["rss_after_first_mb"] = process_tree_rss_mb(server.pid)
            for row in timings.values():
                _keep_median(row, "second_runs", "second_s", "second_timeline")
            # A returning browser: a persistent profile (disk cache and V8 code cache, as a
            # clinician's own browser) that has opened every link twice before; each visit
            # opens the link in a new tab (a new document and session). Then, in the same
            # profile, navigation inside the app (see _in_app_timings).
            with tempfile.TemporaryDirectory(prefix="bench-profile-") as profile:
                ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                           viewport={"width": 1400, "height": 1000})
                ctx.add_init_script(TIMELINE_JS)
                try:
                    for i, case in enumerate(cases * (2 + REPEATS)):  # two passes fill the caches
                        page = ctx.new_page()
                        started = time.perf_counter()
                        page.goto(page_url(server.url, case, links[case.name][0]), wait_until="commit",
                                  timeout=60_000)
                        page.locator(case.ready).first.wait_for(state="visible", timeout=60_000)
                        seconds = time.perf_counter() - started
                        if i >= 2 * len(cases):
                            timings[case.name].setdefault("returning_runs", []).append(
                                (seconds, _read_timeline(page, seconds)))
                        page.close()
                    for row in timings.values():
                        _keep_median(row, "returning_runs", "returning_s", "returning_timeline")
                    for name, measured in _in_app_timings(ctx, server, cases, links).items():
                        timings[name].update(measured)
                except Exception as exc:  # noqa: BLE001 - reported in the table
                    result["returning_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                finally:
                    ctx.close()
            result["rows"] = list(timings.values())
            result["memory"] = _memory_phase(browser, server, cases, links)
        finally:
            browser.close()
    return result


# Marks the end of the next script run: a counter of runs that have finished.
RUNS_DONE_JS = """
window.__runsDone = 0;
new MutationObserver(ms => { for (const m of ms) {
  if (m.target.getAttribute('data-test-script-state') === 'notRunning' && m.oldValue !== 'notRunning') window.__runsDone += 1;
}}).observe(document, {subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']});
"""


def _keep_median(row: dict[str, Any], runs_key: str, seconds_key: str, timeline_key: str) -> None:
    """From (seconds, timeline) runs: the median seconds and the timeline of the median run."""
    runs = sorted(row.pop(runs_key, []), key=lambda r: r[0])
    if runs:
        row[seconds_key] = _median([r[0] for r in runs])
        row[f"{seconds_key}_runs"] = [round(r[0], 3) for r in runs]
        row[timeline_key] = runs[(len(runs) - 1) // 2][1]


def _in_app_timings(ctx: Any, server: StreamlitServer, cases: list[PageCase],
                    links: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, Any]]:
    """Navigation inside the app, from a click to the main chart drawn (chart pages).

    Each measurement starts in a new tab of the (returning) profile, so the Plotly code is
    evaluated once in it, as on a user's first chart page of a visit. Cohort outcomes and
    quality improvement: from the home page, a click on the page in the sidebar (its default,
    clinic-wide view). Client review: on the page without a client, search for the client
    and click them in the list.
    """
    ctx.add_init_script(RUNS_DONE_JS)
    out: dict[str, dict[str, Any]] = {}
    # The first pass warms the server's cache for the default views; then REPEATS measured.
    runs: dict[str, list[float]] = {}
    for case in cases * (1 + REPEATS):
        if case.ready != PLOTLY_DRAWN:
            continue
        page = ctx.new_page()
        try:
            if case.name == "client_review":
                client = links[case.name][0]["client"]
                page.goto(page_url(server.url, case, {}), timeout=60_000)
                search = page.get_by_role("textbox", name="Search by client id")
                search.wait_for(timeout=60_000)
                done = page.evaluate("window.__runsDone")
                search.fill(client)
                search.press("Enter")
                page.wait_for_function("n => window.__runsDone > n", arg=done, timeout=60_000)
                page.get_by_role("combobox", name="Client").click()
                option = page.get_by_role("option", name=client, exact=True)
                option.wait_for(timeout=60_000)
                started = time.perf_counter()
                option.click()
            else:
                page.goto(f"{server.url}/", timeout=60_000)
                page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
                link = page.locator(f'[data-testid="stSidebarNavLink"][href$="/{case.url_path}"]')
                started = time.perf_counter()
                link.click()
            page.locator(case.ready).first.wait_for(state="visible", timeout=60_000)
            runs.setdefault(case.name, []).append(time.perf_counter() - started)
            out[case.name] = {"in_app_s": _median(runs[case.name][1:]), "in_app_runs": runs[case.name][1:],
                              "in_app_link": "search, pick the client" if case.name == "client_review"
                              else "sidebar link from Home"}
        except Exception as exc:  # noqa: BLE001 - reported in the table
            out[case.name] = {"in_app_s": None, "in_app_error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
        finally:
            page.close()
    return out


def _memory_phase(browser: Any, server: StreamlitServer, cases: list[PageCase],
                  links: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """10 browser sessions open at once on mixed pages, then each follows a second deep link."""
    assert server.pid is not None
    idle = process_tree_memory_mb(server.pid)
    sampler = RssSampler(server.pid)
    sampler.start()
    sessions = []
    try:
        chart_cases = [c for c in cases if c.name != "home"] or cases
        # Two waves; in each, session i opens a different page or deep link than its neighbours.
        waves = [[(chart_cases[(i + wave) % len(chart_cases)], links_i) for i, links_i in
                  ((i, i + wave) for i in range(10))] for wave in range(2)]
        for _ in range(10):
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            sessions.append((ctx, ctx.new_page()))
        started = time.perf_counter()
        for wave in waves:
            # Issue every navigation first, then wait: the server renders all 10 at once.
            for (case, i), (_ctx, page) in zip(wave, sessions, strict=True):
                page.goto(page_url(server.url, case, links[case.name][i % 10]), wait_until="commit", timeout=60_000)
            for (case, _i), (_ctx, page) in zip(wave, sessions, strict=True):
                page.locator(case.ready).first.wait_for(state="visible", timeout=120_000)
        all_drawn_s = time.perf_counter() - started
        opened = process_tree_memory_mb(server.pid)
    finally:
        peak = sampler.stop()
        for ctx, _page in sessions:
            ctx.close()
    return {"sessions": len(sessions), "idle_mb": idle["rss"], "open_mb": opened["rss"], "peak_mb": peak["rss"],
            "idle": idle, "open": opened, "peak": peak, "both_waves_s": all_drawn_s}


# ---------------------------------------------------------------------------- import


def _import_profile(db_path: Path, files: list[Path]) -> list[dict[str, Any]]:
    """Per-statement wall time of one import (which SQL in analytics/ingest/importer.py dominates)."""
    import re

    import analytics.ingest.importer as importer

    records: list[dict[str, Any]] = []
    original = importer.atomic_write

    class TimedConnection:
        def __init__(self, con: Any):
            self._con = con

        def execute(self, sql: str, *args: Any) -> Any:
            frame = next((f for f in reversed(traceback.extract_stack()[:-1]) if f.filename.endswith("importer.py")), None)
            started = time.perf_counter()
            try:
                return self._con.execute(sql, *args)
            finally:
                records.append({
                    "seconds": time.perf_counter() - started,
                    "where": f"analytics/ingest/importer.py:{frame.lineno} ({frame.name})" if frame else "?",
                    "sql": re.sub(r"\s+", " ", sql).strip()[:110],
                })

        def __getattr__(self, name: str) -> Any:
            return getattr(self._con, name)

    @contextlib.contextmanager
    def timed_atomic_write(path: Any, settings: Any = None) -> Iterator[Any]:
        with original(path, settings) as con:
            yield TimedConnection(con)

    importer.atomic_write = timed_atomic_write
    try:
        started = time.perf_counter()
        importer.import_files(db_path, files, source="bench")
        total = time.perf_counter() - started
    finally:
        importer.atomic_write = original
    records.sort(key=lambda r: -r["seconds"])
    in_sql = sum(r["seconds"] for r in records)
    return [{"seconds": total, "where": "total import_files", "sql": ""},
            {"seconds": total - in_sql, "where": "outside SQL (Python, file hashing, line numbering, copy/fsync)",
             "sql": ""}] + records[:12]


def _pyinstrument_profile(db_path: Path, files: list[Path]) -> str | None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    from analytics import import_files

    profiler = Profiler(interval=0.002)
    profiler.start()
    import_files(db_path, files, source="bench")
    profiler.stop()
    return profiler.output_text(unicode=False, color=False, show_all=False)


def step_import() -> dict[str, Any]:
    import duckdb

    from analytics import import_files

    export = ensure_import_export()
    directory = DATA_DIR / "import-1m"
    files = [directory / "clients.csv", directory / "assignments.csv"]
    scratch = Path(tempfile.mkdtemp(prefix="bench-import-", dir=DATA_DIR))
    try:
        imports, bare_file, bare_memory = [], [], []
        for attempt in range(REPEATS):
            target = scratch / f"import-{attempt}.duckdb"
            started = time.perf_counter()
            result = import_files(target, files, source="bench")
            imports.append(time.perf_counter() - started)
            if result.exit_code != 0 or result.inserted != IMPORT_ROWS + export["clients"]:
                raise RuntimeError(f"the benchmark import did not import every row:\n{result.report()}")
            log(f"import run {attempt + 1}: {imports[-1]:.2f} s")
            bare = scratch / f"bare-{attempt}.duckdb"
            started = time.perf_counter()
            con = duckdb.connect(str(bare))
            con.execute("CREATE TABLE clients AS SELECT * FROM read_csv(?)", [str(files[0])])
            con.execute("CREATE TABLE assignments AS SELECT * FROM read_csv(?)", [str(files[1])])
            con.execute("CHECKPOINT")
            con.close()
            bare_file.append(time.perf_counter() - started)
            started = time.perf_counter()
            con = duckdb.connect(":memory:")
            con.execute("CREATE TABLE assignments AS SELECT * FROM read_csv(?)", [str(files[1])])
            rows = con.execute("SELECT count(*) FROM assignments").fetchall()[0][0]
            con.close()
            bare_memory.append(time.perf_counter() - started)
            if rows != IMPORT_ROWS:
                raise RuntimeError(f"bare read_csv read {rows} rows")
            for leftover in scratch.glob("*.duckdb*"):
                leftover.unlink()
        out: dict[str, Any] = {
            "rows": IMPORT_ROWS,
            "clients": export["clients"],
            "csv_mb": export["csv_mb"],
            "import_s": _median(imports),
            "import_runs": imports,
            "bare_file_s": _median(bare_file),
            "bare_file_runs": bare_file,
            "bare_memory_s": _median(bare_memory),
        }
        out["ratio"] = out["import_s"] / out["bare_file_s"]
        out["ratio_memory"] = out["import_s"] / out["bare_memory_s"]
        # An incremental import: the same 1M rows again into the database that holds them
        # (every row compared, all unchanged), as a clinic's monthly cumulative export does.
        target = scratch / "again.duckdb"
        import_files(target, files, source="bench")
        started = time.perf_counter()
        import_files(target, files, source="bench")
        out["reimport_unchanged_s"] = time.perf_counter() - started
        target.unlink(missing_ok=True)
        # Where the import's time goes, statement by statement (always: the ratio is close to
        # its target), and the Python call tree when the target is missed.
        out["profile"] = _import_profile(scratch / "profile.duckdb", files)
        if out["ratio"] > TARGETS["import_ratio"]:
            log("import ratio above target: profiling the Python side too")
            text = _pyinstrument_profile(scratch / "pyinstrument.duckdb", files)
            if text:
                out["pyinstrument"] = text
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------- baseline


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


def step_baseline(size: str) -> dict[str, Any]:
    from analytics import Settings, Viewer, cohort_summary, open_database

    settings = Settings()
    db_path, csv_dir = dataset_db(size), dataset_dir(size) / "csv"
    ours_runs, pandas_runs = [], []
    ours = theirs = None
    repeats = REPEATS if size != "XL" else 2
    for _ in range(repeats):
        started = time.perf_counter()
        with open_database(db_path) as db:
            ours = cohort_summary(db, Viewer.local(), None, settings)
        ours_runs.append(time.perf_counter() - started)
        gc.collect()
        started = time.perf_counter()
        theirs = pandas_cohort_summary(csv_dir, settings)
        pandas_runs.append(time.perf_counter() - started)
        gc.collect()
    assert ours is not None and theirs is not None
    diffs = _differences(_headline(ours), _headline(theirs))
    return {
        "size": size,
        "ours_s": _median(ours_runs),
        "pandas_s": _median(pandas_runs),
        "ratio": _median(pandas_runs) / _median(ours_runs),
        "numbers_agree": not diffs,
        "differences": diffs[:10],
        "headline_values": len(_headline(ours)),
    }


# ---------------------------------------------------------------------------- orchestration


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
    timeout = STEP_TIMEOUT_S[name]
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


def _step_main(name: str, size: str | None, result_path: Path) -> int:
    sys.path.insert(0, str(ROOT))
    try:
        if name == "build":
            assert size
            data = ensure_dataset(size)
        elif name == "import":
            data = step_import()
        elif name == "pages":
            assert size
            data = step_pages(size)
        elif name == "browser":
            assert size
            data = step_browser(size)
        elif name == "baseline":
            assert size
            data = step_baseline(size)
        else:
            raise ValueError(f"unknown step {name}")
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
    stamp = lambda data: {**data, "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}  # noqa: E731
    if "import" in steps:
        log("step import")
        results["import"] = stamp(_run_step("import"))
    for size in sizes:
        if "pages" in steps:
            log(f"step pages {size}")
            results.setdefault("pages", {})[size] = stamp(_run_step("pages", "--size", size))
    if "browser" in steps and "L" in sizes:
        log("step browser L")
        results["browser"] = stamp(_run_step("browser", "--size", "L"))
    for size in sizes:
        if "baseline" in steps and size in ("L", "XL"):
            log(f"step baseline {size}")
            results.setdefault("baseline", {})[size] = stamp(_run_step("baseline", "--size", size))
    results["command"] = f"python -m analytics bench --sizes {','.join(sizes)}" + (
        f" --steps {','.join(steps)}" if set(steps) != set(ALL_STEPS) else "")
    RESULTS_FILE.write_text(json.dumps(results, indent=2, default=str))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results))
    log(f"wrote {out}")
    return results


# ---------------------------------------------------------------------------- report


def _s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ok(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "yes" if value <= limit else "**no**"


def target_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    imp = results.get("import", {})
    if "ratio" in imp:
        rows.append(("Import 1M assignment rows / bare read_csv", f"{imp['ratio']:.1f}x", "<= 3x",
                     _ok(imp["ratio"], TARGETS["import_ratio"])))
    pages = results.get("pages", {})
    for size, key, label, limit in (("L", "cold_s", "cold", "page_cold_L"), ("L", "warm_s", "warm", "page_warm_L"),
                                    ("XL", "cold_s", "cold", "page_cold_XL")):
        data = pages.get(size, {})
        values = [(r["page"], r.get(key)) for r in data.get("rows", [])]
        if values:
            worst_page, worst = max(values, key=lambda v: -1 if v[1] is None else v[1])
            failed = [r["page"] for r in data["rows"] if r.get("errors")]
            note = f" (errors on {', '.join(failed)})" if failed else ""
            rows.append((f"Pages {size} {label}, slowest ({worst_page}){note}", f"{_s(worst)} s",
                         f"<= {TARGETS[limit]} s", "**no**" if failed else _ok(worst, TARGETS[limit])))
    browser = results.get("browser", {})
    if browser.get("rows"):
        for key, label in (("first_s", "new visitor (empty browser cache, cold server cache), deep link"),
                           ("returning_s", "returning browser, deep link in a new tab"),
                           ("in_app_s", "navigation inside the app (click to chart)")):
            values = [(r["page"], r.get(key)) for r in browser["rows"] if key in r]
            if not values:
                continue
            worst_page, worst = max(values, key=lambda v: float("inf") if v[1] is None else v[1])
            rows.append((f"Browser L, navigation to main chart drawn, {label}, slowest ({worst_page})",
                         f"{_s(worst)} s", f"<= {TARGETS['browser_L']} s", _ok(worst, TARGETS["browser_L"])))
    memory = browser.get("memory", {})
    if memory.get("peak_mb"):
        pss = memory.get("peak", {}).get("pss")
        extra = f" (PSS {pss:.0f} MiB)" if pss else ""
        rows.append(("Server memory L, 10 concurrent sessions, peak RSS of server + children", f"{memory['peak_mb']:.0f} MiB"
                     + extra, "<= 1.5 GB", _ok(memory["peak_mb"], TARGETS["memory_L_mb"])))
    return rows


def render(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{results.get('command', 'python -m analytics bench')}` (benchmarks/bench.py); "
        "do not edit by hand. Speed is measured here, never asserted in unit tests.",
        "",
        f"- Date: {m.get('date', '-')}",
        f"- Machine: {m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('memory_gb')} GB RAM, {m.get('os')}; "
        f"load average at start {m.get('load_average')}",
        f"- Versions: Python {m.get('python')}, DuckDB {m.get('duckdb')}, Streamlit {m.get('streamlit')}, "
        f"pandas {m.get('pandas')}, Playwright {m.get('playwright')}, {m.get('chromium')}",
        "",
        "Times are medians of repeated runs (3; 2 for the XL baseline) unless a column says otherwise.",
        "",
        "## Targets",
        "",
        "| Target | Measured | Limit | Met |",
        "|---|---:|---:|:---:|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in target_rows(results)]

    datasets = results.get("datasets", {})
    if datasets:
        lines += ["", "## Datasets", "",
                  "Seeded sample generator (seed 7), imported through the real importer.", "",
                  "| Size | Clients | Sessions | Assignments | Scores | CSV MB | DB MB | Build s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for size, d in datasets.items():
            if "rows" not in d:
                lines.append(f"| {size} | {d.get('error', '-')} | | | | | | |")
                continue
            r = d["rows"]
            lines.append(f"| {size} | {r['clients']:,} | {r['sessions']:,} | {r['assignments']:,} | {r['scores']:,} | "
                         f"{d.get('csv_mb', '-')} | {d['db_mb']} | {d['build_s']} |")

    imp = results.get("import")
    if imp:
        lines += ["", "## Import", "", f"Measured {imp.get('measured_at', '-')}.", ""]
        if "error" in imp:
            lines.append(f"Failed: {imp['error']}")
        else:
            lines += [
                f"{imp['rows']:,} assignment rows and the {imp['clients']:,} clients they reference "
                f"({imp['csv_mb']} MB of CSV) into a new database file.",
                "",
                "| Path | Seconds | Ratio |",
                "|---|---:|---:|",
                f"| `analytics.import_files`: every rule checked, rejects kept, atomic swap | {_s(imp['import_s'])} | "
                f"**{imp['ratio']:.1f}x** |",
                f"| bare `CREATE TABLE AS SELECT * FROM read_csv(...)`, both files into a database file + CHECKPOINT "
                f"| {_s(imp['bare_file_s'])} | 1.0x |",
                f"| bare `read_csv` of assignments.csv into an in-memory table | {_s(imp['bare_memory_s'])} | "
                f"(import is {imp['ratio_memory']:.1f}x) |",
                f"| re-import of the same files into the database that holds them (all rows unchanged) | "
                f"{_s(imp.get('reimport_unchanged_s'))} | |",
                "",
                f"Import runs: {', '.join(_s(x) for x in imp['import_runs'])} s; bare (file) runs: "
                f"{', '.join(_s(x) for x in imp['bare_file_runs'])} s.",
            ]
            if imp.get("profile"):
                lines += ["", "### Where the import's time goes", "",
                          "Wall time per SQL statement of one import run, largest first:", "",
                          "| Seconds | Where | Statement |", "|---:|---|---|"]
                for r in imp["profile"]:
                    sql = r["sql"].replace("|", "\\|")
                    lines.append(f"| {r['seconds']:.2f} | {r['where']} | `{sql}` |" if sql else
                                 f"| {r['seconds']:.2f} | {r['where']} | |")
            if imp.get("pyinstrument"):
                lines += ["", "<details><summary>pyinstrument (Python call tree)</summary>", "", "```",
                          imp["pyinstrument"].strip(), "```", "", "</details>"]

    pages = results.get("pages", {})
    if pages:
        lines += ["", "## Pages (server side, AppTest)", "",
                  "Cold: Streamlit caches cleared before the run (new database connection, every query runs). "
                  "Warm: a new session served from the cache. Python imports are paid beforehand on the S clinic, "
                  "as in a running server receiving a new data version. Bare SQL: each distinct statement the page "
                  "ran, once, directly on a fresh DuckDB connection (results fetched as Arrow); "
                  "Largest result: the most rows any one of those statements returned to Python.", ""]
        for size, data in pages.items():
            lines += [f"### {size} ({SIZES.get(size, 0):,} clients), measured {data.get('measured_at', '-')}", ""]
            if "error" in data:
                lines += [f"Failed: {data['error']}", ""]
                continue
            limits = {"L": (TARGETS["page_cold_L"], TARGETS["page_warm_L"]), "XL": (TARGETS["page_cold_XL"], None)}
            cold_limit, warm_limit = limits.get(size, (None, None))
            lines += ["| Page | Deep link | Cold s | Warm s | Bare SQL s | Cold / SQL | Statements (distinct) | "
                      "Largest result rows (query) | Within target | Errors |",
                      "|---|---|---:|---:|---:|---:|---:|---:|:---:|---|"]
            for r in data["rows"]:
                met = "-"
                if cold_limit is not None:
                    ok = r["cold_s"] is not None and r["cold_s"] <= cold_limit and not r["errors"]
                    if warm_limit is not None:
                        ok = ok and r["warm_s"] is not None and r["warm_s"] <= warm_limit
                    met = "yes" if ok else "**no**"
                ratio = f"{r['cold_to_sql']:.1f}x" if r.get("cold_to_sql") else "-"
                largest = f"{r['largest_result_rows']:,}"
                if r.get("largest_result_query") not in (None, "-"):
                    largest += f" ({r['largest_result_query']})"
                lines.append(
                    f"| {r['page']} | {r['link']} | {_s(r['cold_s'])} | {_s(r['warm_s'], 3)} | {_s(r['sql_s'], 3)} | "
                    f"{ratio} | {r['statements']} ({r['distinct_statements']}) | {largest} | {met} | "
                    f"{'; '.join(r['errors']) or '-'} |")
            for r in data["rows"]:
                for kind in ("warm", "cold"):
                    if r.get(f"{kind}_profile"):
                        lines += ["", f"<details><summary>{r['page']} at {size}: sampled profile of a {kind} run "
                                  "(over its target)</summary>", "", "```", r[f"{kind}_profile"].strip(), "```", "",
                                  "</details>"]
            if data.get("stubs"):
                lines += ["", f"Not measured (still stubs): {', '.join(data['stubs'])}."]
            lines.append("")

    browser = results.get("browser")
    if browser:
        lines += ["", f"## Browser (headless Chromium, L), measured {browser.get('measured_at', '-')}", ""]
        if "error" in browser and not browser.get("rows"):
            lines.append(f"Failed: {browser['error']}")
        else:
            lines += ["From `page.goto` to the page's main content visible (Plotly's `.main-svg` for chart pages, "
                      "the metrics on Home, the first heading elsewhere). New visitor: each visit in a new "
                      "browser context (a new Streamlit session) with an empty browser cache, so Streamlit's and "
                      "Plotly's JavaScript are downloaded and compiled each time; first visit: the server's cache "
                      "is cold for that page's queries; second: the median of three more visits (cached). "
                      "Returning browser (median of three): one context whose "
                      "cache already holds the JavaScript (a persistent profile that opened every link twice "
                      "before, so Chrome's code cache is warm too); each visit opens the link in a new tab (a new "
                      "document and session). In the app: in a new tab of that profile, from a click to the chart "
                      "drawn (median of three, after a pass that warms the server's cache): the sidebar link "
                      "from Home (the page's default, network-wide view) or, on the client review, picking the "
                      "client found by the search. Each includes evaluating the Plotly code once in the new tab.", "",
                      "| Page | Deep link | New visitor, first s | New visitor, second s | Returning browser s "
                      "| In the app s | Within 3 s (new / returning / in the app) | Errors |",
                      "|---|---|---:|---:|---:|---:|:---:|---|"]
            limit = TARGETS["browser_L"]
            for r in browser["rows"]:
                in_app = f"{_s(r.get('in_app_s'))} ({r['in_app_link']})" if r.get("in_app_link") else "-"
                errors = "; ".join(e for e in (r.get("errors"), r.get("in_app_error")) if e) or "-"
                lines.append(f"| {r['page']} | {r['link']} | {_s(r.get('first_s'))} | {_s(r.get('second_s'))} | "
                             f"{_s(r.get('returning_s'))} | {in_app} | {_ok(r.get('first_s'), limit)} / "
                             f"{_ok(r.get('returning_s'), limit)} / "
                             f"{_ok(r.get('in_app_s'), limit) if 'in_app_s' in r else '-'} | {errors} |")
            lines += ["", "### Where the time goes in the browser", "",
                      "Milliseconds since the navigation started, for the median new visitor's second visit "
                      "(server cache warm) and the median returning-browser visit. *Shell*: Streamlit's page shell is up (its "
                      "JavaScript loaded, before the websocket); *script done*: the page's script run has "
                      "finished on the server and its output arrived; *Plotly code*: Streamlit's Plotly chunk "
                      "requested → arrived (Streamlit requests it only when the first chart element arrives); "
                      "*longest task*: the longest main-thread task (start + duration; for a new visitor this "
                      "is evaluating the Plotly chunk); *chart mounted*: the first chart's element exists (its "
                      "code has run); *drawn*: the chart's SVG is there.", "",
                      "| Page | Visit | Shell | Script done | Plotly code | Longest task | Chart mounted | Drawn |",
                      "|---|---|---:|---:|---|---|---:|---:|"]

            def cell(t: dict[str, Any], key: str) -> str:
                value = t.get(key)
                return "-" if value is None else str(value)

            for r in browser["rows"]:
                for label, key in (("new visitor", "second_timeline"), ("returning", "returning_timeline")):
                    t = r.get(key) or {}
                    if not t:
                        continue
                    code = t.get("plotly_code")
                    code_cell = f"{code[0]} → {code[1]} ({code[2] / 1e6:.1f} MB)" if code else "-"
                    task = t.get("longest_task")
                    task_cell = f"{task[0]} + {task[1]}" if task else "-"
                    lines.append(f"| {r['page']} | {label} | {cell(t, 'shell')} | {cell(t, 'done')} | {code_cell} | "
                                 f"{task_cell} | {cell(t, 'chart')} | {cell(t, 'drawn')} |")
            if browser.get("returning_error"):
                lines += ["", f"Returning-browser series failed: {browser['returning_error']}"]
            mem = browser.get("memory") or {}
            if mem.get("peak"):
                lines += ["", "### Memory", "",
                          f"The Streamlit server with {mem['sessions']} browser sessions open at once on mixed pages and "
                          "deep links, each following a second deep link; memory of the server process and its "
                          "children (kaleido's headless Chromium, started by the first PDF export of a process; these "
                          "sessions export nothing), sampled every 0.1 s. RSS summed over processes counts shared pages once per "
                          "process; PSS divides them among the processes (the tree's real footprint).", "",
                          "| | Server started | Idle (after the timings above) | Sessions open | Peak | Limit |",
                          "|---|---:|---:|---:|---:|---:|"]
                start_mem = browser.get("memory_at_start") or {}
                for key, label in (("rss", "RSS, server + children"), ("pss", "PSS, server + children"),
                                   ("server_rss", "RSS, server process alone")):
                    lines.append(f"| {label} | {start_mem.get(key, 0):.0f} MiB | {mem['idle'][key]:.0f} MiB | "
                                 f"{mem['open'][key]:.0f} MiB | **{mem['peak'][key]:.0f} MiB** | 1.5 GB |")
                lines += ["", f"Processes in the tree at the peak: {mem['peak'].get('processes', 0):.0f}. "
                          "RSS (server + children) after each page's first visit, MiB: "
                          + ", ".join(f"{r['page']} {r['rss_after_first_mb']:.0f}" for r in browser["rows"]
                                      if r.get("rss_after_first_mb")) + ".", "",
                          f"All {mem['sessions']} sessions drew both pages in {mem['both_waves_s']:.1f} s."]
            elif mem:
                lines += ["", "### Memory", "",
                          f"Streamlit server resident memory (VmRSS of the server process and its children, "
                          f"sampled every 0.1 s) with {mem['sessions']} browser sessions open at once on mixed "
                          "pages and deep links, each following a second deep link:", "",
                          "| Server started | Idle (after the timings above) | With the sessions open | Peak | Limit |",
                          "|---:|---:|---:|---:|---:|",
                          f"| {browser.get('memory_at_start_mb', 0):.0f} MiB | {mem['idle_mb']:.0f} MiB | "
                          f"{mem['open_mb']:.0f} MiB | **{mem['peak_mb']:.0f} MiB** | 1.5 GB |", "",
                          "Resident memory after each page's first visit (MiB): "
                          + ", ".join(f"{r['page']} {r['rss_after_first_mb']:.0f}" for r in browser["rows"]
                                      if r.get("rss_after_first_mb")) + ".", "",
                          f"All {mem['sessions']} sessions drew both pages in {mem['both_waves_s']:.1f} s."]

    baseline = results.get("baseline", {})
    if baseline:
        lines += ["", "## Baseline: the cohort summary without this product", "",
                  "The whole-clinic headline numbers of `python -m analytics summary --json` (clients, assignments, "
                  "reviewed, mean quantity and quality, and per measure paired clients, mean change, reliable "
                  "improvement and deterioration, caseness, recovered, recovery rate, r with quantity and quality) "
                  "computed the way a clinic would: pandas reading the CSV exports (clients, assignments, scores) "
                  "and computing them; vs ours: open the database and `analytics.cohort_summary`.", "",
                  "| Size | pandas from CSV s | Ours s | pandas / ours | Same numbers |",
                  "|---|---:|---:|---:|---|"]
        for size, b in baseline.items():
            if "error" in b:
                lines.append(f"| {size} | {b['error']} | | | |")
                continue
            agree = (f"yes ({b['headline_values']} values)" if b["numbers_agree"]
                     else "no: " + "; ".join(b["differences"]))
            lines.append(f"| {size} | {_s(b['pandas_s'])} | {_s(b['ours_s'])} | {b['ratio']:.1f}x | {agree} |")
    lines.append("")
    return "\n".join(lines)


ALL_STEPS = ("import", "pages", "browser", "baseline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="S,L,XL", help="comma-separated: S, L, XL (default all)")
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
