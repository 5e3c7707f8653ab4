// The gras dashboard: a small single-page app over the JSON API under /v1 (the same
// routes curl and the CLI use). Hash routes:
//   #/                          overview of every metric and series, by what needs attention
//   #/series/<metric>/<series>  actuals, forecast, interval and quantile fan, alerts
//   #/alerts                    alerts with filters
//   #/models[/<metric>]         versions, backtest and live accuracy, approve / reject / roll
//                               back, decision history
//   #/health                    last arrival per series
// No framework: DOM built with textContent (never innerHTML from data), uPlot for charts.

const main = document.getElementById("main");
const toast = document.getElementById("toast");
const TOKEN_KEY = "gras-token";

// ---- API ---------------------------------------------------------------------------------

/** An API error with the server's `error` code and message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** GET or POST a JSON API path; throws ApiError with the server's reason. */
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const code = err.code || `http_${res.status}`;
    const message = err.message || res.statusText || `HTTP ${res.status}`;
    throw new ApiError(res.status, code, message);
  }
  return data;
}

// ---- DOM helpers ---------------------------------------------------------------------------

/** Creates an element: attributes (on* names become listeners) and children (text or nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

function say(message) {
  toast.textContent = message;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => (toast.textContent = ""), 6000);
}

function errorBox(e) {
  if (e instanceof ApiError && e.status === 401) {
    return h(
      "p",
      { class: "error", role: "alert" },
      `${e.message}. Enter the API token at the top right (it stays in this tab only).`,
    );
  }
  return h("p", { class: "error", role: "alert" }, `Could not load: ${e.message}`);
}

const fmt = {
  num(v, digits = 3) {
    if (v === null || v === undefined || !Number.isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return Number(v.toPrecision(digits + 1)).toString();
  },
  pct(v) {
    return v === null || v === undefined || !Number.isFinite(v) ? "–" : (v * 100).toFixed(1) + "%";
  },
  age(s) {
    if (s === null || s === undefined) return "–";
    const a = Math.abs(s);
    const txt =
      a < 90 ? `${Math.round(a)} s` : a < 5400 ? `${Math.round(a / 60)} min` :
      a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
    return s < 0 ? `in ${txt}` : `${txt} ago`;
  },
  time(iso, tz = "UTC") {
    if (!iso) return "–";
    const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
    return d.toLocaleString("en-GB", { timeZone: tz, dateStyle: "medium", timeStyle: "short" });
  },
};

function badge(kind, text) {
  return h("span", { class: `badge ${kind}` }, text);
}

// ---- routing -------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

function href(parts, params) {
  const path = "#/" + parts.map(encodeURIComponent).join("/");
  const q = params ? new URLSearchParams(params).toString() : "";
  return q ? `${path}?${q}` : path;
}

let current = null; // the page's cleanup (charts to destroy)

async function route() {
  if (current) current();
  current = null;
  const { parts, params } = parseHash();
  const page = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === page || (page === "series" && a.dataset.page === "overview")) {
      a.setAttribute("aria-current", "page");
    } else a.removeAttribute("aria-current");
  }
  show(h("p", { class: "loading" }, "Loading…"));
  try {
    if (page === "overview") await overviewPage();
    else if (page === "series" && parts.length >= 3) await seriesPage(parts[1], parts[2], params);
    else if (page === "alerts") await alertsPage(params);
    else if (page === "models") await modelsPage(parts[1], params);
    else if (page === "health") await healthPage();
    else show(h("h1", {}, "Not found"), h("p", {}, `No page ${location.hash}.`));
  } catch (e) {
    show(errorBox(e));
  }
  window.__grasRoutes = (window.__grasRoutes || 0) + 1; // pages shown (the browser test waits on it)
  document.dispatchEvent(new CustomEvent("gras:page", { detail: page }));
}

// ---- overview ------------------------------------------------------------------------------

/** How much a series needs attention: stale data first, then recent alerts. */
function attention(s, step) {
  const stale = s.age_s > 3 * step ? 1000 : 0;
  return stale + s.recent_alerts;
}

