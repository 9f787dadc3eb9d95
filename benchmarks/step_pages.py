"""Step "pages": every built page's server-side run under Streamlit's AppTest at one size,
cold, warm and beside it the bare SQL it ran; a sampled profile of a page over its target."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import DB_ENV, REPEATS, ROOT, TARGETS, _median, dataset_db, log
from tests.support.browser import PLOTLY_DRAWN


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
    # the first entry's heading (st.subheader: h3) in the open tab; the page has no h2 since it moved to tabs
    "glossary": ('[data-testid="stMain"] [role="tabpanel"] h3', _no_link, "-"),
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


def network_cases(cases: list[PageCase]) -> list[PageCase]:
    """Each page whose deep link is a clinic, opened without it: the whole network (as far as the
    viewer sees), "<page> · network"."""
    return [PageCase(f"{c.name} · network", c.file, c.url_path, c.ready, _no_link, "- (whole network)")
            for c in cases if c.link is _clinic_link]


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
            db.ensure_macros(sql)
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

    # Through the app's navigation (dashboard.py), as a visitor opens the page: a page run on its
    # own has no navigation, so its links to other pages fail (the Caseload page's glossary link
    # did, and the page was reported as erroring at every size).
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=timeout)
    if case.file != "dashboard.py":
        at.switch_page(case.file)
    for key, value in params.items():
        at.query_params[key] = value
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    errors = [str(e.message).splitlines()[0][:200] if e.message else "exception" for e in at.exception]
    return seconds, errors


@contextmanager
def recording_queries() -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """Inside the block, every statement any ClinicDatabase runs is appended to the list yielded:
    (query name or label, SQL text, bound parameters)."""
    import analytics.db as adb

    recorded: list[tuple[str, str, dict[str, Any]]] = []
    originals = {m: getattr(adb.ClinicDatabase, m) for m in ("execute_sql", "rows", "query_chunks")}

    def wrapper(method: str) -> Callable[..., Any]:
        original = originals[method]

        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            params = args[1] if len(args) > 1 else kwargs.get("params")
            if method == "execute_sql":
                recorded.append((kwargs.get("label", "query"), args[0], dict(params or {})))
            else:
                recorded.append((args[0], adb.load_sql(args[0]), dict(params or {})))
            return original(self, *args, **kwargs)
        return wrapped

    for method in originals:
        setattr(adb.ClinicDatabase, method, wrapper(method))
    try:
        yield recorded
    finally:
        for method, original in originals.items():
            setattr(adb.ClinicDatabase, method, original)


def record_page_queries(db_path: str | Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(query name or label, SQL text, bound parameters) of every statement each page and tab runs
    on ``db_path`` (its first deep link, caches cleared before each), in order, then of the
    analytics calls behind the views a default page run does not reach (:func:`other_views`):
    the parameters really bound, for checks that run the same statements elsewhere
    (scripts/engine_parity.py, tests/test_sql_portable.py)."""
    from analytics import ClinicDatabase

    previous = os.environ.get(DB_ENV)
    try:
        os.environ[DB_ENV] = str(db_path)
        cases = page_cases(include_sections=True)
        with ClinicDatabase(db_path) as db:
            links = {c.name: c.params(db) for c in cases}
        with recording_queries() as recorded:
            for case in cases:
                clear_caches()
                _seconds, errors = _apptest(case, links[case.name], 300)
                if errors:
                    raise RuntimeError(f"{case.name} {links[case.name]}: {errors}")
            clear_caches()
            with ClinicDatabase(db_path) as db:
                other_views(db)
    finally:
        if previous is None:
            os.environ.pop(DB_ENV, None)
        else:
            os.environ[DB_ENV] = previous
    return list(recorded)


