"""Local single-user mode behind a reverse proxy that rewrites Host (issue 10, item 2).

A plain ``proxy_pass`` forwards every request with ``Host: 127.0.0.1:PORT`` and no
``X-Forwarded-*`` header, so the request looks local to the server; only the browser's
``Origin`` (and ``Referer``) still name the address the visitor typed. The proxy here is a
small asyncio forwarder bound to another loopback address (127.0.0.2, same port number)
that rewrites the Host header of every request, websocket upgrade included, and forwards
everything else byte for byte. Chromium opening http://127.0.0.2:PORT must see a refusal
and no dashboard data; http://127.0.0.1:PORT (direct) must still work.

Streamlit's own websocket check accepts an ``Origin`` that is not the ``Host`` when it is
one of the machine's own addresses: localhost, 127.0.0.1, its network address
(``net_util.get_internal_ip()``, e.g. 192.0.2.2) and ``browser.serverAddress``. The
reported leak was a proxy on the machine's network address, which passes that check. The
test reproduces it on loopback only: the server is started with
``--browser.serverAddress 127.0.0.2`` (the address the proxy publishes), which puts
127.0.0.2 in that same allow-list, so the only thing between the proxy and the data is
the app's own check (ui/auth.py, ``exposure_problem``).

Every server and the proxy are stopped in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analytics.audit import close_audit_logs, search_access_log
from tests.support.browser import metric_values, screenshot, start_server, wait_idle
from tests.support.server import StreamlitServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
TIMEOUT_MS = 60_000
PROXY_ADDRESS = "127.0.0.2"
HEAD_LIMIT = 64 * 1024
_HOST_LINE = re.compile(rb"^host:[^\r\n]*", re.IGNORECASE | re.MULTILINE)


class HostRewritingProxy:
    """Forwards ``listen`` -> ``upstream`` and sets ``Host`` to the upstream address on every
    request (like nginx ``proxy_pass`` with ``proxy_set_header Host 127.0.0.1:PORT``); adds no
    ``X-Forwarded-*`` header. After a websocket upgrade (or any request it cannot follow)
    the connection is piped unchanged both ways."""

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int]):
        self.listen = listen
        self.upstream = upstream
        self.host_header = f"Host: {upstream[0]}:{upstream[1]}".encode("ascii")
        self.requests: list[bytes] = []  # request lines seen, for the test's own checks
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="host-rewriting-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> HostRewritingProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, self.listen[0], self.listen[1]), self._loop)
        self._server = future.result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        back = asyncio.ensure_future(self._pipe(upstream_r, client_w))
        try:
            await self._requests(client_r, upstream_w)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(Exception):
                await back
            for writer in (upstream_w, client_w):
                with contextlib.suppress(Exception):
                    writer.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward requests one by one, rewriting each head; pipe raw after an upgrade."""
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as end:
                if end.partial:
                    writer.write(end.partial)
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            if len(head) > HEAD_LIMIT:
                return
            self.requests.append(head.split(b"\r\n", 1)[0])
            writer.write(_HOST_LINE.sub(self.host_header, head, count=1))
            await writer.drain()
            lower = head.lower()
            if b"\r\nupgrade:" in lower or b"transfer-encoding:" in lower:
                await self._pipe(reader, writer)  # websocket (or a chunked body): raw from here on
                return
            length = re.search(rb"\r\ncontent-length:\s*(\d+)", lower)
            remaining = int(length.group(1)) if length else 0
            while remaining:
                chunk = await reader.read(min(remaining, 65536))
                if not chunk:
                    return
                writer.write(chunk)
                await writer.drain()
                remaining -= len(chunk)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.write_eof()