function seriesState(s, step) {
  if (s.age_s > 3 * step) return badge("bad", "stale");
  if (s.recent_alerts > 0) return badge("warn", `${s.recent_alerts} alerts`);
  return badge("ok", "ok");
}

async function overviewPage() {
  const o = await api("/v1/overview");
  const cards = o.metrics.map((m) => {
    const model = m.model;
    const live = m.live;
    const alerts = m.series.reduce((n, s) => n + s.recent_alerts, 0);
    const stale = m.series.filter((s) => s.age_s > 3 * m.step_s).length;
    return h(
      "section",
      { class: "card", "aria-label": `metric ${m.metric}` },
      h("h2", {}, h("a", { href: href(["series", m.metric, "_all"]) }, `Metric ${m.metric}`),
        " ", h("span", { class: "note" }, `${m.aggregation}, ${m.step_s / 3600} h buckets`)),
      h(
        "dl",
        { class: "kv" },
        h("dt", {}, "model"),
        h("dd", {}, model ? h("a", { href: href(["models", m.metric]) }, `${model.model_kind} ${model.version}`) : badge("bad", "no approved model")),
        h("dt", {}, "backtest MASE"),
        h("dd", {}, model ? fmt.num(model.metrics.mase) : "–"),
        h("dt", {}, "live MASE"),
        h("dd", {}, live ? fmt.num(live.mase) : "–"),
        h("dt", {}, "live coverage"),
        h("dd", {}, live ? `${fmt.pct(live.coverage)} (nominal ${fmt.pct(m.interval)})` : "–"),
        h("dt", {}, "pending versions"),
        h("dd", {}, m.pending ? h("a", { href: href(["models", m.metric]) }, badge("warn", `${m.pending} to decide`)) : "0"),
        h("dt", {}, "series"),
        h("dd", {}, `${m.series.length}`, stale ? [" · ", badge("bad", `${stale} stale`)] : "",
          alerts ? [" · ", badge("warn", `${alerts} alerts in their last 24 h`)] : ""),
      ),
    );
  });
  const rows = [];
  for (const m of o.metrics) for (const s of m.series) rows.push({ m, s });
  rows.sort((a, b) => attention(b.s, b.m.step_s) - attention(a.s, a.m.step_s) || a.m.metric.localeCompare(b.m.metric) || a.s.series.localeCompare(b.s.series));
  const table = h(
    "table",
    { id: "series-table" },
    h("caption", { class: "note" }, "Every series, what needs attention first (stale data, then recent alerts)."),
    h("thead", {}, h("tr", {},
      h("th", {}, "metric"), h("th", {}, "series"), h("th", {}, "state"),
      h("th", { class: "num" }, "last value"), h("th", {}, "newest bucket (UTC)"),
      h("th", {}, "freshness"), h("th", { class: "num" }, "alerts, last 24 h of data"))),
    h("tbody", {}, rows.map(({ m, s }) => h("tr", {},
      h("td", {}, m.metric),
      h("td", {}, h("a", { href: href(["series", m.metric, s.series]) }, s.series)),
      h("td", {}, seriesState(s, m.step_s)),
      h("td", { class: "num" }, fmt.num(s.last_value, 4) + (m.unit && s.last_value != null ? " " + m.unit : "")),
      h("td", {}, fmt.time(s.last)),
      h("td", {}, fmt.age(s.age_s)),
      h("td", { class: "num" }, s.recent_alerts),
    ))),
  );
  show(
    h("h1", {}, "Overview"),
    h("p", { class: "note" }, `As of ${fmt.time(o.generated_at)} UTC.`),
    h("div", { class: "cards" }, cards),
    h("h2", {}, "Series"),
    table,
  );
}

// ---- series --------------------------------------------------------------------------------

/** The longest window `GET /v1/window` serves (`MAX_WINDOW_DAYS` in shared/src/api/window.rs). */
const MAX_WINDOW_DAYS = 367;

const RANGES = [
  ["24h", 1], ["7d", 7], ["30d", 30], ["90d", 90], ["1y", 365],
];

