"""The dashboard served for tests and the benchmark the way it is started for real (``python -m
ui.serve``, ui/serve.py: Streamlit's ``streamlit run dashboard.py`` with the pages' imports warmed
up in the background): a free port, a server that is always stopped (its whole process group),
and the memory of its process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DB_ENV = "BETWEEN_SESSIONS_DB"
# How the server process is started: the launcher (every test and the app's own script), or
# plain ``streamlit run`` without the warm-up (only for the benchmark's comparison).
LAUNCHERS = {
    "warm": (sys.executable, "-m", "ui.serve"),
    "plain": (sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py")),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """The dashboard's server (``python -m ui.serve``) on a free local port; always stopped on exit.

    The server runs in its own process group, so stopping it (SIGTERM, then SIGKILL after
    ``stop_timeout``) also ends anything it started. ``launcher="plain"`` starts it with plain
    ``streamlit run dashboard.py`` instead (no warm-up; the benchmark compares the two).
    ``started_at`` and ``ready_at`` (time.perf_counter) are when the process was started and
    when it first answered ``/_stcore/health`` (polled every ``poll_interval`` s).
    """

    def __init__(self, db_path: Path, *, port: int | None = None, log_path: Path | None = None,
                 env: dict[str, str] | None = None, start_timeout: float = 60.0, stop_timeout: float = 10.0,
                 address: str = "127.0.0.1", args: tuple[str, ...] = (), launcher: str = "warm",
                 poll_interval: float = 0.2):
        self.db_path = Path(db_path)
        self.launcher = LAUNCHERS[launcher]
        self.poll_interval = poll_interval
        self.started_at: float | None = None
        self.ready_at: float | None = None
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
        from tests.support.clinics import APP_TODAY

        env = {**os.environ, DB_ENV: str(self.db_path), "PYTHONUNBUFFERED": "1", "BETWEEN_SESSIONS_TODAY": APP_TODAY,
               **self.extra_env}
        cmd = [
            *self.launcher,
            "--server.headless", "true", "--server.address", self.address, "--server.port", str(self.port),
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--server.runOnSave", "false",
            *self.args,
        ]
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path else ""
                raise RuntimeError(f"the server exited with status {self.proc.returncode} before serving\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        self.ready_at = time.perf_counter()
                        return self
            except OSError:
                pass
            time.sleep(self.poll_interval)
        self.stop()
        raise TimeoutError(f"the server did not answer on port {self.port} within {self.start_timeout:.0f} s")

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
