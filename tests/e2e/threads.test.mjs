// The threaded CPU build (pkg/threads): a cross-origin isolated page (the server sends COOP and
// COEP) runs the CPU kernels on a rayon pool of Web Workers, says so in the badge, draws the
// same images as the single-threaded build and fine-tunes; a page without isolation falls back
// to the single-threaded build and says why.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, openPage, shadowText } from "./helpers.mjs";

const isolated = harness();
const plain = harness([], { env: { LATENTPAD_NO_ISOLATION: "1" } });

/** Loads emoji-gan on the CPU in a fresh page (its own worker), after `setCpuThreads(threads)` if given. */
async function cpuSamples(h, threads) {
  const { context, page, errors } = await openPage(h);
  // A same-origin document without a widget, so nothing loads a model before the call.
  await page.goto(`${h.origin}/models/emoji-gan/config.json`);
  const result = await page.evaluate(async (threads) => {
    const { Generator, setCpuThreads } = await import("/www/api.js");
    if (threads !== null) await setCpuThreads(threads);
    const g = await Generator.load("emoji-gan", { backend: "cpu" });
    const images = await g.sample(4, 11);
    return { isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency, threads: g.threads, images: Array.from(images) };
  }, threads ?? null);
  assert.deepEqual(errors, []);
  await context.close();
  return result;
}

function difference(a, b) {
  assert.equal(a.length, b.length);
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

test("an isolated page runs the CPU build on threads, draws the single thread's images and fine-tunes", { timeout: 300_000 }, async () => {
  const threaded = await cpuSamples(isolated);
  assert.equal(threaded.isolated, true);
  const expected = Math.max(1, Math.min(threaded.cores, 8));
  assert.equal(threaded.threads.threads, expected, JSON.stringify(threaded.threads));
  assert.match(threaded.threads.why, /cross-origin isolated/);
  // The single-threaded build, asked for on the same page kind: same seed, same image (the
  // threads only change the order of float sums, a rounding step at most).
  const single = await cpuSamples(isolated, 0);
  assert.equal(single.threads.threads, 1);
  assert.match(single.threads.why, /as asked/);
  const diff = difference(threaded.images, single.images);
  assert.ok(diff.max <= 2 && diff.mean < 0.05, `threaded and single-threaded images differ: ${JSON.stringify(diff)}`);

  // The widget's badge, and a fine-tuning run on the threaded build.
  const { context, page, errors } = await openPage(isolated);
  await page.goto(`${isolated.origin}/index.html?backend=cpu`);
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  if (expected > 1) assert.match(await shadowText(page, ".backend"), new RegExp(`CPU \\(wasm, ${expected} threads\\)`));
  const run = await page.evaluate(async () => {
    const { Generator } = await import("/www/api.js");
    const g = await Generator.load("emoji-gan", { backend: "cpu" });
    const images = await g.sample(4, 0);
    const list = Array.from({ length: 4 }, (_, i) => images.slice(i * 16384, (i + 1) * 16384));
    const losses = [];
    const tuned = await g.fineTune(list, { steps: 2, batchSize: 4, invertSteps: 0, previewEvery: 1000, onStep: (s) => losses.push(s) }).done;
    return { losses, steps: tuned.stepsTrained, threads: tuned.threads };
  });
  assert.equal(run.steps, 2);
  assert.equal(run.losses.length, 2);
  for (const s of run.losses) assert.ok(s.losses.length === 2 && s.losses.every(Number.isFinite), JSON.stringify(s));
  assert.equal(run.threads?.threads, expected);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a page without cross-origin isolation gets the single-threaded build and is told why", { timeout: 180_000 }, async () => {
  const single = await cpuSamples(plain);
  assert.equal(single.isolated, false);
  assert.equal(single.threads.threads, 1);
  assert.match(single.threads.why, /not cross-origin isolated/);
  // Asking for threads there is not an error: the page still runs, on one thread.
  const asked = await cpuSamples(plain, 2);
  assert.equal(asked.threads.threads, 1);
  assert.deepEqual(asked.images, single.images);
});