/** The p-th quantile (0..1) of finite values. */
function quantile(values, p) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return null;
  const i = Math.min(v.length - 1, Math.max(0, Math.round(p * (v.length - 1))));
  return v[i];
}

/**
 * A y range that one spike cannot flatten: the 0.5%..99.5% quantiles of what is drawn,
 * padded by 8%, starting at 0 when nothing drawn is negative. Returns the range and how
 * many actuals fall outside it.
 */
function robustRange(actuals, forecast) {
  const all = actuals.concat(forecast);
  const finite = all.filter(Number.isFinite);
  if (!finite.length) return { min: 0, max: 1, clipped: 0 };
  let lo = quantile(finite, 0.005);
  let hi = quantile(finite, 0.995);
  if (hi <= lo) {
    hi = lo + Math.max(1, Math.abs(lo) * 0.1);
  }
  const pad = (hi - lo) * 0.08;
  const nonNegative = Math.min(...finite) >= 0;
  let min = lo - pad;
  if (nonNegative && (min < 0 || lo < (hi - lo) * 0.5)) min = 0;
  const max = hi + pad;
  const clipped = actuals.filter((v) => Number.isFinite(v) && (v > max || v < min)).length;
  return { min, max, clipped };
}

/** Merges the actual and forecast timestamps into one x axis with aligned columns. */
function alignWindow(w) {
  const xs = new Set([...w.actual.t, ...w.forecast.t, ...w.alerts.t]);
  const x = [...xs].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const col = () => new Array(x.length).fill(null);
  const actual = col(), value = col(), lower = col(), upper = col(), alert = col();
  w.actual.t.forEach((t, i) => (actual[index.get(t)] = w.actual.v[i]));
  w.forecast.t.forEach((t, i) => {
    const j = index.get(t);
    value[j] = w.forecast.value[i];
    lower[j] = w.forecast.lower[i];
    upper[j] = w.forecast.upper[i];
  });
  w.alerts.t.forEach((t, i) => (alert[index.get(t)] = w.alerts.value[i]));
  const levels = Object.keys(w.forecast.q).map(Number).sort((a, b) => a - b);
  const q = {};
  for (const l of levels) {
    const c = col();
    w.forecast.q[String(l)].forEach((v, i) => (c[index.get(w.forecast.t[i])] = v));
    q[l] = c;
  }
  return { x, actual, value, lower, upper, alert, levels, q };
}

function zonesOf() {
  const zones = ["UTC"];
  const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (local && local !== "UTC") zones.push(local);
  for (const z of ["Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo"]) {
    if (!zones.includes(z)) zones.push(z);
  }
  return zones;
}

