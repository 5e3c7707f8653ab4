// Copies the browser files of the pinned npm dependencies (package-lock.json) into
// vendor/, where the Rust API embeds them: `cargo build` then needs no npm, and the page no
// CDN. `node vendor.mjs --check` fails when vendor/ differs from node_modules (CI runs it
// after `npm ci`, so the committed copy is always the locked version).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const files = [
  ["node_modules/uplot/dist/uPlot.iife.min.js", "vendor/uPlot.iife.min.js"],
  ["node_modules/uplot/dist/uPlot.min.css", "vendor/uPlot.min.css"],
  ["node_modules/uplot/LICENSE", "vendor/uPlot.LICENSE"],
];
const check = process.argv.includes("--check");
let stale = 0;
mkdirSync(join(here, "vendor"), { recursive: true });
for (const [from, to] of files) {
  const want = readFileSync(join(here, from));
  let have = null;
  try {
    have = readFileSync(join(here, to));
  } catch {}
  if (have !== null && Buffer.compare(want, have) === 0) continue;
  if (check) {
    console.error(`vendor: ${to} differs from ${from} (run: cd web && npm ci && node vendor.mjs)`);
    stale++;
  } else {
    writeFileSync(join(here, to), want);
    console.log(`vendor: ${to} <- ${from}`);
  }
}
process.exit(stale ? 1 : 0);
