"""Other processes writing the access log at the same time as a test: a writer of ``n``
entries that starts when a gate file appears, and a holder that keeps the log open until told."""

from __future__ import annotations

import os
import textwrap

from analytics.audit import AUDIT_ENV
from tests.support.clinics import ROOT

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from analytics.audit import record_access
    path, name, n, gate = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    (gate.parent / f"ready-{name}").touch()
    while not gate.exists():  # start together: the imports above take a while
        time.sleep(0.002)
    where = [record_access(path, "view", email=f"{name}@clinic.org", page=f"p{i}") for i in range(n)]
    print(",".join(sorted(set(where))))
    """
)

HOLDER = textwrap.dedent(
    """
    import sys, time
    from analytics.audit import audit_log, record_access
    record_access(sys.argv[1], "view", email="holder@clinic.org", page="held")
    print("holding", flush=True)
    sys.stdin.readline()  # hold the file until the test says so
    """
)


def writer_env() -> dict[str, str]:
    """The environment of a writer process: this checkout importable, no access-log location set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop(AUDIT_ENV, None)
    return env