async function seriesPage(metric, series, params) {
  const overview = await api("/v1/overview");
  const m = overview.metrics.find((x) => x.metric === metric);
  if (!m) throw new ApiError(404, "unknown_metric", `metric ${metric} is not configured`);
  const s = m.series.find((x) => x.series === series);
  const range = params.get("range") || "7d";
  const tz = params.get("tz") || "UTC";
  const lastData = s ? Date.parse(s.last) / 1000 : Date.now() / 1000;
  let from, to;
  if (params.get("from") && params.get("to")) {
    from = Date.parse(params.get("from")) / 1000;
    to = Date.parse(params.get("to")) / 1000;
  } else {
    const days = (RANGES.find((r) => r[0] === range) || RANGES[1])[1];
    from = lastData - days * 86400;
    // Show the forecast ahead too: a quarter of the range, at most the horizon.
    to = lastData + Math.min(m.horizon * m.step_s, Math.max(days * 86400 / 4, 86400));
    // The API serves at most MAX_WINDOW_DAYS: a long range keeps its history and shows
    // less of the forecast.
    to = Math.min(to, from + MAX_WINDOW_DAYS * 86400);
  }
  const iso = (t) => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const w = await api(`/v1/window/${encodeURIComponent(metric)}?series=${encodeURIComponent(series)}&from=${iso(from)}&to=${iso(to)}`);
  const d = alignWindow(w);

  const nav = (p) => href(["series", metric, series], { ...Object.fromEntries(params), ...p });
  const rangeButtons = h("div", { class: "group", role: "group", "aria-label": "time range" },
    RANGES.map(([r]) => h("button", {
      type: "button", "aria-pressed": String(!params.get("from") && r === range),
      onclick: () => (location.hash = nav({ range: r, from: "", to: "" }).replace(/&?(from|to)=(?=&|$)/g, "")),
    }, r)));
  const fromInput = h("input", { type: "datetime-local", id: "from", value: iso(from).slice(0, 16), "aria-label": "from (UTC)" });
  const toInput = h("input", { type: "datetime-local", id: "to", value: iso(to).slice(0, 16), "aria-label": "to (UTC)" });
  const custom = h("form", { class: "controls", onsubmit: (e) => {
    e.preventDefault();
    location.hash = nav({ from: fromInput.value + ":00Z", to: toInput.value + ":00Z" });
  } }, h("label", { for: "from" }, "from"), fromInput, h("label", { for: "to" }, "to"), toInput,
  h("button", { type: "submit" }, "Show"));
  const tzSelect = h("select", { id: "tz", "aria-label": "time zone", onchange: (e) => (location.hash = nav({ tz: e.target.value })) },
    zonesOf().map((z) => h("option", { value: z, selected: z === tz }, z)));
  const seriesSelect = h("select", { id: "series-select", "aria-label": "series",
    onchange: (e) => (location.hash = href(["series", metric, e.target.value], Object.fromEntries(params))) },
    m.series.map((x) => h("option", { value: x.series, selected: x.series === series }, x.series)));

  const yr = robustRange(d.actual, d.value.concat(d.lower, d.upper));
  const chartBox = h("div", { class: "chart", id: "chart", tabindex: "0",
    "aria-label": `chart of ${metric} ${series}: arrow keys pan, + and - zoom, 0 resets` });
  const clippedNote = h("p", { class: "note clipped", id: "clipped" });
  const fullScale = h("button", { type: "button", id: "full-scale", "aria-pressed": "false" }, "Full y scale");
  const summary = h("p", { class: "note", id: "summary" },
    `${w.actual.t.length} actuals, ${w.forecast.t.length} forecast points (${w.forecast.model_version || "no model"}), ${w.alerts.t.length} alerts, ${fmt.pct(w.interval)} interval; times in ${tz}.`);
  const legend = h("p", { class: "note" },
    h("span", { class: "legend-key key-actual" }), "actual  ",
    h("span", { class: "legend-key key-forecast" }), "forecast  ",
    h("span", { class: "legend-key key-band" }), `${fmt.pct(w.interval)} interval and quantile fan  `,
    h("span", { class: "legend-key key-alert" }), "alert  ",
    h("span", { class: "legend-key key-now" }), " now");
  show(
    h("h1", {}, `${metric} · `, seriesSelect),
    h("div", { class: "controls" }, rangeButtons, custom, h("label", { for: "tz" }, "time zone"), tzSelect,
      h("button", { type: "button", onclick: () => pan(-0.25), "aria-label": "pan left" }, "◀"),
      h("button", { type: "button", onclick: () => pan(0.25), "aria-label": "pan right" }, "▶"),
      h("button", { type: "button", onclick: () => zoom(0.5), "aria-label": "zoom in" }, "+"),
      h("button", { type: "button", onclick: () => zoom(2), "aria-label": "zoom out" }, "−"),
      h("button", { type: "button", onclick: () => reset(), "aria-label": "reset zoom" }, "Reset"),
      fullScale),
    summary,
    chartBox,
    legend,
    clippedNote,
    h("p", { class: "note" }, "Drag across the chart to zoom in; the mouse wheel zooms, arrow keys pan. Hover for values. ",
      h("a", { href: href(["alerts"], { metric, series }) }, "Alerts of this series"), " · ",
      h("a", { href: href(["models", metric]) }, "Models of this metric")),
  );

  let full = false;
  const yRange = () => (full ? null : [yr.min, yr.max]);
  const setClipped = () => {
    clippedNote.textContent = !full && yr.clipped
      ? `${yr.clipped} actual(s) lie outside the y scale (a spike would flatten the rest): press "Full y scale" to see them.`
      : "";
  };
  setClipped();
  fullScale.addEventListener("click", () => {
    full = !full;
    fullScale.setAttribute("aria-pressed", String(full));
    if (full) plot.setScale("y", { min: Math.min(...d.actual.filter(Number.isFinite), yr.min), max: Math.max(...d.actual.filter(Number.isFinite), yr.max) });
    else plot.setScale("y", { min: yr.min, max: yr.max });
    setClipped();
  });

  const fan = [];
  const qSeries = [];
  // Quantile pairs from the outside in (0.05/0.95, 0.1/0.9, 0.25/0.75): darker inside.
  for (let i = 0; i < Math.floor(d.levels.length / 2); i++) {
    const lo = d.levels[i], hi = d.levels[d.levels.length - 1 - i];
    qSeries.push([lo, hi]);
  }
  const data = [d.x, d.actual, d.value, d.lower, d.upper];
  const series_ = [
    {},
    { label: "actual", stroke: "#1b1b1b", width: 1.25, spanGaps: false, value: (u, v) => fmt.num(v, 4) },
    { label: "forecast", stroke: "#0072b2", width: 1.5, dash: [6, 3], value: (u, v) => fmt.num(v, 4) },
    { label: "lower", stroke: "rgba(86,180,233,0.9)", width: 1, value: (u, v) => fmt.num(v, 4) },
    { label: "upper", stroke: "rgba(86,180,233,0.9)", width: 1, value: (u, v) => fmt.num(v, 4) },
  ];
  const bands = [{ series: [4, 3], fill: "rgba(86,180,233,0.18)" }];
  qSeries.forEach(([lo, hi], k) => {
    data.push(d.q[lo], d.q[hi]);
    const a = data.length - 2, b = data.length - 1;
    series_.push({ label: `q${lo}`, stroke: "transparent", value: (u, v) => fmt.num(v, 4), class: "quantile" },
      { label: `q${hi}`, stroke: "transparent", value: (u, v) => fmt.num(v, 4), class: "quantile" });
    bands.push({ series: [b, a], fill: `rgba(0,114,178,${0.08 + 0.06 * k})` });
    fan.push([a, b]);
  });
  data.push(d.alert);
  series_.push({ label: "alert", stroke: "#d55e00", width: 0, paths: () => null,
    points: { show: true, size: 8, fill: "#d55e00", stroke: "#d55e00" }, value: (u, v) => fmt.num(v, 4) });

  const nowLine = (u) => {
    const now = Date.now() / 1000;
    const [x0, x1] = [u.scales.x.min, u.scales.x.max];
    const ctx = u.ctx;
    const mark = (t, colour, label, row) => {
      if (t < x0 || t > x1) return;
      const px = u.valToPos(t, "x", true);
      ctx.save();
      ctx.strokeStyle = colour;
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(px, u.bbox.top);
      ctx.lineTo(px, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.fillStyle = colour;
      ctx.font = `${12 * devicePixelRatio}px system-ui`;
      ctx.textAlign = px > u.bbox.left + u.bbox.width * 0.8 ? "right" : "left";
      const dx = ctx.textAlign === "right" ? -4 : 4;
      ctx.fillText(label, px + dx * devicePixelRatio, u.bbox.top + 14 * row * devicePixelRatio);
      ctx.restore();
    };
    mark(now, "#e69f00", "now", 1);
    mark(lastData, "#5a5a5a", "newest data", 2);
  };

  const width = () => Math.max(320, chartBox.clientWidth - 12);
  const opts = {
    width: width(),
    height: 380,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
    scales: { x: { time: true }, y: { range: (u, min, max) => yRange() || [min, max] } },
    axes: [
      { stroke: "#1b1b1b", grid: { stroke: "#e6e6e6" } },
      { stroke: "#1b1b1b", grid: { stroke: "#e6e6e6" }, size: 70,
        label: `${metric}${m.unit ? ", " + m.unit : ""} (${m.aggregation} per ${m.step_s / 3600} h)`, values: (u, ticks) => ticks.map((v) => fmt.num(v, 3)) },
    ],
    series: series_,
    bands,
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
    hooks: { draw: [nowLine] },
  };
  const plot = new uPlot(opts, data, chartBox);
  const [fullMin, fullMax] = [d.x[0], d.x[d.x.length - 1]];
  const pan = (f) => {
    const { min, max } = plot.scales.x;
    const dx = (max - min) * f;
    plot.setScale("x", { min: min + dx, max: max + dx });
  };
  const zoom = (f, at) => {
    const { min, max } = plot.scales.x;
    const c = at ?? (min + max) / 2;
    plot.setScale("x", { min: c - (c - min) * f, max: c + (max - c) * f });
  };
  const reset = () => plot.setScale("x", { min: fullMin, max: fullMax });
  chartBox.addEventListener("keydown", (e) => {
    const keys = { ArrowLeft: () => pan(-0.1), ArrowRight: () => pan(0.1), "+": () => zoom(0.8), "=": () => zoom(0.8), "-": () => zoom(1.25), 0: reset };
    if (keys[e.key]) {
      e.preventDefault();
      keys[e.key]();
    }
  });
  plot.over.addEventListener("wheel", (e) => {
    e.preventDefault();
    const at = plot.posToVal(e.offsetX, "x");
    zoom(e.deltaY < 0 ? 0.8 : 1.25, at);
  }, { passive: false });
  const onResize = () => plot.setSize({ width: width(), height: 380 });
  window.addEventListener("resize", onResize);
  window.__grasPlot = plot;
  performance.mark("gras:chart-drawn");
  current = () => {
    window.removeEventListener("resize", onResize);
    plot.destroy();
    window.__grasPlot = null;
  };
}

// ---- alerts --------------------------------------------------------------------------------

const KINDS = ["outside_interval", "outlier", "outside_interval_and_outlier"];
const SINCE = [["24h", 1], ["7d", 7], ["30d", 30], ["90d", 90]];

async function alertsPage(params) {
  const overview = await api("/v1/overview");
  const metrics = overview.metrics.map((m) => m.metric);
  const metric = params.get("metric") || metrics[0];
  const series = params.get("series") || "";
  const kind = params.get("kind") || "";
  const since = params.get("since") || "7d";
  const m = overview.metrics.find((x) => x.metric === metric);
  if (!m) throw new ApiError(404, "unknown_metric", `metric ${metric} is not configured`);
  const newest = Math.max(...m.series.map((s) => Date.parse(s.last) / 1000), 0) || Date.now() / 1000;
  const days = (SINCE.find((s) => s[0] === since) || SINCE[1])[1];
  const sinceIso = new Date((newest - days * 86400) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const list = [];
  let cursor = "";
  for (let page = 0; page < 10; page++) {
    const q = new URLSearchParams({ metric, since: sinceIso, limit: "1000" });
    if (series) q.set("series", series);
    if (cursor) q.set("cursor", cursor);
    const r = await api(`/v1/alerts?${q}`);
    list.push(...r.alerts);
    if (!r.next_cursor) break;
    cursor = r.next_cursor;
  }
  const shown = list.filter((a) => !kind || a.kind === kind).reverse();
  const set = (p) => (location.hash = href(["alerts"], Object.fromEntries(Object.entries({ metric, series, kind, since, ...p }).filter(([, v]) => v))));
  const select = (id, label, value, options, key) => [
    h("label", { for: id }, label),
    h("select", { id, onchange: (e) => set({ [key]: e.target.value }) },
      options.map(([v, t]) => h("option", { value: v, selected: v === value }, t))),
  ];
  show(
    h("h1", {}, "Alerts"),
    h("p", { class: "note" }, "Buckets whose actual fell outside the forecast interval or were outliers (contract v1 alerts; scored events and incidents arrive with anomaly detection v2)."),
    h("div", { class: "controls", role: "group", "aria-label": "filters" },
      select("f-metric", "metric", metric, metrics.map((x) => [x, x]), "metric"),
      select("f-series", "series", series, [["", "all series"], ...m.series.map((s) => [s.series, s.series])], "series"),
      select("f-kind", "kind", kind, [["", "any kind"], ...KINDS.map((k) => [k, k.replaceAll("_", " ")])], "kind"),
      select("f-since", "in the last", since, SINCE.map(([k]) => [k, `${k} of data`]), "since")),
    h("p", { class: "note", id: "alert-count" }, `${shown.length} alert(s)${list.length >= 10000 ? " (first 10,000)" : ""}, newest first.`),
    h("table", { id: "alerts-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "time (UTC)"), h("th", {}, "series"), h("th", {}, "kind"),
        h("th", { class: "num" }, "actual"), h("th", { class: "num" }, "expected"), h("th", { class: "num" }, "interval"), h("th", {}, "model"))),
      h("tbody", {}, shown.slice(0, 500).map((a) => {
        const t = Date.parse(a.ts) / 1000;
        const around = { from: new Date((t - 3 * 86400) * 1000).toISOString().slice(0, 19) + "Z", to: new Date((t + 86400) * 1000).toISOString().slice(0, 19) + "Z" };
        return h("tr", {},
          h("td", {}, h("a", { href: href(["series", a.metric_id, a.series_key], around) }, fmt.time(a.ts))),
          h("td", {}, a.series_key),
          h("td", {}, a.kind.replaceAll("_", " ")),
          h("td", { class: "num" }, fmt.num(a.value, 4)),
          h("td", { class: "num" }, fmt.num(a.expected, 4)),
          h("td", { class: "num" }, a.lower === null ? "–" : `${fmt.num(a.lower, 4)} – ${fmt.num(a.upper, 4)}`),
          h("td", {}, a.model_version || "–"));
      }))),
  );
}

// ---- models --------------------------------------------------------------------------------

async function modelsPage(metric) {
  const overview = await api("/v1/overview");
  const metrics = overview.metrics.map((m) => m.metric);
  metric = metric || metrics[0];
  const r = await api(`/v1/models/${encodeURIComponent(metric)}`);
  const decide = async (version, action, button) => {
    const reason = prompt(`Reason to ${action} ${version} (recorded with your decision):`, `${action}d in the dashboard`);
    if (reason === null) return;
    button.disabled = true;
    try {
      await api(`/v1/models/${encodeURIComponent(metric)}/${encodeURIComponent(version)}/${action}`, { method: "POST", body: { reason } });
      say(`${version}: ${action}d.`);
      await route();
    } catch (e) {
      button.disabled = false;
      say(e.status === 401 ? `Refused: ${e.message}. Enter the API token at the top right.` : `Could not ${action}: ${e.message}`);
    }
  };
  const rollback = async (button) => {
    const reason = prompt(`Reason to roll ${metric} back to the version the approved one replaced:`, "rolled back in the dashboard");
    if (reason === null) return;
    button.disabled = true;
    try {
      const r2 = await api(`/v1/models/${encodeURIComponent(metric)}/rollback`, { method: "POST", body: { reason } });
      say(`${metric}: rolled back to ${r2.model.version}.`);
      await route();
    } catch (e) {
      button.disabled = false;
      say(e.status === 401 ? `Refused: ${e.message}. Enter the API token at the top right.` : `Could not roll back: ${e.message}`);
    }
  };
  const status = (s) => s === "Approved" ? badge("ok", "approved") : s === "PendingApproval" ? badge("warn", "pending") : s === "Rejected" ? badge("bad", "rejected") : h("span", { class: "note" }, s.toLowerCase());
  const rows = r.models.map((v) => {
    const live = r.live[v.version];
    const actions = v.status === "PendingApproval"
      ? [h("button", { type: "button", class: "primary", "data-action": "approve", onclick: (e) => decide(v.version, "approve", e.target) }, "Approve"), " ",
         h("button", { type: "button", class: "danger", "data-action": "reject", onclick: (e) => decide(v.version, "reject", e.target) }, "Reject")]
      : v.status === "Approved"
        ? [h("button", { type: "button", class: "danger", "data-action": "rollback", onclick: (e) => rollback(e.target),
            title: "re-approve the version this one replaced" }, "Roll back")]
        : [];
    return h("tr", { "data-version": v.version },
      h("td", {}, v.version), h("td", {}, status(v.status)), h("td", {}, v.model_kind),
      h("td", {}, fmt.time(v.created_at)), h("td", { class: "num" }, v.series),
      h("td", { class: "num" }, fmt.num(v.metrics.mase)), h("td", { class: "num" }, fmt.pct(v.metrics.coverage)),
      h("td", { class: "num" }, live ? fmt.num(live.mase) : "–"), h("td", { class: "num" }, live ? fmt.pct(live.coverage) : "–"),
      h("td", { class: "num" }, live && live.n !== null ? live.n : "–"),
      h("td", { class: "wrap" }, v.decided_by ? `${v.decided_by}: ${v.decision_reason || ""}` : "–"),
      h("td", {}, actions));
  });
  show(
    h("h1", {}, "Models"),
    h("div", { class: "controls", role: "group", "aria-label": "metric" },
      metrics.map((x) => h("a", { class: "tab", href: href(["models", x]), "aria-current": x === metric ? "page" : null }, x))),
    h("p", { class: "note" }, "Backtest accuracy is measured before approval on held-out windows; live accuracy once the version's forecasts meet actuals. Approve, reject and roll back need the API token; every decision is kept below."),
    h("div", { class: "scroll" }, h("table", { id: "models-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "version"), h("th", {}, "status"), h("th", {}, "kind"), h("th", {}, "created (UTC)"),
        h("th", { class: "num" }, "series"), h("th", { class: "num" }, "backtest MASE"), h("th", { class: "num" }, "backtest coverage"),
        h("th", { class: "num" }, "live MASE"), h("th", { class: "num" }, "live coverage"), h("th", { class: "num" }, "live n"),
        h("th", {}, "decision"), h("th", {}, ""))),
      h("tbody", {}, rows))),
    h("h2", {}, "Decision history"),
    h("div", { class: "scroll" }, h("table", { id: "decisions-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "when (UTC)"), h("th", {}, "version"), h("th", {}, "action"),
        h("th", {}, "status after"), h("th", {}, "by"), h("th", {}, "replaced"), h("th", {}, "reason"))),
      h("tbody", {}, r.decisions.map((d) => h("tr", { "data-action": d.action },
        h("td", {}, fmt.time(d.at)), h("td", {}, d.version), h("td", {}, d.action), h("td", {}, status(d.status)),
        h("td", {}, d.by), h("td", {}, d.replaced || "–"), h("td", { class: "wrap" }, d.reason)))))),
  );
}

