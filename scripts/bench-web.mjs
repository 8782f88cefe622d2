// Runs the browser benchmark headless and prints one JSON object: transfer sizes (raw, gzip,
// brotli) of both wasm builds and the weights, and per backend (CPU; WebGPU on this machine's
// software adapter, SwiftShader) the time from navigation to the first drawn image on the
// demo page and www/demo/bench.html's sampling and fine-tuning figures. Needs `make web` first.
// With FULL=1 the CPU run also times a whole fine-tuning run at the page's defaults on 30
// images (minutes). MODEL=name benches that shipped model (default: the page's). `cpu` runs
// the CPU build the page picks (threaded: the server sends COOP and COEP), `cpu-N` the
// threaded build with N threads, `cpu-single` the single-threaded build. NET=M holds the demo
// page's first visit to an M Mbit/s link with 40 ms of latency (Chromium's network emulation;
// the bench server does not compress, as a plain static host does not), so that
// navigation_to_first_image_ms counts the downloads of the wasm build and the weights.
//   [FULL=1] [MODEL=emoji-gan] [NET=10] node scripts/bench-web.mjs [cpu|cpu-N|cpu-single|webgpu ...]
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(import.meta.dirname, "..");
const sizes = (file) => {
  const bytes = readFileSync(path.join(root, file));
  return {
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
};
/** Transfer sizes of a shipped model's config and weights files. */
const weights = (model) => Object.fromEntries(
  readdirSync(path.join(root, "models", model))
    .filter((f) => f.endsWith(".lpw") || f === "config.json")
    .map((f) => [`${model}/${f}`, sizes(`models/${model}/${f}`)]),
);
const BASE = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"];
const GPU_FLAGS = ["--enable-unsafe-webgpu", "--use-angle=swiftshader", "--enable-features=Vulkan"];
const runs = process.argv.slice(2).length ? process.argv.slice(2) : ["cpu", "cpu-single", "webgpu"];
/** "cpu", "cpu-N", "cpu-single" or "webgpu" -> the backend and the bench page's threads parameter. */
function parseRun(run) {
  const m = /^cpu-(\d+|single)$/.exec(run);
  if (m) return { backend: "cpu", threads: m[1] === "single" ? "&threads=0" : `&threads=${m[1]}` };
  if (run === "cpu" || run === "webgpu") return { backend: run, threads: "" };
  throw new Error(`unknown run "${run}": cpu, cpu-N, cpu-single or webgpu`);
}

const port = 9000 + Math.floor(Math.random() * 900);
const origin = `http://127.0.0.1:${port}`;
const server = spawn("python3", [path.join(root, "scripts/serve.py"), String(port)], { stdio: ["ignore", "pipe", "inherit"] });
await new Promise((resolve) => server.stdout.on("data", (d) => d.toString().includes("demo at") && resolve()));
const results = {};
let version = null;
try {
  for (const run of runs) {
    const { backend, threads } = parseRun(run);
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: [...BASE, ...(backend === "webgpu" ? GPU_FLAGS : [])] });
    version = browser.version();
    try {
      const page = await browser.newPage();
      const net = Number(process.env.NET ?? 0);
      if (net > 0) {
        const cdp = await page.context().newCDPSession(page);
        await cdp.send("Network.enable");
        const bytesPerS = (net * 1e6) / 8;
        await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 40, downloadThroughput: bytesPerS, uploadThroughput: bytesPerS });
      }
      const asked = process.env.MODEL ? `&model=${encodeURIComponent(process.env.MODEL)}` : "";
      await page.goto(`${origin}/index.html?backend=${backend}${asked}`);
      await page.waitForSelector("latent-pad[data-first-image-ms]", { timeout: 600_000 });
      const firstImageMs = Number(await page.getAttribute("latent-pad", "data-first-image-ms"));
      const ran = await page.getAttribute("latent-pad", "data-backend");
      const bench = await browser.newPage();
      const full = process.env.FULL && backend === "cpu" ? "&full=1" : "";
      await bench.goto(`${origin}/www/demo/bench.html?backend=${backend}${threads}${full}${asked}`);
      await bench.waitForFunction(() => window.__bench, null, { timeout: 1_200_000 });
      results[run] = { demo_backend: ran, navigation_to_first_image_ms: firstImageMs, ...(await bench.evaluate(() => window.__bench)) };
    } finally {
      await browser.close();
    }
  }
  console.log(JSON.stringify({
    browser: version,
    ...(process.env.NET ? { first_visit_link_mbit_s: Number(process.env.NET) } : {}),
    ...results,
    transfer: {
      wasm_cpu: sizes("pkg/cpu/latentpad_bg.wasm"),
      wasm_webgpu: sizes("pkg/webgpu/latentpad_bg.wasm"),
      wasm_threads: sizes("pkg/threads/latentpad_bg.wasm"),
      js_glue: sizes("pkg/cpu/latentpad.js"),
      ...weights(process.env.MODEL ?? "emoji-vae"),
    },
  }, null, 2));
} finally {
  server.kill();
}
