// The dashboard in a real browser: Debian's chromium driven by playwright-core, against
// `gras serve` on a demo lake with a token (so reads and actions are protected).
//
// Usage: node test/dashboard.mjs --bin GRAS --lake LAKE [--shots DIR] [--timing FILE]
//   LAKE: a finished `gras demo` lake with one PendingApproval version of metric G.
//   --shots: write screenshots there (the README's pictures).
//   --timing: append the pages' load timings (JSON lines) there (BENCHMARKS.md).
// Every step asserts; the first failure exits 1 with what was seen.
import { mkdirSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, launchChromium, startServe } from "./harness.mjs";

const bin = arg("bin", process.env.GRAS_BIN || "target/debug/gras");
const lake = arg("lake");
const shots = arg("shots");
const timingFile = arg("timing");
if (!lake) throw new Error("--lake LAKE is required");
if (shots) mkdirSync(shots, { recursive: true });

function check(cond, what, seen) {
  if (!cond) {
    console.error(`FAIL: ${what}${seen === undefined ? "" : `\n  seen: ${JSON.stringify(seen)}`}`);
    process.exitCode = 1;
    throw new Error(what);
  }
  console.log(`ok: ${what}`);
}

// ---- the server ------------------------------------------------------------------------
const token = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
const { server, base } = await startServe(bin, lake, { GRAS_API_TOKEN: token });
console.log(`gras serve at ${base}`);

// ---- the browser -----------------------------------------------------------------------
const { browser, close } = await launchChromium().catch((e) => {
  server.kill();
  throw e;
});
const page = browser.pages()[0] || (await browser.newPage());
const problems = [];
page.on("console", (m) => {
  if (m.type() === "error") problems.push(`console: ${m.text()}`);
});
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
// Responses the test expects to fail (401 before the token) are counted, not problems.
const expectedStatus = new Set([401]);
page.on("response", (r) => {
  if (r.status() >= 400 && !expectedStatus.has(r.status())) problems.push(`HTTP ${r.status()} ${r.url()}`);
});
await page.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
});

const timings = [];
/** Loads the page afresh at `hash` and waits until it has shown it (for its timings). */
async function open(hash, what) {
  await page.goto("about:blank");
  await page.goto(`${base}/${hash}`);
  await page.waitForFunction(() => window.__grasRoutes >= 1);
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const drawn = performance.getEntriesByName("gras:chart-drawn")[0];
    return { domInteractive: nav ? nav.domInteractive : null, chartDrawn: drawn ? drawn.startTime : null, now: performance.now() };
  });
  timings.push({ page: what, ...t });
  return t;
}
function noProblems(where) {
  check(problems.length === 0, `${where}: no console errors, page errors or failed requests`, problems.splice(0));
}

async function canvasInk() {
  // Share of the chart's pixels that are not background: a drawn chart has lines on it.
  return page.evaluate(() => {
    const c = document.querySelector("#chart canvas");
    if (!c) return 0;
    const ctx = c.getContext("2d");
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    let ink = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
    return ink / (c.width * c.height);
  });
}

