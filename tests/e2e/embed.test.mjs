// The embedding story in a real browser: examples/embed.html is a hostile host page served
// under a strict CSP with two <latent-pad> widgets, one scripted through the API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { PNG_MAGIC, canvasStats, harness, openPage, shots } from "./helpers.mjs";

const h = harness();
const IMAGE = 64 * 64 * 4;

async function openEmbed() {
  const p = await openPage(h);
  const response = await p.page.goto(`${h.origin}/examples/embed.html`);
  p.csp = response.headers()["content-security-policy"];
  await p.page.waitForSelector("#controlled[data-sampled='0']", { state: "attached", timeout: 120_000 });
  // Widget 2 sits below the fold and starts only when scrolled near.
  p.lazy = await p.page.$eval("#scripted", (el) => el.dataset.backend === undefined && el.getBoundingClientRect().top > innerHeight + 200);
  await p.page.locator("#scripted").scrollIntoViewIfNeeded();
  await p.page.waitForSelector("#scripted[data-sampled='0']", { state: "attached", timeout: 120_000 });
  return p;
}

const events = (page, filter = {}) =>
  page.evaluate((f) => window.latentpadEvents.filter((e) => Object.entries(f).every(([k, v]) => e[k] === v)), filter);

test("two widgets render under a strict CSP, the host's CSS leaves them intact, and the API and events work", { timeout: 300_000 }, async () => {
  const { context, page, requests, errors, csp, lazy } = await openEmbed();
  assert.ok(lazy, "the widget below the fold should wait until scrolled into view");
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.equal(await page.evaluate(() => window.inlineScriptRan), undefined, "the CSP must block the page's inline script");

  for (const id of ["controlled", "scripted"]) {
    const tile = await canvasStats(page, `#${id} .tile canvas`);
    assert.ok(tile.opaque && tile.variance > 100, `${id}: blank first image ${JSON.stringify(tile)}`);
  }
  // The host's `* { ... !important }`, canvas and button rules do not reach inside; its
  // --lp-accent theme does.
  const look = await page.$eval("#controlled", (el) => {
    const s = (q) => getComputedStyle(el.shadowRoot.querySelector(q));
    return { button: s(".new-samples").backgroundColor, font: s(".status").fontFamily, canvas: s(".tile canvas").filter, width: el.shadowRoot.querySelector(".tile canvas").getBoundingClientRect().width, seedShown: s(".seed").display };
  });
  assert.equal(look.button, "rgb(11, 114, 133)");
  assert.doesNotMatch(look.font, /Comic/);
  assert.equal(look.canvas, "none");
  assert.ok(look.width > 40, `tiles keep their size: ${look.width}px`);
  assert.notEqual(look.seedShown, "none");
  await page.screenshot({ path: path.join(shots, "7-embed.png"), fullPage: true });

  // Several widgets share one worker (besides it, only the threaded CPU build's pool).
  const workers = page.workers().map((w) => new URL(w.url()).pathname.split("/").pop());
  assert.equal(workers.filter((w) => w === "worker.js").length, 1, JSON.stringify(workers));
  assert.ok(workers.every((w) => w === "worker.js" || w === "workerHelpers.js"), JSON.stringify(workers));

  const loads = await events(page, { type: "load" });
  assert.deepEqual(loads.map((e) => [e.target, e.detail.kind, e.detail.backend]).sort(), [["controlled", "gan", "cpu"], ["scripted", "vae", "cpu"]]);
  const samples = await events(page, { type: "sample" });
  assert.ok(samples.some((e) => e.target === "controlled" && e.detail.seed === 0 && e.detail.count === 8));
  assert.ok(samples.some((e) => e.target === "scripted" && e.detail.seed === 0 && e.detail.count === 4));
  assert.ok((await events(page, { type: "progress" })).some((e) => e.detail.phase === "load" && e.detail.total > 0));

  // Scripted: an attribute change from the host's script resamples; methods resolve.
  const before = await canvasStats(page, "#scripted .tile canvas");
  await page.click("#seed-42");
  await page.waitForSelector("#scripted[data-sampled='42']", { state: "attached", timeout: 60_000 });
  assert.notDeepEqual(await canvasStats(page, "#scripted .tile canvas"), before);
  const sampled = await page.$eval("#scripted", async (el) => {
    const { seed, count, images } = await el.sample();
    return { seed, count, bytes: images.length };
  });
  assert.deepEqual(sampled, { seed: 42, count: 4, bytes: 4 * IMAGE });
  await page.click("#walk");
  await page.waitForFunction(() => window.latentpadEvents.some((e) => e.type === "interpolated"), null, { timeout: 60_000 });
  assert.equal((await events(page, { type: "interpolated" }))[0].detail.bytes, 8 * IMAGE);

  // toBlob: a PNG carrying provenance.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#png")]);
  const png = readFileSync(await download.path());
  assert.deepEqual([...png.subarray(0, 8)], PNG_MAGIC);
  const text = png.toString("latin1");
  for (const expected of ["AI-generated", "latentpad-model\0emoji-vae", "latentpad-fine-tuned\0no", "latentpad-latent\0seed 42", "Software\0latentpad"]) {
    assert.ok(text.includes(expected), `PNG lacks ${JSON.stringify(expected)}`);
  }

  // pkg/ as an npm package: its own copy of the API finds its worker and wasm beside it.
  const fromPkg = await page.evaluate(async () => {
    const { Generator } = await import("/pkg/api.js");
    const g = await Generator.load("emoji-gan", { backend: "cpu" });
    // Truncation reaches the model: a different image for the seed, the same one each time,
    // and an interpolation from a truncated end starts at the truncated image; a bad value
    // is an Error with a message.
    const plain = await g.sample(1, 3);
    const [half, again] = [await g.sample(1, 3, { truncation: 0.5 }), await g.sample(1, 3, { truncation: 0.5 })];
    const strip = await g.interpolate({ seed: 3, truncation: 0.5 }, 4, 2, "lerp");
    const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
    const bad = await g.sample(1, 3, { truncation: 2 }).then(
      () => "accepted",
      (e) => (e instanceof Error ? e.message : "not an Error")
    );
    // (Two frames decode as one batch: rounding may move a byte by one.)
    const near = (a, b) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 2);
    return { length: plain.length, differs: !same(plain, half), repeats: same(half, again), starts: near(strip.subarray(0, plain.length), half), bad };
  });
  assert.equal(fromPkg.length, IMAGE);
  assert.ok(fromPkg.differs, "truncation 0.5 drew the same image");
  assert.ok(fromPkg.repeats, "truncation is not deterministic");
  assert.ok(fromPkg.starts, "the walk does not start at the truncated image");
  assert.match(fromPkg.bad, /truncation must be/);
  assert.equal(JSON.parse(readFileSync(path.join(import.meta.dirname, "../../pkg/package.json"), "utf8")).name, "latentpad");

  // Nothing but the blocked inline script offended the CSP.
  const violations = (await events(page, { type: "csp" })).filter((e) => e.detail.blocked !== "inline");
  assert.deepEqual(violations, []);
  for (const r of requests) assert.ok(r.url.startsWith(h.origin) || r.url.startsWith("blob:"), r.url);
  assert.deepEqual(errors, []);
  await context.close();
});

