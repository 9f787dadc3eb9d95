// One Plotly chart, drawn in the app's page (a Streamlit components.v2 component without a
// shadow root, so the chart is an ordinary `.js-plotly-plot` div). Loaded by ui/charts.py, which
// replaces the two __BUNDLE_*__ placeholders with the URLs the server serves the bundles at.
//
// data = {figure: <figure JSON string>, config: {...}, select: bool}
// state "selection" (only when select): {selection: {points: [...], point_indices: [...], box: [], lasso: []}}
//
// plotly.js comes from the vendored cartesian bundle (ui/plotly_bundle/, 1.5 MB: bar, box, contour,
// heatmap, histogram*, image, pie, scatter, violin); a figure with any other trace type (scattergl)
// loads the full plotly.js that ships with the Python plotly package instead. Each bundle is
// fetched once per page, by the first chart that needs it, or earlier by ui.charts.preload.

const PARTIAL_URL = "__BUNDLE_PARTIAL__";
const FULL_URL = "__BUNDLE_FULL__";
const PARTIAL_TYPES = new Set(["bar", "box", "contour", "heatmap", "histogram", "histogram2d",
  "histogram2dcontour", "image", "pie", "scatter", "scatterternary", "violin"]);

function loadBundle(url) {
  // One promise per bundle and page, kept on window (this module can be evaluated more than once).
  // The cartesian bundle comes with the page shell where the launcher put it there (ui/shell.py:
  // window.__bsShellPlotly, often evaluated before the first chart arrives); else from here.
  const loaded = (window.__bsPlotly = window.__bsPlotly || {});
  if (!loaded[url]) {
    const shell = url === PARTIAL_URL && window.__bsShellPlotly;
    loaded[url] = shell ? shell.load().catch(() => loadScript(url)) : loadScript(url);
  }
  return loaded[url];
}

function loadScript(url) {
  return new Promise((resolve, reject) => {
    const previous = window.Plotly;
    const script = document.createElement("script");
    script.src = new URL(url, window.location.href).href;
    script.async = true;
    script.onload = () => {
      const plotly = window.Plotly;
      if (previous) window.Plotly = previous;  // each chart keeps the bundle that drew it
      resolve(plotly);
    };
    script.onerror = () => reject(new Error(`plotly.js did not load from ${url}`));
    document.head.appendChild(script);
  });
}

function bundleFor(figure) {
  const partial = (figure.data || []).every(t => PARTIAL_TYPES.has(t.type || "scatter"));
  return partial ? PARTIAL_URL : FULL_URL;
}

function selectionOf(event) {
  const points = ((event && event.points) || []).map(p => ({
    curve_number: p.curveNumber,
    point_number: p.pointNumber,
    point_index: p.pointIndex !== undefined ? p.pointIndex : p.pointNumber,
    x: p.x,
    y: p.y,
    customdata: p.customdata === undefined ? null : p.customdata,
  }));
  return {selection: {points, point_indices: points.map(p => p.point_index), box: [], lasso: []}};
}

export default function (component) {
  const {data, parentElement, setStateValue} = component;
  if (!data) return;
  if (data.preload) {  // ui.charts.preload: fetch and evaluate the bundle, draw nothing
    const holder = parentElement.closest('[data-testid="stElementContainer"]');
    if (holder) holder.style.display = "none";  // no gap on the page
    loadBundle(PARTIAL_URL).catch(() => {});
    return;
  }
  if (!data.figure) return;
  let div = parentElement.querySelector(":scope > div.bs-chart");
  if (!div) {
    div = document.createElement("div");
    div.className = "bs-chart";
    div.style.width = "100%";
    parentElement.appendChild(div);
  }
  if (div.__bsFigure === data.figure && div.__bsConfig === JSON.stringify(data.config)) return;
  const figure = JSON.parse(data.figure);
  const layout = Object.assign({}, figure.layout || {});
  delete layout.width;  // the chart fills its column; its height is the figure's
  layout.autosize = true;
  if (data.select) {
    layout.clickmode = "event+select";
    if (!layout.hovermode) layout.hovermode = "closest";
  }
  // Keep the chart's height while plotly.js loads, so the page does not jump.
  div.style.minHeight = `${layout.height || 450}px`;
  const config = Object.assign({responsive: true}, data.config || {});
  let cancelled = false;
  const url = bundleFor(figure);
  loadBundle(url).then(Plotly => {
    if (cancelled) return;
    const draw = div.__bsPlotly && div.__bsPlotly !== Plotly
      ? (div.__bsPlotly.purge(div), Plotly.newPlot) : Plotly.react;
    div.__bsPlotly = Plotly;
    return draw(div, figure.data || [], layout, config).then(() => {
      div.__bsFigure = data.figure;
      div.__bsConfig = JSON.stringify(data.config);
      if (!div.__bsObserver) {
        // The column can change width without a window resize (sidebar, tabs): follow it.
        div.__bsObserver = new ResizeObserver(() => {
          if (div.isConnected && div.offsetParent !== null) div.__bsPlotly.Plots.resize(div);
        });
        div.__bsObserver.observe(div);
      }
      div.removeAllListeners && div.removeAllListeners("plotly_selected");
      div.removeAllListeners && div.removeAllListeners("plotly_deselect");
      if (data.select) {
        div.on("plotly_selected", event => setStateValue("selection", selectionOf(event)));
        div.on("plotly_deselect", () => setStateValue("selection", selectionOf(null)));
      }
    });
  }).catch(error => {
    div.textContent = `The chart could not be drawn (${error.message}).`;
  });
  return () => {
    cancelled = true;
    // Unmounted (not re-rendered): free plotly.js's listeners once the div has left the page.
    setTimeout(() => {
      if (!div.isConnected && div.__bsPlotly) {
        if (div.__bsObserver) div.__bsObserver.disconnect();
        div.__bsPlotly.purge(div);
      }
    }, 0);
  };
}
