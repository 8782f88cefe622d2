// The WebGPU backend in a real browser: headless Chromium with --enable-unsafe-webgpu gives a
// software adapter (SwiftShader), slow but real. The same seed gives the same image as on the
// CPU, fine-tuning runs, and a lost GPU device moves the page to the CPU without losing work.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { canvasStats, fixtures, harness, openPage, shadowText, shots, waitForShadowText } from "./helpers.mjs";

const h = harness(["--enable-unsafe-webgpu", "--use-angle=swiftshader", "--enable-features=Vulkan"]);

test("WebGPU: samples match the CPU's, fine-tuning runs, and a lost device falls back to the CPU", { timeout: 600_000 }, async () => {
  const { context, page, errors } = await openPage(h);
  await page.goto(`${h.origin}/index.html?backend=webgpu`);
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 300_000 });
  assert.equal(await page.$eval("latent-pad", (el) => el.dataset.backend), "webgpu");
  // "auto" passes over this software adapter: the CPU build is faster than emulated WebGPU.
  const auto = await page.evaluate(async () => {
    const { Generator } = await import("/www/api.js");
    const g = await Generator.load("emoji-gan", { backend: "auto" });
    return { backend: g.backend, why: g.why };
  });
  assert.deepEqual(auto, { backend: "cpu", why: "this browser's WebGPU is software emulation, slower than the CPU build" });
  // The speed probe, forced on this adapter, on the default model (the VAE: its step needs the
  // encoder, which sampling does not load): both backends timed, the faster (the CPU) kept and
  // remembered in localStorage for the next "auto".
  const probed = await page.evaluate(async () => {
    const { Generator } = await import("/www/api.js");
    const g = await Generator.load("emoji-vae", { backend: "auto", probe: true });
    return { backend: g.backend, why: g.why, measured: g.measured, saved: JSON.parse(localStorage.getItem("latentpad-backend")) };
  });
  assert.equal(probed.backend, "cpu", JSON.stringify(probed));
  assert.match(probed.why, /^measured faster than this GPU here: a fine-tuning step in \d+ ms on WebGPU, \d+ ms on the CPU; 8 images in \d+ ms and \d+ ms$/);
  assert.ok(probed.measured.webgpuStep > probed.measured.cpuStep, JSON.stringify(probed.measured));
  assert.ok(probed.measured.webgpu > 0 && probed.measured.cpu > 0, JSON.stringify(probed.measured));
  assert.equal(probed.saved.backend, "cpu");
  assert.match(probed.saved.why, /measured faster than this GPU here/);
  assert.match(await shadowText(page, ".backend"), /WebGPU/);
  await page.screenshot({ path: path.join(shots, "9-webgpu.png"), fullPage: true });

  // Same seed, same image: the GPU's first sample against the CPU build's, pixel by pixel.
  const diff = await page.evaluate(async () => {
    const { Generator } = await import("/www/api.js");
    const [gpu, cpu] = await Promise.all([Generator.load("emoji-gan", { backend: "webgpu" }), Generator.load("emoji-gan", { backend: "cpu" })]);
    const [a, b] = await Promise.all([gpu.sample(4, 0), cpu.sample(4, 0)]);
    let sum = 0, max = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      sum += d;
      max = Math.max(max, d);
    }
    return { backends: [gpu.backend, cpu.backend], mean: sum / a.length, max };
  });
  assert.deepEqual(diff.backends, ["webgpu", "cpu"]);
  assert.ok(diff.mean < 1.0, `GPU and CPU images differ by ${diff.mean} on average (max ${diff.max})`);

  // Fine-tuning on the GPU: two steps with live loss and previews.
  await page.setInputFiles(".files", fixtures.good);
  await page.waitForSelector("latent-pad[data-uploads='6']", { timeout: 60_000 });
  await page.$eval("latent-pad", (el) => el.setAttribute("invert-steps", "0")); // SwiftShader is slow
  await page.fill(".ft-steps", "2");
  await page.click(".ft-start");
  await page.waitForSelector("latent-pad[data-finetuned='2']", { timeout: 400_000 });
  assert.match(await shadowText(page, ".ft-status"), /Done after 2 steps/);
  assert.ok((await canvasStats(page, ".previews canvas")).variance > 0);
  assert.equal(await page.$eval("latent-pad", (el) => el.generator.backend), "webgpu");

  // The GPU goes away: the widget says so, reloads the fine-tuned model on the CPU and draws.
  await page.$eval("latent-pad", (el) => {
    window.__errors = [];
    el.addEventListener("error", (e) => window.__errors.push(e.detail));
    delete el.dataset.sampled;
  });
  const worker = page.workers().find((w) => w.url().endsWith("/worker.js"));
  await worker.evaluate(() => self.latentpadGpuDevice.destroy());
  await page.waitForSelector("latent-pad[data-backend='cpu'][data-sampled]", { timeout: 120_000 });
  const lost = await page.evaluate(() => window.__errors);
  assert.equal(lost[0]?.type, "device-lost", JSON.stringify(lost));
  assert.match(lost[0].message, /GPU device was lost.*moved to the CPU/);
  assert.match(await shadowText(page, ".backend"), /CPU/);
  assert.equal(await page.$eval("latent-pad", (el) => el.generator.fineTuned), true, "the fine-tuned model survives");
  const tile = await canvasStats(page, ".tile canvas");
  assert.ok(tile.variance > 100);
  await waitForShadowText(page, ".status", /GPU device was lost.*moved to the CPU; your images and samples are kept/);
  await page.screenshot({ path: path.join(shots, "10-device-lost.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});