def _can_bind(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


@pytest.fixture
def local_server(tmp_path: Path, tiny_db_path: Path) -> Iterator[tuple[StreamlitServer, Path]]:
    """The dashboard in local single-user mode (no secrets file) on 127.0.0.1; Streamlit's own
    websocket check lets the proxy's origin through (see the module doc)."""
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    audit = tmp_path / "audit.duckdb"
    server = start_server(
        db, "streamlit-proxy.log",
        args=("--secrets.files", str(tmp_path / "none" / "secrets.toml"), "--browser.serverAddress", PROXY_ADDRESS),
        env={"BETWEEN_SESSIONS_AUDIT_DB": str(audit)}, start_timeout=90,
    )
    try:
        server.start()
        yield server, audit
    finally:
        server.stop()


@pytest.fixture
def proxy(local_server: tuple[StreamlitServer, Path]) -> Iterator[HostRewritingProxy]:
    server, _ = local_server
    if not _can_bind(PROXY_ADDRESS, server.port):
        pytest.fail(f"cannot bind {PROXY_ADDRESS}:{server.port} (Linux routes all of 127.0.0.0/8 to loopback)")
    forwarder = HostRewritingProxy((PROXY_ADDRESS, server.port), ("127.0.0.1", server.port)).start()
    try:
        yield forwarder
    finally:
        forwarder.stop()


def _main_text(page: Any) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_local_mode_through_a_host_rewriting_proxy_shows_no_data(chromium: Any, local_server, proxy):
    server, audit = local_server
    context = chromium.new_context(viewport={"width": 1400, "height": 1600})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        # direct, on this computer: the local-mode dashboard
        page.goto(server.url, timeout=TIMEOUT_MS)
        page.wait_for_function("document.querySelectorAll('[data-testid=\"stMetricValue\"]').length >= 5")
        wait_idle(page)
        assert metric_values(page)["Clients"] == "5"
        assert "Local single-user mode" in page.locator('[data-testid="stSidebar"]').inner_text()

        # through the proxy on another address, Host rewritten to 127.0.0.1:PORT
        proxied = context.new_page()
        proxied.goto(f"http://{PROXY_ADDRESS}:{server.port}/", timeout=TIMEOUT_MS)
        proxied.locator('[data-testid="stMain"] h1').first.wait_for()  # the first run has drawn its title
        wait_idle(proxied)
        assert proxied.locator('[data-testid="stMetricValue"]').count() == 0, metric_values(proxied)
        text = _main_text(proxied)
        assert "Sign-in is not configured" in text, text[:500]
        assert f"http://{PROXY_ADDRESS}:{server.port}" in text and "[auth]" in text
        assert proxied.locator('[data-testid="stMetricValue"]').count() == 0
        assert proxied.locator('[data-testid="stSidebarNav"]').count() == 0
        for leaked in ("Clients", "North", "South", "Local single-user mode"):
            assert leaked not in proxied.locator("body").inner_text(), leaked
        screenshot(proxied, "local-mode-through-host-rewriting-proxy")
        # the proxy really rewrote the websocket upgrade (the request the app checks)
        assert any(b"/_stcore/stream" in line for line in proxy.requests), proxy.requests

        # a deep link to a page through the proxy is refused too
        proxied.goto(f"http://{PROXY_ADDRESS}:{server.port}/glossary", timeout=TIMEOUT_MS)
        proxied.locator('[data-testid="stMain"] h1').first.wait_for()
        wait_idle(proxied)
        assert "Sign-in is not configured" in _main_text(proxied)
        assert "Metrics glossary" not in proxied.locator("body").inner_text()
        assert proxied.locator('[data-testid="stSidebarNav"]').count() == 0

        # and the direct page still works afterwards
        page.reload()
        page.wait_for_function("document.querySelectorAll('[data-testid=\"stMetricValue\"]').length >= 5")
        wait_idle(page)
        # wait for the tile itself: once, in CI, the values were drawn but no "Clients" label yet
        page.locator('[data-testid="stMetric"]', has_text="Clients").first.wait_for()
        assert metric_values(page)["Clients"] == "5"
    finally:
        context.close()
    server.stop()  # the server holds the access log
    close_audit_logs()
    denied = search_access_log(audit, actions=["denied"], limit=100)
    assert not denied.empty and denied["detail"].str.contains(PROXY_ADDRESS).all(), denied
