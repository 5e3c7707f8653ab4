// What the browser test and the browser benchmark share: `gras serve` on a lake, started
// on a free port, and Debian's chromium launched through playwright-core with the flags a
// closed network needs, in an empty profile of its own.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** The value after `--name` on the command line, else `fallback`. */
export const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

/**
 * Starts `gras serve --lake LAKE` on 127.0.0.1 (a free port) with `env` added to the
 * environment; resolves to `{ server, base }` once it says where it listens, rejects if it
 * exits first or is silent for 30 s.
 */
export async function startServe(bin, lake, env = {}) {
  const server = spawn(bin, ["serve", "--lake", lake, "--addr", "127.0.0.1:0"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let serverErr = "";
  server.stderr.on("data", (d) => (serverErr += d));
  const base = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    server.on("exit", (code) => reject(new Error(`gras serve exited ${code}: ${serverErr}`)));
    setTimeout(() => reject(new Error(`gras serve did not start: ${serverErr}`)), 30000);
  });
  return { server, base };
}

/**
 * Debian's chromium (`$CHROMIUM`, default /usr/bin/chromium), headless, 1280×860, in an
 * empty profile (Playwright passes it as --user-data-dir). Resolves to `{ browser, close }`;
 * `close` also removes the profile.
 */
export async function launchChromium() {
  const profile = mkdtempSync(join(tmpdir(), "gras-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1280, height: 860 },
    deviceScaleFactor: 1,
  });
  const close = async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}