// ---- data health ---------------------------------------------------------------------------

async function healthPage() {
  const o = await api("/v1/overview");
  const rows = [];
  for (const m of o.metrics) for (const s of m.series) rows.push({ m, s });
  rows.sort((a, b) => b.s.age_s - a.s.age_s);
  show(
    h("h1", {}, "Data health"),
    h("p", { class: "note" }, "When each series last delivered a bucket, oldest first. A series is stale when it is more than three buckets late."),
    h("table", { id: "health-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "metric"), h("th", {}, "series"), h("th", {}, "first bucket (UTC)"),
        h("th", {}, "newest bucket (UTC)"), h("th", {}, "late by"), h("th", {}, "state"))),
      h("tbody", {}, rows.map(({ m, s }) => h("tr", {},
        h("td", {}, m.metric), h("td", {}, h("a", { href: href(["series", m.metric, s.series]) }, s.series)),
        h("td", {}, fmt.time(s.first)), h("td", {}, fmt.time(s.last)), h("td", {}, fmt.age(s.age_s)),
        h("td", {}, s.age_s > 3 * m.step_s ? badge("bad", "stale") : badge("ok", "on time")))))),
  );
}

// ---- token ---------------------------------------------------------------------------------

function tokenUi() {
  const input = document.getElementById("token");
  const state = document.getElementById("token-state");
  const paint = () => (state.textContent = token() ? "token set" : "no token");
  document.getElementById("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
    input.value = "";
    paint();
    route();
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    paint();
    route();
  });
  paint();
}

tokenUi();
window.addEventListener("hashchange", route);
route();
