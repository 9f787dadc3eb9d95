"""plotly.js with Streamlit's page shell (issue 12 item 2), installed by the launcher (ui/serve.py).

Without it, a page's first chart waits for its plotly.js: the bundle is requested only once the
chart component's code has run in the browser, after the page's script output has arrived, and
evaluating it then holds the main thread for about 0.9 s. :func:`install` wraps the handler that
serves Streamlit's own static files (its ``index.html`` is the document of every page URL) so that:

* every page's ``index.html`` carries :func:`snippet` before ``</head>``: a
  ``<link rel="preload">`` of the vendored cartesian bundle, so the browser fetches it with
  Streamlit's own JavaScript, and a small loader (``window.__bsShellPlotly``) that evaluates it
  as soon as the server is running the page's script (the browser's main thread is then waiting
  for the server), or at once when a chart asks for it earlier. ``ui/plotly_bundle/chart.js``
  takes its Plotly from that loader instead of loading the bundle again (and loads it itself,
  from the component route, where the loader is absent: AppTest, plain ``streamlit run``);
* the bundle is served at ``static/bs/plotly-cartesian.<sha256[:12]>.min.js``: its name changes
  with its content, so it is cached for a year (``immutable``: a returning browser does not ask
  again; the component route sends ``Cache-Control: public`` without a lifetime or validator,
  so it was fetched again on every visit), and gzip-compressed once per process (Streamlit
  compresses the component route on every request and leaves ``static/`` uncompressed);
* a page's URL tells Streamlit where its server is (``window.__streamlit.BACKEND_BASE_URL``: the
  URL without the page's name): otherwise it first probes ``<page>/_stcore/health``, which fails,
  and only then the app's root (137 ms later in tests/browser/test_first_screen.py).

Tried and not kept: asking for Streamlit's own code of the elements the chart pages draw (71
files, 2 MB, which it fetches once the script's output names them) with ``<link
rel="modulepreload">``. From the page's head it delayed the first chart by about 0.2 s (it
competes with Streamlit's own start); once the script runs it changed nothing (A/B of a new
visitor's client review, median of 6: 2.61 s vs 2.59 s): the time after the script's output is
spent evaluating and rendering, not fetching.

It relies on one name inside Streamlit, ``create_streamlit_static_handler`` in
``streamlit.web.server.starlette.starlette_static_routes`` (Streamlit 1.67). Where that is gone
:func:`install` returns False and the launcher says so; the charts still draw (chart.js loads the
bundle itself). tests/test_serve.py fails when the served page lacks the snippet or the bundle.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from .charts import BUNDLE_DIR, PARTIAL_BUNDLE

BUNDLE_FILE = BUNDLE_DIR / PARTIAL_BUNDLE
MARKER = "between-sessions-plotly"  # in the snippet, so a test can find it
MAX_AGE = 365 * 24 * 3600
_HOOK_MODULE = "streamlit.web.server.starlette.starlette_static_routes"
_HOOK_NAME = "create_streamlit_static_handler"
_gzip_lock = threading.Lock()


@functools.cache
def _raw() -> tuple[bytes, str]:
    raw = BUNDLE_FILE.read_bytes()
    return raw, hashlib.sha256(raw).hexdigest()[:12]


def bundle_path() -> str:
    """Where the bundle is served, relative to the app's root URL (no leading slash)."""
    return f"static/bs/plotly-cartesian.{_raw()[1]}.min.js"


def compressed() -> bytes:
    """The bundle gzip-compressed (once per process; the warm-up thread does it first)."""
    with _gzip_lock:
        return _compressed()


@functools.cache
def _compressed() -> bytes:
    return gzip.compress(_raw()[0], compresslevel=9, mtime=0)


PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


@functools.cache
def app_pages() -> tuple[str, ...]:
    """The URL paths (file stems) of every page in ``pages/``."""
    return tuple(sorted(f.stem for f in PAGES_DIR.glob("*.py")))


@functools.cache
def chart_pages() -> tuple[str, ...]:
    """The URL paths (file stems) of the pages that draw charts: those that open with
    ``ui.page(..., charts=True)`` (ui/opening.py). Only there does the shell evaluate plotly.js;
    elsewhere it would be main-thread work for nothing (a later chart page of the same tab
    evaluates it when its script runs)."""
    return tuple(p for p in app_pages() if "charts=True" in (PAGES_DIR / f"{p}.py").read_text(encoding="utf-8"))


