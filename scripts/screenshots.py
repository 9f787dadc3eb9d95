"""Screenshots of each page's first screen, for docs/screenshots/ (regenerate after a UI change).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--width 1440] [--height 900]

Builds the sample clinic (the generator's defaults: the same clinic the dashboard opens on first
run) in a temporary folder, serves the dashboard on it in local single-user mode with "today"
pinned to three days after the data's as-of date (so the pictures do not change with the
calendar), and saves what a visitor sees without scrolling on each page, at 1440 x 900 and, for
the client review, at 800 x 900 (a narrow window: the sidebar starts closed). Needs Debian's
Chromium (scripts/install-browser.sh).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics import ClinicDatabase, Settings, Viewer, data_as_of  # noqa: E402
from analytics.caseload.model import caseload  # noqa: E402
from analytics.ingest.sample import build_sample_database  # noqa: E402
from tests.support.browser import launch_chromium, url, wait_charts_settled, wait_settled  # noqa: E402
from tests.support.server import StreamlitServer  # noqa: E402

# (file name, page path, query parameters, wait for a chart)
PAGES = (
    ("home", "", {}, False),
    ("caseload", "caseload", {}, False),
    ("client-review", "client_review", {"client": None}, True),
    ("cohort-outcomes", "cohort_outcomes", {}, True),
    ("quality-improvement", "quality_improvement", {}, True),
    ("data", "data", {}, False),
    ("glossary", "glossary", {}, False),
)


def neediest_client(db_path: Path) -> tuple[str, str]:
    """The first client of the local caseload (most in need) and the data's as-of date."""
    with ClinicDatabase(db_path) as db:
        viewer = Viewer.local()
        as_of = data_as_of(db, viewer)
        listed = caseload(db, viewer, as_of, Settings())
    return str(listed.clients["client_id"].iloc[0]), as_of.isoformat()


def shoot(server_url: str, client_id: str, out: Path, width: int, height: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            shots = [(name, path, params, chart, width) for name, path, params, chart in PAGES]
            shots.append(("client-review-800px", "client_review", {"client": None}, True, 800))
            for name, path, params, chart, shot_width in shots:
                context = browser.new_context(viewport={"width": shot_width, "height": height})
                try:
                    page = context.new_page()
                    wanted = {k: (client_id if v is None else v) for k, v in params.items()}
                    page.goto(url(server_url, path, **wanted), timeout=120_000)
                    wait_settled(page, 120_000)
                    if chart:
                        wait_charts_settled(page, 120_000)
                    page.wait_for_timeout(500)  # let the last chart transition finish drawing
                    target = out / f"{name}.png"
                    page.screenshot(path=str(target), full_page=False)
                    saved.append(target)
                finally:
                    context.close()
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "clinic.duckdb"
        build_sample_database(db_path)
        client_id, as_of = neediest_client(db_path)
        today = (date.fromisoformat(as_of) + timedelta(days=3)).isoformat()
        server = StreamlitServer(db_path, log_path=Path(tmp) / "streamlit.log", env={"BETWEEN_SESSIONS_TODAY": today})
        server.start()
        try:
            saved = shoot(server.url, client_id, args.out, args.width, args.height)
        finally:
            server.stop()
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
