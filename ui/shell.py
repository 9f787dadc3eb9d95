"""plotly.js with Streamlit's page shell (issue 12 item 2), installed by the launcher (ui/serve.py).

Without it, a page's first chart waits for its plotly.js: the bundle is requested only once the
chart component's code has run in the browser, after the page's script output has arrived, and
evaluating it then holds the main thread for about 0.9 s. :func:`install` wraps the handler that
serves Streamlit's own static files (its ``index.html`` is the document of every page URL) so that:

* every page's ``index.html`` carries :func:`snippet` before ``</head>``: a
  ``<link rel="preload">`` of the vendored cartesian bundle, so the browser fetches it with
  Streamlit's own JavaScript, and a small loader (``window.__bsShellPlotly``) that evaluates it
  when the first chart component asks for it: ``ui/plotly_bundle/chart.js`` takes its Plotly
  from that loader instead of loading the bundle again (and loads it itself, from the component
  route, where the loader is absent: AppTest, plain ``streamlit run``). A chart page's first
  element is such a component (``ui.charts.preload``, drawing nothing), so the bundle is
  evaluated as soon as the page's output starts to arrive;
* the same ``<head>`` asks for Streamlit's code of the chart component itself with
  ``<link rel="modulepreload">`` (:func:`component_modules`: Streamlit's ``BidiComponent`` chunk
  and what it imports that the page shell does not, 4 files, 196 KB in Streamlit 1.67). Streamlit
  loads each element's code lazily, the first time its output arrives; until it is there the
  element is a placeholder, and React reveals placeholders together, at least 300 ms after the
  last one was shown. A page's output arrives in a few batches, so without this the chart's
  code was not ready when the chart's own output was drawn, and the chart waited for every
  table's code and for that batched reveal (0.9 s after the script's output, in the median new
  visitor's client review). With it the chart is drawn as soon as it arrives;
* the bundle is served at ``static/bs/plotly-cartesian.<sha256[:12]>.min.js``: its name changes
  with its content, so it is cached for a year (``immutable``: a returning browser does not ask
  again; the component route sends ``Cache-Control: public`` without a lifetime or validator,
  so it was fetched again on every visit), and gzip-compressed once per process (Streamlit
  compresses the component route on every request and leaves ``static/`` uncompressed);
* a page's URL tells Streamlit where its server is (``window.__streamlit.BACKEND_BASE_URL``: the
  URL without the page's name): otherwise it first probes ``<page>/_stcore/health``, which fails,
  and only then the app's root (137 ms later in tests/browser/test_first_screen.py).

Measured and not kept (A/B of a new visitor's client review at L, alternating two servers,
medians of 6-8; docs/benchmarks.md has the benchmark's figures):

* evaluating plotly.js once the server runs the page's script (this module's design until the
  change above): its 0.35-0.45 s task came before the page's output was drawn, so every element,
  the chart's component included, suspended in one batch. Evaluating it when the chart
  component asks, with the component's code preloaded: 2.07 s against 2.63 s;
* evaluating it as soon as it has arrived, during Streamlit's own start: 3.05 s against 2.82 s
  (it delays the websocket and the script run by the length of the evaluation);
* asking for the code of every element the client review draws (65 files, 2 MB) with
  ``<link rel="modulepreload">`` once the script runs: 2.89 s against 3.03 s, within this
  machine's noise (fetching is not what the page waits for once the server answers each file
  at once, ui/serve.py :func:`~ui.serve.no_delay`).

It relies on one name inside Streamlit, ``create_streamlit_static_handler`` in
``streamlit.web.server.starlette.starlette_static_routes`` (Streamlit 1.67). Where that is gone
:func:`install` returns False and the launcher says so; the charts still draw (chart.js loads the
bundle itself). It also reads the file names of Streamlit's front end (``BidiComponent.*.js``
and its imports); where those change, :func:`component_modules` finds nothing and the chart is
drawn as before, only later. tests/test_serve.py fails when the served page lacks the snippet,
the bundle or the component's code.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
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


#: Streamlit's chunk of ``st.components.v2`` components (ui/charts.py draws with one).
COMPONENT_CHUNK = "BidiComponent.*.js"
_IMPORT = re.compile(r'(?:\bimport|\bfrom)\s*"\./([^"/]+\.js)"')


@functools.cache
def component_modules() -> tuple[str, ...]:
    """The files (in Streamlit's ``static/js/``) of its components.v2 chunk and of what that
    imports, directly or not, that its ``index.html`` does not already ask for; empty when a
    Streamlit upgrade renamed the chunk (the charts then load as before, only later)."""
    from streamlit import file_util

    static = Path(file_util.get_static_dir())
    js = static / "static" / "js"
    chunk = sorted(js.glob(COMPONENT_CHUNK))
    if len(chunk) != 1:
        return ()
    shell = set(re.findall(r'static/js/([^"/]+\.js)', (static / "index.html").read_text(encoding="utf-8")))
    seen, todo = {chunk[0].name}, [chunk[0].name]
    while todo:
        for name in _IMPORT.findall((js / todo.pop()).read_text(encoding="utf-8")):
            if name not in seen and (js / name).is_file():
                seen.add(name)
                todo.append(name)
    return tuple(sorted(seen - shell, key=lambda name: name != chunk[0].name))  # the chunk first


def snippet() -> str:
    """What goes into every page's ``<head>``. Relative URLs, as Streamlit's own assets (a page's
    URL is one level below the app's root, so ``./`` is the root, with or without a base path)."""
    url = "./" + bundle_path()
    modules = "".join(f'<link rel="modulepreload" crossorigin href="./static/js/{name}">\n'
                      for name in component_modules())
    return modules + f"""<link rel="preload" as="script" href="{url}" id="{MARKER}">
<script>/* {MARKER}: ui/shell.py */
(function () {{
  var url = new URL("{url}", document.baseURI).href, started = null;
  // Evaluated once, when the first chart component asks (ui/plotly_bundle/chart.js).
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
  var pages = {json.dumps(list(app_pages()))};
  var parts = location.pathname.split("/"), page = decodeURIComponent(parts[parts.length - 1]);
  // A page's URL: the server is at the URL without the page's name (Streamlit would probe
  // <page>/_stcore/health first, which fails).
  if (pages.indexOf(page) >= 0) {{
    window.__streamlit = Object.assign({{}}, window.__streamlit || {{}},
      {{BACKEND_BASE_URL: location.origin + parts.slice(0, -1).join("/") + "/"}});
  }}
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
    from ui.serve import wrap_once

    return wrap_once(_HOOK_MODULE, _HOOK_NAME,
                     lambda original: lambda *args, **kwargs: ShellApp(original(*args, **kwargs)))