try {
  // 1. Without the token, reads are refused and the page says how to get in.
  await open("#/", "overview (no token)");
  const refusal = await page.textContent("main");
  check(/API token/.test(refusal) && /protects reads/.test(refusal), "without a token the overview explains the refusal", refusal);
  problems.splice(0); // the browser logs each 401 as a console error: expected here
  expectedStatus.delete(401);

  // 2. With the token: the overview.
  await page.fill("#token", token);
  await page.click("#token-save");
  await page.waitForSelector("#series-table tbody tr");
  const cards = await page.locator(".card").count();
  const rows = await page.locator("#series-table tbody tr").count();
  check(cards === 4, "the overview shows the four GRAS metrics", cards);
  check(rows >= 4 * 2, "the overview lists every series", rows);
  const firstCard = await page.textContent(".card");
  check(/mstl|ets|mean|naive|theta/i.test(firstCard) && /live MASE/.test(firstCard), "a metric card names its model and live accuracy", firstCard);
  noProblems("overview");
  const t0 = await open("#/", "overview");
  if (shots) await page.screenshot({ path: join(shots, "dashboard-overview.png"), fullPage: false });

  // 3. A series page: the chart draws actuals, forecast, band; ranges and time zones change it.
  const series = await page.locator("#series-table tbody tr td:nth-child(2) a").first().textContent();
  const metric = await page.locator("#series-table tbody tr td:nth-child(1)").first().textContent();
  await open(`#/series/${metric}/${encodeURIComponent(series)}?range=90d`, "series 90d");
  await page.waitForSelector("#chart canvas");
  const ink90 = await canvasInk();
  check(ink90 > 0.01, "the 90-day chart is drawn (non-blank canvas)", ink90);
  const shape = await page.evaluate(() => {
    const u = window.__grasPlot;
    const n = (i) => u.data[i].filter((v) => v !== null && v !== undefined).length;
    return { labels: u.series.map((s) => s.label), actual: n(1), forecast: n(2), lower: n(3), upper: n(4), x: u.data[0].length };
  });
  check(shape.labels.includes("actual") && shape.labels.includes("forecast") && shape.labels.includes("alert"), "the chart has the actual, forecast and alert series", shape.labels);
  check(shape.actual > 24 * 80, "90 days of hourly actuals", shape.actual);
  check(shape.forecast > 0 && shape.lower === shape.forecast && shape.upper === shape.forecast, "forecasts with both bounds", shape);
  check(shape.labels.some((l) => /^q0\.0?5$/.test(l)), "the quantile fan is drawn", shape.labels);
  noProblems("series 90d");
  const t90 = timings[timings.length - 1];

  // A year: the whole history, within the API's longest window.
  await page.click("button:text-is('1y')");
  await page.waitForFunction(() => /range=1y/.test(location.hash) && window.__grasPlot && window.__grasPlot.data[1].filter((v) => v !== null).length > 24 * 95);
  noProblems("series 1y");

  await page.click("button:text-is('7d')");
  await page.waitForFunction(() => /range=7d/.test(location.hash) && window.__grasPlot);
  await page.waitForFunction(() => window.__grasPlot && window.__grasPlot.data[1].filter((v) => v !== null).length < 24 * 10);
  const n7 = await page.evaluate(() => window.__grasPlot.data[1].filter((v) => v !== null).length);
  check(n7 > 24 * 5 && n7 <= 24 * 7 + 1, "the 7d range shows a week of actuals", n7);
  if (shots) await page.screenshot({ path: join(shots, "dashboard-series.png"), fullPage: false });
  // Keyboard: the chart pans with the arrow keys.
  const before = await page.evaluate(() => window.__grasPlot.scales.x.min);
  await page.focus("#chart");
  await page.keyboard.press("ArrowLeft");
  const after = await page.evaluate(() => window.__grasPlot.scales.x.min);
  check(after < before, "the arrow keys pan the chart", { before, after });
  await page.selectOption("#tz", "America/New_York");
  await page.waitForFunction(() => /tz=America%2FNew_York|tz=America\/New_York/.test(location.hash));
  await page.waitForSelector("#chart canvas");
  const summary = await page.textContent("#summary");
  check(/America\/New_York/.test(summary), "the time zone applies", summary);
  noProblems("series ranges");

  // 4. Alerts: the filters change what is shown.
  await open(`#/alerts?metric=${metric}&since=90d`, "alerts");
  const all = await page.locator("#alerts-table tbody tr").count();
  check(all > 0, "the demo's alerts are listed", all);
  await page.selectOption("#f-series", series);
  await page.waitForFunction((s) => location.hash.includes(`series=${encodeURIComponent(s)}`), series);
  await page.waitForSelector("#alert-count");
  const one = await page.locator("#alerts-table tbody tr").count();
  const seriesCells = await page.locator("#alerts-table tbody tr td:nth-child(2)").allTextContents();
  check(one < all && seriesCells.every((s) => s === series), "the series filter keeps that series' alerts only", { all, one });
  noProblems("alerts");
  if (shots) await page.screenshot({ path: join(shots, "dashboard-alerts.png"), fullPage: false });

  // 5. Models: approve is refused without the token, done with it.
  await page.click("#token-clear");
  await open("#/models/G", "models (no token)");
  // Without the token the page cannot even read the registry: the refusal is shown.
  const noToken = await page.textContent("main");
  check(/API token/.test(noToken), "without a token the models page is refused", noToken);
  problems.splice(0);
  await page.fill("#token", token);
  await page.click("#token-save");
  await page.waitForSelector("#models-table button[data-action='approve']");
  const pending = await page.locator("#models-table tr:has(button[data-action='approve'])").getAttribute("data-version");
  if (shots) await page.screenshot({ path: join(shots, "dashboard-models.png"), fullPage: false });
  // A wrong token: the approval is refused, and nothing changes.
  await page.evaluate(() => sessionStorage.setItem("gras-token", "wrong-token"));
  expectedStatus.add(401);
  page.once("dialog", (d) => d.accept("checked in the browser test"));
  await page.click(`#models-table tr[data-version='${pending}'] button[data-action='approve']`);
  await page.waitForFunction(() => /Refused/.test(document.getElementById("toast").textContent));
  problems.splice(0);
  expectedStatus.delete(401);
  const still = await page.locator(`#models-table tr[data-version='${pending}']`).textContent();
  check(/pending/.test(still), "a wrong token approves nothing", still);
  await page.evaluate((t) => sessionStorage.setItem("gras-token", t), token);
  page.once("dialog", (d) => d.accept("approved in the browser test"));
  await page.click(`#models-table tr[data-version='${pending}'] button[data-action='approve']`);
  await page.waitForFunction((v) => {
    const row = document.querySelector(`#models-table tr[data-version='${v}']`);
    return row && /approved/.test(row.textContent);
  }, pending);
  const row = await page.locator(`#models-table tr[data-version='${pending}']`).textContent();
  check(/approved in the browser test/.test(row), "with the token the version is approved, with the reason", row);
  const history = await page.locator("#decisions-table tbody tr").first().textContent();
  check(/approve/.test(history) && /approved in the browser test/.test(history), "the decision history shows the approval first", history);
  // Roll back: the version it replaced is approved again, and the history says so.
  page.once("dialog", (d) => d.accept("rolled back in the browser test"));
  await page.click(`#models-table tr[data-version='${pending}'] button[data-action='rollback']`);
  await page.waitForFunction((v) => {
    const row = document.querySelector(`#models-table tr[data-version='${v}']`);
    return row && /archived/.test(row.textContent);
  }, pending);
  const back = await page.locator("#models-table tr:has(button[data-action='rollback'])").getAttribute("data-version");
  check(back && back !== pending, "the rollback re-approves the version it replaced", back);
  const rolled = await page.locator("#decisions-table tbody tr[data-action='rollback']").first().textContent();
  check(/rolled back in the browser test/.test(rolled) && rolled.includes(pending), "the decision history records the rollback and from what", rolled);
  noProblems("models");

  // 6. Data health.
  await open("#/health", "health");
  const healthRows = await page.locator("#health-table tbody tr").count();
  check(healthRows === rows, "data health lists every series", { healthRows, rows });
  noProblems("health");

  // 7. Keyboard: the skip link and the navigation are reachable with Tab.
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
  check(/Skip to content/.test(focused), "the first Tab reaches the skip link", focused);

  console.log(`timing: overview ${t0.now.toFixed(0)} ms, series 90d chart drawn ${t90.chartDrawn.toFixed(0)} ms after navigation`);
  if (timingFile) for (const t of timings) appendFileSync(timingFile, JSON.stringify(t) + "\n");
  console.log("dashboard check passed");
} catch (e) {
  if (!process.exitCode) {
    console.error(e);
    process.exitCode = 1;
  }
  try {
    await page.screenshot({ path: join(tmpdir(), "gras-dashboard-failure.png") });
    console.error(`screenshot of the failure: ${join(tmpdir(), "gras-dashboard-failure.png")}`);
  } catch {}
} finally {
  await close();
  server.kill();
}
