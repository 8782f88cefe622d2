// Shared by the browser tests: the demo server, Debian's Chromium through playwright-core,
// and small probes into the widget's shadow root.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

export const root = path.resolve(import.meta.dirname, "../..");
export const shots = path.join(root, "screenshots");
mkdirSync(shots, { recursive: true });

/**
 * Starts the server and a browser for this test file; `extraArgs` are Chromium flags, `env`
 * the server's extra environment (LATENTPAD_NO_ISOLATION=1: no COOP/COEP headers).
 */
export function harness(extraArgs = [], { env = {} } = {}) {
  const port = 8000 + Math.floor(Math.random() * 1000);
  const h = { origin: `http://127.0.0.1:${port}`, browser: null, server: null };
  before(async () => {
    h.server = spawn("python3", [path.join(root, "scripts/serve.py"), String(port)], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
    await new Promise((resolve, reject) => {
      h.server.stdout.on("data", (d) => d.toString().includes("demo at") && resolve());
      h.server.on("exit", (code) => reject(new Error(`server exited ${code}`)));
    });
    h.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run", ...extraArgs,
      ],
      // Playwright gives every launch a fresh, empty profile directory of its own.
    });
  });
  after(async () => {
    await h.browser?.close();
    h.server?.kill();
  });
  return h;
}

/** A fresh context and page that record requests, page errors and console errors. */
export async function openPage(h) {
  const context = await h.browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 1000 } });
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() }));
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  return { context, page, requests, errors };
}

/** Mean, variance and opacity of the first canvas matching `selector` (pierces shadow roots). */
export function canvasStats(page, selector) {
  return page.$eval(selector, (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sq = 0;
    for (let i = 0; i < d.length; i += 4) { const v = d[i] + d[i + 1] + d[i + 2]; sum += v; sq += v * v; }
    const n = d.length / 4;
    return { mean: sum / n, variance: sq / n - (sum / n) ** 2, opaque: d[3] === 255 };
  });
}

/** Text of an element inside the first (or `host`) widget's shadow root. */
export function shadowText(page, selector, host = "latent-pad") {
  return page.$eval(host, (el, s) => el.shadowRoot.querySelector(s).textContent, selector);
}

/** Waits until that text matches `pattern`. */
export function waitForShadowText(page, selector, pattern, { host = "latent-pad", timeout = 60_000 } = {}) {
  return page.waitForFunction(
    ([h, s, source, flags]) => new RegExp(source, flags).test(document.querySelector(h)?.shadowRoot?.querySelector(s)?.textContent ?? ""),
    [host, selector, pattern.source, pattern.flags],
    { timeout },
  );
}

/** Records main-thread long tasks from now on; read them with `longTasks(page)`. */
export function watchLongTasks(page) {
  return page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({ type: "longtask" });
  });
}

export function longTasks(page) {
  return page.evaluate(() => window.__long);
}

/**
 * The longest main-thread task a test lets pass. Work run on the page instead of in the worker
 * makes tasks of a fine-tuning step (about 1 s on the CPU build) or of decoding a batch
 * (hundreds of ms). The browser's own long-task line, 50 ms, is also crossed by the page's
 * small tasks when other processes load the machine (63 ms seen beside two training runs).
 */
export const FROZEN_MS = 200;

/** Asserts that no recorded main-thread task reached `FROZEN_MS`. */
export function assertNoFreeze(long, what) {
  assert.ok(long.every((d) => d < FROZEN_MS), `main-thread tasks of ${FROZEN_MS} ms or more ${what}: ${long}`);
}

export const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export const fixtures = {
  good: ["rgba.png", "grayscale.png", "palette.png", "photo.jpg", "sticker.webp", "animated.gif"].map((f) => path.join(root, "tests/fixtures/good", f)),
  bad: ["notes.png", "huge.png", "empty.png"].map((f) => path.join(root, "tests/fixtures/bad", f)),
};
