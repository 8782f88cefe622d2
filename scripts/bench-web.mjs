// Runs the browser benchmark headless and prints one JSON object: transfer sizes (raw, gzip,
// brotli) of the wasm and the weights, time from navigation to the first drawn image on the
// demo page, and www/bench.html's sampling and fine-tuning figures. Needs `make web` first.
//   node scripts/bench-web.mjs
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
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

const port = 9000 + Math.floor(Math.random() * 900);
const server = spawn("python3", [path.join(root, "scripts/serve.py"), String(port)], { stdio: ["ignore", "pipe", "inherit"] });
await new Promise((resolve) => server.stdout.on("data", (d) => d.toString().includes("demo at") && resolve()));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/index.html`);
  await page.waitForSelector("body[data-first-image-ms]", { timeout: 120_000 });
  const firstImageMs = Number(await page.getAttribute("body", "data-first-image-ms"));
  const bench = await browser.newPage();
  await bench.goto(`http://127.0.0.1:${port}/www/bench.html`);
  await bench.waitForFunction(() => window.__bench, null, { timeout: 600_000 });
  const result = await bench.evaluate(() => window.__bench);
  console.log(JSON.stringify({
    browser: browser.version(),
    navigation_to_first_image_ms: firstImageMs,
    ...result,
    transfer: {
      wasm: sizes("pkg/latentpad_bg.wasm"),
      js: sizes("pkg/latentpad.js"),
      generator: sizes("models/emoji-gan/generator.lpw"),
      discriminator: sizes("models/emoji-gan/discriminator.lpw"),
    },
  }, null, 2));
} finally {
  await browser.close();
  server.kill();
}
