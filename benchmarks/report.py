"""The Markdown report (docs/benchmarks.md) from the results of the steps: one function a section."""

from __future__ import annotations

from typing import Any

from benchmarks.common import SIZES, TARGETS


def _s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ok(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "yes" if value <= limit else "**no**"


def _at_least(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "yes" if value >= limit else "**no**"


def target_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for size, b in results.get("baseline", {}).items():
        if size != "L" or "ratio" not in b:
            continue
        rows.append(("Summary at L, whole processes: pandas over the CSV exports / `python -m analytics summary --json`",
                     f"{b['ratio']:.1f}x ({_s(b['pandas_s'])} s / {_s(b['ours_s'])} s)",
                     f">= {TARGETS['summary_ratio_L']:.0f}x", _at_least(b["ratio"], TARGETS["summary_ratio_L"])))
        if b.get("cli_help_s") is not None:
            rows.append(("Cold command-line start, `python -m analytics --help`, whole process",
                         f"{_s(b['cli_help_s'])} s", f"< {TARGETS['cli_start_s']} s",
                         _ok(b["cli_help_s"], TARGETS["cli_start_s"])))
    imp = results.get("import", {})
    if "ratio" in imp:
        rows.append(("Import 1M assignment rows / bare read_csv", f"{imp['ratio']:.1f}x", "<= 3x",
                     _ok(imp["ratio"], TARGETS["import_ratio"])))
    xxl = results.get("datasets", {}).get("XXL", {})
    if "import_s" in xxl:
        clients = f"{xxl.get('clients', 0):,}"
        rows.append((f"Import of the XXL export ({clients} clients, {xxl.get('csv_mb', '-')} MB of CSV), "
                     "python -m analytics import", f"{xxl['import_s']:.0f} s", f"<= {TARGETS['import_XXL_s']:.0f} s",
                     _ok(xxl["import_s"], TARGETS["import_XXL_s"])))
        rows.append(("Import of the XXL export, peak RSS of the import process", f"{xxl['import_peak_mb']:.0f} MiB",
                     f"<= {TARGETS['import_XXL_peak_mb']:.0f} MiB",
                     _ok(xxl["import_peak_mb"], TARGETS["import_XXL_peak_mb"])))
    pages = results.get("pages", {})
    for size, key, label, limit in (("L", "cold_s", "cold", "page_cold_L"), ("L", "warm_s", "warm", "page_warm_L"),
                                    ("XL", "cold_s", "cold", "page_cold_XL"), ("XXL", "cold_s", "cold", "page_cold_XXL"),
                                    ("XXL", "warm_s", "warm", "page_warm_XXL")):
        data = pages.get(size, {})
        values = [(r["page"], r.get(key)) for r in data.get("rows", [])]
        if values:
            worst_page, worst = max(values, key=lambda v: -1 if v[1] is None else v[1])
            failed = [r["page"] for r in data["rows"] if r.get("errors")]
            note = f" (errors on {', '.join(failed)})" if failed else ""
            rows.append((f"Pages {size} {label}, slowest ({worst_page}){note}", f"{_s(worst)} s",
                         f"<= {TARGETS[limit]} s", "**no**" if failed else _ok(worst, TARGETS[limit])))
    for size in ("L", "XL", "XXL"):
        data = [r for r in pages.get(size, {}).get("rows", []) if r.get("largest_result_rows") is not None]
        if data:
            worst = max(data, key=lambda r: r["largest_result_rows"])
            rows.append((f"Pages {size}, most rows into Python by one query ({worst['page']}: "
                         f"{worst.get('largest_result_query', '-')})", f"{worst['largest_result_rows']:,}",
                         f"<= {TARGETS['page_rows']:,}", _ok(worst["largest_result_rows"], TARGETS["page_rows"])))
    browser = results.get("browser", {})
    if browser.get("rows"):
        for key, label in (("first_s", "new visitor (empty browser cache, cold server cache: median of 3 fresh servers), deep link"),
                           ("returning_s", "returning browser, deep link in a new tab"),
                           ("in_app_s", "navigation inside the app (click to chart)")):
            values = [(r["page"], r.get(key)) for r in browser["rows"] if key in r]
            if not values:
                continue
            worst_page, worst = max(values, key=lambda v: float("inf") if v[1] is None else v[1])
            limit = TARGETS["browser_first_L"] if key == "first_s" else TARGETS["browser_L"]
            rows.append((f"Browser L, navigation to main chart drawn, {label}, slowest ({worst_page})",
                         f"{_s(worst)} s", f"<= {limit} s", _ok(worst, limit)))
    cold = results.get("cold_start", {})
    warm_rows = [r for r in cold.get("rows", []) if r["launcher"] == "warm"]
    if warm_rows and cold.get("size") == "L":
        worst = max(warm_rows, key=lambda r: float("inf") if r.get("chart_s") is None or r.get("errors")
                    else r["chart_s"])
        plain = {r["page"]: r.get("chart_s") for r in cold["rows"] if r["launcher"] == "plain"}
        note = f" (errors: {worst['errors']})" if worst.get("errors") else ""
        rows.append((f"Cold start L, a freshly started server's first visitor, navigation to main chart drawn, "
                     f"python -m ui.serve, slowest ({worst['page']}; plain streamlit run: "
                     f"{_s(plain.get(worst['page']))} s){note}", f"{_s(worst.get('chart_s'))} s",
                     f"<= {TARGETS['cold_start_L']} s",
                     "**no**" if worst.get("errors") else _ok(worst.get("chart_s"), TARGETS["cold_start_L"])))
    return rows + _memory_rows(results)


def _memory_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The server's peak memory with 10 sessions: at L (the browser step; target 1.5 GB) and at XXL
    (the memory step; the issue sets no limit there, L's is given for reference)."""
    rows = []
    for size, memory in (("L", results.get("browser", {}).get("memory") or {}),
                         ("XXL", (results.get("memory_XXL") or {}).get("memory") or {})):
        if not memory.get("peak_mb"):
            continue
        pss = memory.get("peak", {}).get("pss")
        measured = f"{memory['peak_mb']:.0f} MiB" + (f" (PSS {pss:.0f} MiB)" if pss else "")
        if size == "L":
            rows.append(("Server memory L, 10 concurrent sessions, peak RSS of server + children", measured,
                         "<= 1.5 GB", _ok(memory["peak_mb"], TARGETS["memory_L_mb"])))
        else:
            rows.append(("Server memory XXL, 10 concurrent sessions on mixed deep links (largest clinic, network), "
                         "peak RSS of server + children", measured, "- (L: <= 1.5 GB)", "-"))
    return rows


def render(results: dict[str, Any]) -> str:
    lines = _header(results)
    for section in (_datasets, _import, _pages, _browser, _cold_start, _baseline):
        lines += section(results)
    lines.append("")
    return "\n".join(lines)


def _runs(results: dict[str, Any]) -> list[str]:
    """The runs whose results the report combines (each section says when it was measured)."""
    runs = results.get("runs") or []
    if len(runs) < 2:
        return []
    lines = ["Each section holds the latest result of its step; the runs they came from, latest last:", ""]
    lines += [f"- {r.get('date', '-')}: `{r.get('command', '-')}` (" + (f"{r['machine']}, " if r.get("machine") else "")
              + f"load average at start {r.get('load_average')})" for r in runs]
    if len({r.get("machine") for r in runs}) > 1:
        lines += ["", "**These runs were on different machines:** compare a section only with sections of its own run."]
    return [*lines, ""]


def _header(results: dict[str, Any]) -> list[str]:
    m = results.get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{results.get('command', 'python -m analytics bench')}` (benchmarks/bench.py); "
        "do not edit by hand. Speed is measured here, never asserted in unit tests.",
        "",
        *_runs(results),
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
    return lines + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in target_rows(results)]


def _datasets(results: dict[str, Any]) -> list[str]:
    datasets = results.get("datasets", {})
    if not datasets:
        return []
    lines = ["", "## Datasets", "",
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
    chunked = {size: d for size, d in datasets.items() if "import_s" in d}
    if chunked:
        lines += ["", "Built in chunks (sample_data.generator.generate_chunks: one network, each chunk of clients from "
                  "a seeded stream of its own), generation and import (`python -m analytics import`) each in a child "
                  "process; peak = that process's peak resident memory (ru_maxrss, DuckDB's memory included).", "",
                  "| Size | Chunk (clients) | Generation s | Generation peak MiB | Import s | Import peak MiB |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {size} | {d['chunk_clients']:,} | {d['generate_s']} | {d['generate_peak_mb']:.0f} | "
                  f"{d['import_s']} | {d['import_peak_mb']:.0f} |" for size, d in chunked.items()]
    return lines


def _import(results: dict[str, Any]) -> list[str]:
    imp = results.get("import")
    if not imp:
        return []
    lines = ["", "## Import", "", f"Measured {imp.get('measured_at', '-')}.", ""]
    if "error" in imp:
        return [*lines, f"Failed: {imp['error']}"]
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
    return lines


PAGES_INTRO = (
    "Cold: Streamlit caches cleared before the run (new database connection, every query runs). "
    "Warm: a new session served from the cache. Python imports are paid beforehand on the S clinic, "
    "as in a running server receiving a new data version. Bare SQL: each distinct statement the page "
    "ran, once, directly on a fresh DuckDB connection (results fetched as Arrow); "
    "Largest result: the most rows any one of those statements returned to Python."
)


def _pages(results: dict[str, Any]) -> list[str]:
    pages = results.get("pages", {})
    if not pages:
        return []
    lines = ["", "## Pages (server side, AppTest)", "", PAGES_INTRO, ""]
    for size, data in pages.items():
        lines += [f"### {size} ({SIZES.get(size, 0):,} clients), measured {data.get('measured_at', '-')}", ""]
        if "error" in data:
            lines += [f"Failed: {data['error']}", ""]
            continue
        lines += _pages_table(size, data["rows"])
        lines += _page_profiles(size, data["rows"])
        if data.get("stubs"):
            lines += ["", f"Not measured (still stubs): {', '.join(data['stubs'])}."]
        lines.append("")
    return lines


def _page_within_target(size: str, r: dict[str, Any]) -> str:
    limits = {"L": (TARGETS["page_cold_L"], TARGETS["page_warm_L"]), "XL": (TARGETS["page_cold_XL"], None)}
    cold_limit, warm_limit = limits.get(size, (None, None))
    if cold_limit is None:
        return "-"
    ok = r["cold_s"] is not None and r["cold_s"] <= cold_limit and not r["errors"]
    if warm_limit is not None:
        ok = ok and r["warm_s"] is not None and r["warm_s"] <= warm_limit
    return "yes" if ok else "**no**"


def _pages_table(size: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| Page | Deep link | Cold s | Warm s | Bare SQL s | Cold / SQL | Statements (distinct) | "
             "Largest result rows (query) | Within target | Errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|:---:|---|"]
    for r in rows:
        ratio = f"{r['cold_to_sql']:.1f}x" if r.get("cold_to_sql") else "-"
        largest = f"{r['largest_result_rows']:,}"
        if r.get("largest_result_query") not in (None, "-"):
            largest += f" ({r['largest_result_query']})"
        lines.append(
            f"| {r['page']} | {r['link']} | {_s(r['cold_s'])} | {_s(r['warm_s'], 3)} | {_s(r['sql_s'], 3)} | "
            f"{ratio} | {r['statements']} ({r['distinct_statements']}) | {largest} | {_page_within_target(size, r)} | "
            f"{'; '.join(r['errors']) or '-'} |")
    return lines


def _page_profiles(size: str, rows: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for r in rows:
        for kind in ("warm", "cold"):
            if r.get(f"{kind}_profile"):
                lines += ["", f"<details><summary>{r['page']} at {size}: sampled profile of a {kind} run "
                          "(over its target)</summary>", "", "```", r[f"{kind}_profile"].strip(), "```", "",
                          "</details>"]
    return lines


BROWSER_INTRO = (
    "From `page.goto` to the page's main content visible (Plotly's `.main-svg` for chart pages, "
    "the metrics on Home, the first heading elsewhere). New visitor: each visit in a new "
    "browser context (a new Streamlit session) with an empty browser cache, so Streamlit's and "
    "Plotly's JavaScript are downloaded and compiled each time; first visit: the median of three "
    "rounds, each on a freshly started server (`python -m ui.serve`, warmed only by one visit of the "
    "glossary), so the server's cache is cold for that page's queries (the runs in brackets); "
    "second: the median of three more visits on the last of those servers (cached). "
    "Returning browser (median of three): one context whose "
    "cache already holds the JavaScript (a persistent profile that opened every link twice "
    "before, so Chrome's code cache is warm too); each visit opens the link in a new tab (a new "
    "document and session). In the app: in a new tab of that profile, from a click to the chart "
    "drawn (median of three, after a pass that warms the server's cache): the sidebar link "
    "from Home (the page's default, network-wide view) or, on the client review, picking the "
    "client found by the search. Each includes evaluating the Plotly code once in the new tab."
)
TIMELINE_INTRO = (
    "Milliseconds since the navigation started, for the median new visitor's second visit "
    "(server cache warm) and the median returning-browser visit. *Shell*: Streamlit's page shell is up (its "
    "JavaScript loaded, before the websocket); *script done*: the page's script run has "
    "finished on the server and its output arrived; *Plotly code*: the plotly.js bundle "
    "requested → arrived (since issue 12 item 2 it comes with the page shell, ui/shell.py: requested "
    "with Streamlit's own JavaScript, evaluated when the page's first chart component, drawn first, asks "
    "for it); "
    "*longest task*: the longest main-thread task (start + duration; for a new visitor this "
    "is often evaluating plotly.js); *chart mounted*: the first chart's element exists (its "
    "code has run); *drawn*: the chart's SVG is there."
)


def _browser(results: dict[str, Any]) -> list[str]:
    browser = results.get("browser")
    if not browser:
        return []
    lines = ["", f"## Browser (headless Chromium, L), measured {browser.get('measured_at', '-')}", ""]
    if "error" in browser and not browser.get("rows"):
        return [*lines, f"Failed: {browser['error']}"]
    lines += _browser_table(browser["rows"]) + _browser_timelines(browser["rows"])
    if browser.get("returning_error"):
        lines += ["", f"Returning-browser series failed: {browser['returning_error']}"]
    mem = browser.get("memory") or {}
    if mem.get("peak"):
        lines += _memory_by_process(browser, mem)
    elif mem:
        lines += _memory_rss_only(browser, mem)
    return lines


def _browser_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [BROWSER_INTRO, "",
             "| Page | Deep link | New visitor, first s | New visitor, second s | Returning browser s "
             "| In the app s | Within target (new visitor, first, <= {first} s / returning / in the app, "
             "<= {limit} s) | Errors |".format(first=TARGETS["browser_first_L"], limit=TARGETS["browser_L"]),
             "|---|---|---:|---:|---:|---:|:---:|---|"]
    limit = TARGETS["browser_L"]
    for r in rows:
        runs = r.get("first_runs") or []
        first = f"{_s(r.get('first_s'))} ({', '.join(_s(x) for x in runs)})" if len(runs) > 1 else _s(r.get("first_s"))
        in_app = f"{_s(r.get('in_app_s'))} ({r['in_app_link']})" if r.get("in_app_link") else "-"
        errors = "; ".join(e for e in (r.get("errors"), r.get("in_app_error")) if e) or "-"
        lines.append(f"| {r['page']} | {r['link']} | {first} | {_s(r.get('second_s'))} | "
                     f"{_s(r.get('returning_s'))} | {in_app} | {_ok(r.get('first_s'), TARGETS['browser_first_L'])} / "
                     f"{_ok(r.get('returning_s'), limit)} / "
                     f"{_ok(r.get('in_app_s'), limit) if 'in_app_s' in r else '-'} | {errors} |")
    return lines


def _cell(t: dict[str, Any], key: str) -> str:
    value = t.get(key)
    return "-" if value is None else str(value)


def _timeline_row(page: str, label: str, t: dict[str, Any]) -> str:
    code = t.get("plotly_code")
    code_cell = f"{code[0]} → {code[1]} ({code[2] / 1e6:.1f} MB)" if code else "-"
    task = t.get("longest_task")
    task_cell = f"{task[0]} + {task[1]}" if task else "-"
    return (f"| {page} | {label} | {_cell(t, 'shell')} | {_cell(t, 'done')} | {code_cell} | "
            f"{task_cell} | {_cell(t, 'chart')} | {_cell(t, 'drawn')} |")


def _browser_timelines(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["", "### Where the time goes in the browser", "", TIMELINE_INTRO, "",
             "| Page | Visit | Shell | Script done | Plotly code | Longest task | Chart mounted | Drawn |",
             "|---|---|---:|---:|---|---|---:|---:|"]
    for r in rows:
        for label, key in (("new visitor", "second_timeline"), ("returning", "returning_timeline")):
            if r.get(key):
                lines.append(_timeline_row(r["page"], label, r[key]))
    return lines


def _rss_after_first_visits(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['page']} {r['rss_after_first_mb']:.0f}" for r in rows if r.get("rss_after_first_mb"))


def _memory_by_process(browser: dict[str, Any], mem: dict[str, Any]) -> list[str]:
    lines = ["", "### Memory", "",
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
    return lines + ["", f"Processes in the tree at the peak: {mem['peak'].get('processes', 0):.0f}. "
                    "RSS (server + children) after each page's first visit, MiB: "
                    + _rss_after_first_visits(browser["rows"]) + ".", "",
                    f"All {mem['sessions']} sessions drew both pages in {mem['both_waves_s']:.1f} s."]


def _memory_rss_only(browser: dict[str, Any], mem: dict[str, Any]) -> list[str]:
    """The memory table of results measured before PSS was recorded."""
    return ["", "### Memory", "",
            f"Streamlit server resident memory (VmRSS of the server process and its children, "
            f"sampled every 0.1 s) with {mem['sessions']} browser sessions open at once on mixed "
            "pages and deep links, each following a second deep link:", "",
            "| Server started | Idle (after the timings above) | With the sessions open | Peak | Limit |",
            "|---:|---:|---:|---:|---:|",
            f"| {browser.get('memory_at_start_mb', 0):.0f} MiB | {mem['idle_mb']:.0f} MiB | "
            f"{mem['open_mb']:.0f} MiB | **{mem['peak_mb']:.0f} MiB** | 1.5 GB |", "",
            "Resident memory after each page's first visit (MiB): "
            + _rss_after_first_visits(browser["rows"]) + ".", "",
            f"All {mem['sessions']} sessions drew both pages in {mem['both_waves_s']:.1f} s."]


COLD_START_INTRO = (
    "The first visitor of a freshly started server: the server process is started, "
    "`/_stcore/health` polled every 20 ms until it answers, then at once a new visitor (a new "
    "browser context, empty cache; the browser itself already running) opens the chart page's deep "
    "link, timed from `page.goto` to the main chart drawn, as in the new-visitor column above. "
    "Started by the launcher, `python -m ui.serve` (ui/serve.py: the pages' imports on a background "
    "thread from the start, what the ui package itself imports before it; since issue 12 item 4 the "
    "server listens only once that warm-up is done, so *health* includes it), or by "
    "plain `streamlit run dashboard.py` (the first visit imports everything). Medians over fresh "
    "servers of each, alternating which is started first. *Health*: process start to the first "
    "answer; *start to chart*: process start to the chart drawn; *script done*: the first script "
    "run's output in the browser (ms after navigation, median visit); *warm-up*: the launcher's "
    "background imports, and on how many servers they had finished when the visitor arrived."
)


def _cold_start(results: dict[str, Any]) -> list[str]:
    cold = results.get("cold_start")
    if not cold:
        return []
    size = cold.get("size", "L")
    lines = ["", f"## Cold server start (headless Chromium, {size}), measured {cold.get('measured_at', '-')}", ""]
    if "error" in cold and not cold.get("rows"):
        return [*lines, f"Failed: {cold['error']}"]
    names = {"warm": "`python -m ui.serve`", "plain": "plain `streamlit run`"}
    limit = TARGETS["browser_L"]
    lines += [COLD_START_INTRO, "",
              "| Page | Deep link | Started by | Health s | First chart s (runs) | Start to chart s | Script done ms "
              "| Warm-up s (done at the visit) | Within 3 s | Errors |",
              "|---|---|---|---:|---:|---:|---:|---:|:---:|---|"]
    for r in cold["rows"]:
        runs = ", ".join(_s(x) for x in r.get("chart_runs", []))
        warm_up = (f"{_s(r.get('warm_up_s'))} ({r['warm_up_done_at_visit']} of {r['servers']})"
                   if r["launcher"] == "warm" else "-")
        done = "-" if r.get("script_done_ms") is None else str(r["script_done_ms"])
        lines.append(f"| {r['page']} | {r['link']} | {names.get(r['launcher'], r['launcher'])} | {_s(r.get('health_s'))} | "
                     f"**{_s(r.get('chart_s'))}** ({runs}) | {_s(r.get('total_s'))} | {done} | {warm_up} | "
                     f"{'**no**' if r.get('errors') else _ok(r.get('chart_s'), limit)} | {r.get('errors') or '-'} |")
    return lines


def _baseline(results: dict[str, Any]) -> list[str]:
    baseline = results.get("baseline", {})
    if not baseline:
        return []
    lines = ["", "## Baseline: the cohort summary without this product", "",
             "The whole-clinic headline numbers of `python -m analytics summary --json` (clients, assignments, "
             "reviewed, mean quantity and quality, and per measure paired clients, mean change, reliable "
             "improvement and deterioration, caseness, recovered, recovery rate, r with quantity and quality) "
             "computed the way a clinic would: pandas reading the CSV exports (clients, assignments, scores) "
             "and computing them (`python -m benchmarks.step_baseline CSV_DIR`); vs ours: "
             "`python -m analytics summary --db ... --json`. Both are timed as whole processes started fresh "
             "(interpreter start, imports, work, exit).", "",
             "| Size | pandas from CSV s | Ours s | pandas / ours | `--help` s | Same numbers |",
             "|---|---:|---:|---:|---:|---|"]
    for size, b in baseline.items():
        if "error" in b:
            lines.append(f"| {size} | {b['error']} | | | | |")
            continue
        agree = (f"yes ({b['headline_values']} values)" if b["numbers_agree"]
                 else "no: " + "; ".join(b["differences"]))
        lines.append(f"| {size} | {_s(b['pandas_s'])} | {_s(b['ours_s'])} | {b['ratio']:.1f}x | "
                     f"{_s(b.get('cli_help_s'))} | {agree} |")
    return lines