test("bad attributes, a missing or HTML model folder, and removal mid-fine-tune end in error events or a clean stop", { timeout: 300_000 }, async () => {
  const { context, page, errors } = await openEmbed();
  const lastError = (target) => page.evaluate((t) => window.latentpadEvents.filter((e) => e.type === "error" && e.target === t).at(-1)?.detail, target);

  await page.$eval("#controlled", (el) => el.setAttribute("mode", "dance"));
  assert.deepEqual(await lastError("controlled"), { type: "attribute", message: 'mode="dance": unknown mode dance; use sample, interpolate or finetune' });
  await page.$eval("#controlled", (el) => el.setAttribute("backend", "quantum"));
  assert.equal((await lastError("controlled")).type, "attribute");
  await page.$eval("#controlled", (el) => el.setAttribute("count", "-3"));
  assert.match((await lastError("controlled")).message, /count must be a whole number from 1 to 64/);
  for (const bad of ["0", "1.5", "lots"]) {
    await page.$eval("#controlled", (el, v) => el.setAttribute("truncation", v), bad);
    assert.deepEqual(await lastError("controlled"), { type: "attribute", message: `truncation="${bad}": truncation must be a number above 0 and at most 1; using 1 (none)` });
  }
  await page.$eval("#controlled", (el) => el.removeAttribute("truncation"));

  // Asking for WebGPU where there is none: a no-webgpu error, and the widget runs on the CPU.
  await page.$eval("#controlled", (el) => {
    delete el.dataset.sampled;
    el.setAttribute("backend", "webgpu");
  });
  await page.waitForSelector("#controlled[data-sampled]", { state: "attached", timeout: 120_000 });
  const noGpu = await lastError("controlled");
  assert.equal(noGpu.type, "no-webgpu");
  assert.match(noGpu.message, /WebGPU is not available \(.*\); running on the CPU instead/);
  assert.equal(await page.$eval("#controlled", (el) => el.dataset.backend), "cpu");

  await page.$eval("#controlled", (el) => el.setAttribute("model", "/nowhere/"));
  await page.waitForFunction(() => window.latentpadEvents.some((e) => e.type === "error" && e.detail.type === "load-failure" && /nowhere/.test(e.detail.message)), null, { timeout: 30_000 });
  assert.match((await lastError("controlled")).message, /answered 404/);

  await page.route("**/spa/config.json", (r) => r.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>app</title>" }));
  await page.$eval("#controlled", (el) => el.setAttribute("model", "/spa/"));
  await page.waitForFunction(() => /web page/.test(window.latentpadEvents.filter((e) => e.type === "error").at(-1)?.detail.message), null, { timeout: 30_000 });
  assert.equal((await lastError("controlled")).type, "load-failure");
  // The methods reject (no hang) while the model is missing.
  assert.match(await page.$eval("#controlled", (el) => el.sample().then(() => "sampled", (e) => e.message)), /web page/);
  await page.screenshot({ path: path.join(shots, "8-embed-errors.png"), fullPage: true });

  // Back to a real model: the widget recovers.
  await page.$eval("#controlled", (el) => {
    delete el.dataset.sampled;
    el.setAttribute("model", "emoji-gan");
  });
  await page.waitForSelector("#controlled[data-sampled]", { state: "attached", timeout: 120_000 });
  // Attribute changes that raced with drawing (count 8 -> 16 mid-sample) did not break it.
  assert.deepEqual((await events(page, { type: "error" })).filter((e) => e.detail.type === "sample"), []);
  await page.waitForFunction(() => document.querySelector("#controlled").shadowRoot.querySelectorAll(".grid canvas").length === 16);

  // Removing a widget while it fine-tunes stops the run cleanly; the shared worker goes on.
  const outcome = await page.$eval("#scripted", async (el) => {
    const rgba = new Uint8ClampedArray(64 * 64 * 4).fill(180);
    const handle = el.fineTune([{ name: "grey.png", rgba }, { name: "grey2.png", rgba }], { steps: 200 });
    await new Promise((resolve) => el.addEventListener("progress", (e) => e.detail.phase === "finetune" && resolve(), { once: false }));
    el.remove();
    return handle.done.then((r) => r, (e) => ({ error: e.message }));
  });
  assert.equal(outcome.cancelled, true, JSON.stringify(outcome));
  assert.ok(outcome.steps >= 1 && outcome.steps < 200, JSON.stringify(outcome));
  const again = await page.$eval("#controlled", (el) => el.sample().then((r) => r.images.length));
  assert.ok(again > 0);

  // Cancel during the quick mode's inversion: a clean stop before any training step.
  const early = await page.$eval("#controlled", async (el) => {
    el.setAttribute("prior-steps", "500"); // the deprecated name still works
    const rgba = new Uint8ClampedArray(64 * 64 * 4).fill(90);
    const handle = el.fineTune([{ name: "dark.png", rgba }], { steps: 50 });
    await new Promise((resolve) => el.addEventListener("progress", (e) => e.detail.phase === "invert" && resolve()));
    handle.cancel();
    return handle.done.then((r) => r, (e) => ({ error: e.message }));
  });
  assert.deepEqual(early, { steps: 0, cancelled: true });
  assert.deepEqual(errors, []);
  await context.close();
});
