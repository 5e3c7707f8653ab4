// Panning and zooming through a year of hourly data in Debian's chromium: for each series
// given, the series page with the 1-year range, then a fixed sequence of interactions
// (keyboard pans, zooms in and out, mouse-wheel zooms at the cursor, a reset), each timed
// in the page from the event to the frame that shows it. Also counts long tasks (> 50 ms)
// during the interactions, and as the baseline of the same go the time to the next frame
// when nothing changes. Prints one JSON line per series and run.
//
// Usage: node bench/pan_zoom.mjs --bin GRAS --lake LAKE --metric G --series a,b,c [--runs 3]
// (run by bench/dashboard_bench.sh, which builds the lake and records BENCHMARKS.md figures)
import { arg, launchChromium, startServe } from "../test/harness.mjs";

const bin = arg("bin");
const lake = arg("lake");
const metric = arg("metric", "G");
const seriesList = arg("series", "_all").split(",");
const runs = Number(arg("runs", "3"));

const { server, base } = await startServe(bin, lake);
const { browser, close } = await launchChromium().catch((e) => {
  server.kill();
  throw e;
});
const page = browser.pages()[0] || (await browser.newPage());
const errors = [];
page.on("pageerror", (e) => errors.push(e.message));

const pct = (v, p) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
};

try {
  for (let run = 1; run <= runs; run++) {
    for (const series of seriesList) {
      await page.goto("about:blank");
      await page.goto(`${base}/#/series/${metric}/${encodeURIComponent(series)}?range=1y`);
      await page.waitForFunction(() => window.__grasPlot && performance.getEntriesByName("gras:chart-drawn").length);
      const r = await page.evaluate(async () => {
        const plot = window.__grasPlot;
        const chart = document.getElementById("chart");
        const points = plot.data[0].length;
        const drawn = performance.getEntriesByName("gras:chart-drawn")[0].startTime;
        const long = [];
        const obs = new PerformanceObserver((l) => long.push(...l.getEntries().map((e) => e.duration)));
        obs.observe({ type: "longtask", buffered: false });
        const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        const box = plot.over.getBoundingClientRect();
        const key = (k) => () => chart.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
        const wheel = (dy, fx) => () =>
          plot.over.dispatchEvent(new WheelEvent("wheel", { deltaY: dy, clientX: box.left + box.width * fx, clientY: box.top + box.height / 2, bubbles: true, cancelable: true }));
        const steps = [];
        for (let i = 0; i < 10; i++) steps.push(["pan", key("ArrowRight")]);
        for (let i = 0; i < 10; i++) steps.push(["pan", key("ArrowLeft")]);
        for (let i = 0; i < 5; i++) steps.push(["zoom", key("-")]);
        for (let i = 0; i < 8; i++) steps.push(["zoom", key("+")]);
        for (let i = 0; i < 8; i++) steps.push(["wheel", wheel(-100, 0.3 + 0.05 * i)]);
        for (let i = 0; i < 8; i++) steps.push(["wheel", wheel(100, 0.7 - 0.05 * i)]);
        steps.push(["reset", key("0")]);
        const work = [], toFrame = [];
        await frame();
        // The baseline of the same go: the time to the next frame with nothing changed.
        const idle = [];
        for (let i = 0; i < 20; i++) {
          const t0 = performance.now();
          await frame();
          idle.push(performance.now() - t0);
        }
        for (const [, act] of steps) {
          const before = plot.scales.x.min;
          const t0 = performance.now();
          act();
          await Promise.resolve();
          await Promise.resolve();
          work.push(performance.now() - t0);
          await frame();
          toFrame.push(performance.now() - t0);
          if (plot.scales.x.min === before && act !== steps[steps.length - 1][1]) throw new Error("an interaction did not move the chart");
        }
        obs.disconnect();
        return { points, drawn, work, toFrame, idle, long };
      });
      console.log(JSON.stringify({
        run, series, points: r.points, steps: r.work.length, chart_drawn_ms: +r.drawn.toFixed(1),
        work_p50_ms: +pct(r.work, 0.5).toFixed(2), work_p95_ms: +pct(r.work, 0.95).toFixed(2), work_max_ms: +Math.max(...r.work).toFixed(2),
        frame_p50_ms: +pct(r.toFrame, 0.5).toFixed(1), frame_p95_ms: +pct(r.toFrame, 0.95).toFixed(1), frame_max_ms: +Math.max(...r.toFrame).toFixed(1),
        idle_frame_p50_ms: +pct(r.idle, 0.5).toFixed(1), idle_frame_p95_ms: +pct(r.idle, 0.95).toFixed(1),
        long_tasks: r.long.length,
      }));
    }
  }
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
} finally {
  await close();
  server.kill();
}