def other_views(db: Any) -> dict[str, Any]:
    """The results, by label, of the analytics calls of views a default page run does not reach: a therapist's filters and
    dates (computed, not stored), the client-level lists, curves fitted anew, the per-measure QI
    outcomes, the compliance histogram of a large cohort, the de-identified views, a client and a
    user looked up, the within-client interval rows and sudden gains of a setting not stored."""
    from datetime import date

    from analytics import Settings, Viewer, filter_options
    from analytics.access import find_client, viewer_for_email
    from analytics.cohort_outcomes.model import compliance_bins, within_client_analysis
    from analytics.cohort_outcomes.sudden_gain_summary import sudden_gain_summary
    from analytics.data.model import scope_dates
    from analytics.deidentified import deidentified_cohort_view, deidentified_design, deidentified_within
    from analytics.expected_response import expected_curves, response_history
    from analytics.metrics import client_homework, client_paired_outcomes, cohort_clients
    from analytics.quality_improvement.model import alert_clients, quality_report
    from analytics.statistics import within_between_model

    local = Viewer.local()
    therapist = Viewer(role="therapist", email="t@example.org", therapist_id=filter_options(db, local)["therapist"][0])
    qi = Viewer(role="qi", email="qi@example.org")
    first_client = str(cohort_clients(db, local).sort_values("client_id")["client_id"].iloc[0])
    return {
        "filter_options (therapist)": filter_options(db, therapist),
        "scope_dates (therapist)": scope_dates(db, therapist),
        "cohort_clients": cohort_clients(db, local),
        "client_homework": client_homework(db, local),
        "client_paired_outcomes": client_paired_outcomes(db, local),
        "response_history": response_history(db, local),
        "expected_curves (fitted anew)": expected_curves(db, local, fit_before=date(2026, 1, 1)),
        "compliance_bins": compliance_bins(db, local, None, "PHQ-9", Settings(), min_clients=1),
        "alert_clients": alert_clients(db, local),
        "quality_report (per measure)": quality_report(db, local, measure="PHQ-9", deidentified=False),
        # the de-identified views a QI viewer opens, a client looked up by id, a user by e-mail
        "deidentified_cohort_view": deidentified_cohort_view(db, qi, None, "PHQ-9"),
        "deidentified_design": deidentified_design(db, qi, None),
        "deidentified_within": deidentified_within(db, qi, None, "PHQ-9"),
        "find_client": find_client(db, local, first_client),
        "viewer_for_email": viewer_for_email(db, "nobody@example.org"),
        # the interval rows of the statsmodels cross-check; sudden gains of a setting not stored
        "within_client_analysis (interval rows)": within_client_analysis(db, local, None, "PHQ-9",
                                                                         fit=within_between_model),
        "sudden_gain_summary (found anew)": sudden_gain_summary(db, local, None, "PHQ-9",
                                                                Settings(baseline_days_before_intake=7)),
    }


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


def clear_caches() -> None:
    """A cold page: Streamlit's caches and the in-process cache of fitted curves emptied."""
    import streamlit as st

    from analytics.expected_response import clear_curve_cache

    st.cache_data.clear()
    st.cache_resource.clear()
    clear_curve_cache()


def _profile_page(case: PageCase, params: dict[str, str], *, cold: bool) -> str:
    """Where one page run spends its time (cold: caches cleared first)."""

    if cold:
        clear_caches()
    sampler = ThreadSampler()
    sampler.start()
    seconds, _ = _apptest(case, params, 300)
    return f"one {'cold' if cold else 'warm'} run, {seconds:.2f} s\n" + sampler.stop()


def step_pages(size: str) -> dict[str, Any]:

    from analytics import ClinicDatabase

    target = dataset_db(size)
    warmup_db = dataset_db("S")
    # At XXL each page's main view only (its other tabs run the same queries on the same rows), at the
    # largest clinic and at the whole network (issue 12 item 3).
    cases = page_cases(include_sections=size != "XXL")
    if size == "XXL":
        cases += network_cases(cases)
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
            clear_caches()
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
