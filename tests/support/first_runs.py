"""What the first visits of a freshly started server import, after the launcher's warm-up
(ui/serve.py). Run in a process of its own, ``python -m tests.support.first_runs``, with a job
as JSON on stdin:

- ``cases``: ``[name, page file or null for the home page, query params]``, run in order, each
  a first visit (a new AppTest session of the entry script, switched to the page);
- ``skip``: modules of ``ui.serve.WARM_UP_MODULES`` (or ``ui.serve.FIRST_FIGURE``) to leave out
  of the warm-up (to show that the check notices).

Prints JSON: the modules the warm-up imported, the top-level packages loaded after it, what it
failed to import, and per case the
modules its run imported that were not imported before it (each module is counted for the
first case that imports it), the exceptions the page showed and the charts it drew.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    job = json.loads(sys.stdin.read())
    # What the server process holds before its warm-up: ``python -m ui.serve`` imports the ui
    # package, the launcher Streamlit's server; AppTest is how this process runs the pages.
    import streamlit.components.v2.manifest_scanner  # noqa: F401 - the server at its start, AppTest at a first run
    import streamlit.web.bootstrap  # noqa: F401
    from streamlit.testing.v1 import AppTest

    import ui  # noqa: F401
    from tests.support.charts import drawn_charts
    from tests.support.server import ROOT
    from ui import serve

    before = set(sys.modules)
    skip = set(job.get("skip", ()))
    failed = serve.run_warm_up([m for m in serve.WARM_UP_MODULES if m not in skip], figure=serve.FIRST_FIGURE not in skip)
    seen = set(sys.modules)
    out: dict = {"warmed": sorted(seen - before), "packages": sorted({m.split(".")[0] for m in seen}),
                 "failed": failed, "cases": {}}
    for name, page, params in job["cases"]:
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
        if page:
            at.switch_page(page)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        new = set(sys.modules) - seen
        seen |= new
        out["cases"][name] = {
            "new": sorted(new),
            "exceptions": [str(e.value)[:500] for e in at.exception],
            "titles": [t.value for t in at.title],
            "charts": len(drawn_charts(at)),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