def snippet() -> str:
    """What goes into every page's ``<head>``. Relative URLs, as Streamlit's own assets (a page's
    URL is one level below the app's root, so ``./`` is the root, with or without a base path)."""
    url = "./" + bundle_path()
    return f"""<link rel="preload" as="script" href="{url}" id="{MARKER}">
<script>/* {MARKER}: ui/shell.py */
(function () {{
  var url = new URL("{url}", document.baseURI).href, started = null;
  function load() {{
    if (!started) started = new Promise(function (resolve, reject) {{
      var script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.onload = function () {{ resolve(window.Plotly); }};
      script.onerror = function () {{ reject(new Error("plotly.js did not load from " + url)); }};
      window.__bsShellPlotly.requested = Math.round(performance.now());
      document.head.appendChild(script);
    }});
    return started;
  }}
  window.__bsShellPlotly = {{url: url, load: load}};
  var chartPages = {json.dumps(list(chart_pages()))}, pages = {json.dumps(list(app_pages()))};
  var parts = location.pathname.split("/"), page = decodeURIComponent(parts[parts.length - 1]);
  // A page's URL: the server is at the URL without the page's name (Streamlit would probe
  // <page>/_stcore/health first, which fails).
  if (pages.indexOf(page) >= 0) {{
    window.__streamlit = Object.assign({{}}, window.__streamlit || {{}},
      {{BACKEND_BASE_URL: location.origin + parts.slice(0, -1).join("/") + "/"}});
  }}
  // On a chart page, once the server runs the page's script (the main thread then waits for the
  // server): evaluate plotly.js. Checked on every run (in-app navigation).
  var observer = new MutationObserver(function () {{
    var app = document.querySelector("[data-test-script-state]");
    var state = app && app.getAttribute("data-test-script-state");
    var page = decodeURIComponent(location.pathname.split("/").pop());
    if (state === "running" && chartPages.indexOf(page) >= 0) {{
      observer.disconnect();
      setTimeout(load, 0);
    }}
  }});
  observer.observe(document, {{subtree: true, childList: true, attributes: true,
                               attributeFilter: ["data-test-script-state"]}});
}})();
</script>
"""


def inject(html: bytes) -> bytes | None:
    """``html`` with :func:`snippet` before ``</head>``; None when there is no ``</head>``."""
    at = html.find(b"</head>")
    if at < 0 or MARKER.encode() in html:
        return None
    return html[:at] + snippet().encode() + html[at:]


class ShellApp:
    """ASGI wrapper of Streamlit's static-file handler: serves the bundle, injects the snippet
    into HTML answers (``index.html``, which is also the answer to every page's URL)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:  # the Mount reads attributes of the app it holds
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if scope.get("path", "").endswith("/" + bundle_path()):
            await self._bundle(scope, receive, send)
            return
        if scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        # Ask for the file's bytes as messages (not a path to send), and answer in full.
        extensions = {k: v for k, v in (scope.get("extensions") or {}).items() if k != "http.response.pathsend"}
        scope = {**scope, "extensions": extensions}
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def send_injected(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                if message.get("status") == 200 and headers.get(b"content-type", b"").startswith(b"text/html"):
                    held["start"] = message
                    return
            elif message["type"] == "http.response.body" and "start" in held:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                html = b"".join(chunks)
                body = inject(html)
                start = held["start"]
                headers = [(k, v) for k, v in start.get("headers", [])
                           if k.lower() not in (b"content-length", b"etag", b"last-modified")]
                body = html if body is None else body
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_injected)

    async def _bundle(self, scope: Any, receive: Any, send: Any) -> None:
        import anyio
        from starlette.requests import Request
        from starlette.responses import Response

        request = Request(scope, receive)
        headers = {"Cache-Control": f"public, immutable, max-age={MAX_AGE}", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = await anyio.to_thread.run_sync(compressed)
            headers["Content-Encoding"] = "gzip"
        else:
            body = _raw()[0]
        await Response(body, media_type="text/javascript", headers=headers)(scope, receive, send)


def install() -> bool:
    """Wrap Streamlit's static-file handler with :class:`ShellApp` (before the server starts;
    once per process). False when Streamlit no longer has the function this wraps."""
    import importlib

    try:
        module = importlib.import_module(_HOOK_MODULE)
        original = getattr(module, _HOOK_NAME)
    except (ImportError, AttributeError):
        return False
    if getattr(original, "__bs_shell__", False):
        return True

    @functools.wraps(original)
    def with_shell(*args: Any, **kwargs: Any) -> ShellApp:
        return ShellApp(original(*args, **kwargs))

    with_shell.__bs_shell__ = True  # type: ignore[attr-defined]
    setattr(module, _HOOK_NAME, with_shell)
    return True
