// End-to-end tests of the demo page (one <latent-pad> with every control) in a real headless
// Chromium, CPU backend: load, sample, interpolate, download a PNG, switch models, bad weights,
// uploads and fine-tuning, IndexedDB, privacy (no request leaves the origin) and main-thread
// long tasks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { PNG_MAGIC, assertNoFreeze, canvasStats, fixtures, harness, longTasks, openPage as open, shadowText, shots, waitForShadowText, watchLongTasks } from "./helpers.mjs";

const h = harness();
const origin = h.origin;
const openPage = () => open(h);
const PAD = "latent-pad";

test("the page loads the default model (the VAE), samples, interpolates and downloads a PNG", { timeout: 240_000 }, async () => {
  const { context, page, requests, errors } = await openPage();
  await page.goto(`${origin}/index.html`);
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  assert.match(await shadowText(page, ".backend"), /CPU/);
  const first = await canvasStats(page, ".tile canvas");
  assert.ok(first.opaque && first.variance > 100, `first image looks blank: ${JSON.stringify(first)}`);
  assert.deepEqual(requests.filter((r) => r.url.endsWith(".lpw")).map((r) => r.url.split("/").slice(-2).join("/")), ["emoji-vae/decoder.lpw"], "a first visit fetches the decoder only");
  await page.screenshot({ path: path.join(shots, "1-samples.png"), fullPage: true });

  // Main-thread long tasks while the worker samples and interpolates.
  await watchLongTasks(page);
  await page.click(".new-samples");
  await page.waitForSelector("latent-pad[data-sampled='16']", { timeout: 60_000 });
  const other = await canvasStats(page, ".tile canvas");
  assert.notDeepEqual(other, first, "new samples should differ");

  const tiles = await page.$$(".tile canvas");
  await tiles[0].click();
  await tiles[5].click();
  await page.waitForSelector("latent-pad[data-interpolated='16-21']", { timeout: 60_000 });
  const strip = await canvasStats(page, ".strip");
  assert.ok(strip.variance > 100, "the strip should be drawn");
  await page.screenshot({ path: path.join(shots, "2-interpolation.png"), fullPage: true });
  assertNoFreeze(await longTasks(page), "while sampling and interpolating");

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.hover(".tile").then(() => page.click(".tile .download")),
  ]);
  const file = readFileSync(await download.path());
  assert.deepEqual([...file.subarray(0, 8)], PNG_MAGIC);
  assert.match(download.suggestedFilename(), /^latentpad-seed-16\.png$/);
  // Provenance: tEXt chunks name the software, the model, the seed and say AI-generated.
  const text = file.toString("latin1");
  for (const expected of ["tEXt", "AI-generated", "latentpad-model\0emoji-vae", "latentpad-fine-tuned\0no", "latentpad-latent\0seed 16"]) {
    assert.ok(text.includes(expected), `downloaded PNG lacks ${JSON.stringify(expected)}`);
  }

  // Privacy: every request stayed on this origin and none carried a body.
  for (const r of requests) {
    assert.ok(r.url.startsWith(origin) || r.url.startsWith("blob:") || r.url.startsWith("data:"), r.url);
    assert.equal(r.body, null, `${r.method} ${r.url} carried data`);
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test("a conditional GAN is steered by the pickers and the attributes; a tone without people is a message", { timeout: 240_000 }, async () => {
  const { context, page, errors } = await openPage();
  await page.goto(`${origin}/index.html`);
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  // The default VAE is steered through its fitted prior: pickers shown. The steerable GAN is
  // a click away.
  assert.equal(await page.$eval(PAD, (el) => el.shadowRoot.querySelector(".steering").hidden), false);
  // Its latent is the grid's: 8x8 cells of 8.
  assert.equal(await page.$eval(PAD, (el) => el.generator.latentDim), 512);
  await page.$eval(PAD, (el) => delete el.dataset.sampled);
  await page.check("input[value=emoji-cgan]");
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  const conditions = await page.$eval(PAD, (el) => el.generator.conditions);
  assert.ok(conditions.categories.includes("people") && conditions.toned.includes("people"), JSON.stringify(conditions));
  assert.equal(await page.$eval(PAD, (el) => el.shadowRoot.querySelector(".steering").hidden), false, "pickers shown");
  const unsteered = await canvasStats(page, ".tile canvas");

  // Pickers: people, dark; the same seeds draw other images, and the event says what was asked.
  await page.$eval(PAD, (el) => {
    window.__samples = [];
    el.addEventListener("sample", (e) => window.__samples.push(e.detail));
  });
  await page.selectOption(".category", "people");
  await page.waitForFunction(() => window.__samples.some((d) => d.category === "people"));
  await page.selectOption(".skin-tone", "dark");
  await page.waitForFunction(() => window.__samples.some((d) => d.skinTone === "dark"));
  assert.equal(await page.getAttribute(PAD, "skin-tone"), "dark");
  const dark = await canvasStats(page, ".tile canvas");
  assert.notDeepEqual(dark, unsteered, "steering should change the images");
  await page.screenshot({ path: path.join(shots, "2b-steered.png"), fullPage: true });

  // Truncation (an attribute, any model): other images for the same seeds, and a tile's PNG
  // says how it was drawn, so the seed and these words give the image again.
  await page.$eval(PAD, (el) => el.setAttribute("truncation", "0.7"));
  await page.waitForFunction(() => window.__samples.some((d) => d.truncation === 0.7));
  assert.notDeepEqual(await canvasStats(page, ".tile canvas"), dark, "truncation should change the images");
  const { seed, png } = await page.$eval(PAD, async (el) => {
    const bytes = new Uint8Array(await (await el.toBlob(0)).arrayBuffer());
    return { seed: el.seed, png: Array.from(bytes, (b) => String.fromCharCode(b)).join("") };
  });
  const said = `latentpad-latent\0seed ${seed} (category people, skin tone dark, truncation 0.7)`;
  assert.ok(png.includes(said), `the PNG lacks ${JSON.stringify(said)}`);
  await page.$eval(PAD, (el) => el.removeAttribute("truncation"));
  await page.waitForFunction(() => window.__samples.at(-1).truncation === undefined);

  // A category without people drops the tone in the picker, and greys the tone picker out.
  await page.selectOption(".category", "flags");
  await page.waitForFunction(() => window.__samples.some((d) => d.category === "flags"));
  assert.equal(await page.getAttribute(PAD, "skin-tone"), null);
  assert.equal(await page.$eval(PAD, (el) => el.shadowRoot.querySelector(".skin-tone").disabled), true);

  // Set by attributes, the same bad combination is an error event that says what is valid.
  await page.$eval(PAD, (el) => {
    window.__errors = [];
    el.addEventListener("error", (e) => window.__errors.push(e.detail));
    el.setAttribute("skin-tone", "dark");
  });
  await page.waitForFunction(() => window.__errors.length > 0);
  const [error] = await page.evaluate(() => window.__errors);
  assert.equal(error.type, "sample");
  assert.match(error.message, /"flags" has no emoji with skin tones; a skin tone needs one of: people/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the VAE walks between two uploads, and the GAN loads and samples too", { timeout: 240_000 }, async () => {
  const { context, page, errors, requests } = await openPage();
  await page.goto(`${origin}/index.html`);
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  const vae = await canvasStats(page, ".tile canvas");
  // The VAE's encoder puts uploads into latent space: walk between two of them.
  await page.setInputFiles(".files", fixtures.good.slice(0, 2));
  await page.waitForSelector("latent-pad[data-uploads='2']", { timeout: 60_000 });
  const stepsField = (page) => page.$eval(PAD, (el) => el.shadowRoot.querySelector(".ft-steps").value);
  assert.equal(await stepsField(page), "60", "the default steps for a few uploads");
  // Find my images: the VAE's encoder finds them at once, each beside its reconstruction.
  assert.equal(await page.$eval(PAD, (el) => el.shadowRoot.querySelector(".find-mine").hidden), false);
  await page.click(".find-mine");
  await page.waitForSelector("latent-pad[data-found='2']", { timeout: 60_000 });
  assert.equal(requests.filter((r) => r.url.endsWith("/emoji-vae/encoder.lpw")).length, 1, "the encoder, fetched once it is needed");
  assert.match(await shadowText(page, ".find-status"), /mean squared pixel error 0\.\d{3}/);
  assert.ok((await canvasStats(page, ".found canvas")).variance > 0, "reconstructions drawn");
  await page.click(".interp-uploads");
  await page.waitForSelector("latent-pad[data-interpolated='encoded']", { timeout: 60_000 });
  assert.ok((await canvasStats(page, ".strip")).variance > 100, "the strip between uploads should be drawn");
  await page.screenshot({ path: path.join(shots, "3-vae.png"), fullPage: true });
  // The unconditional GAN: other images, no pickers.
  await page.$eval(PAD, (el) => delete el.dataset.sampled);
  await page.check("input[value=emoji-gan]");
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  assert.notDeepEqual(await canvasStats(page, ".tile canvas"), vae);
  assert.equal(await page.$eval(PAD, (el) => el.shadowRoot.querySelector(".steering").hidden), true);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a weights URL that returns a web page gives a clear message and the page keeps working", { timeout: 120_000 }, async () => {
  const { context, page, errors } = await openPage();
  await page.route("**/decoder.lpw", (r) => r.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><p>not here" }));
  await page.goto(`${origin}/index.html`);
  await page.waitForSelector(".status-bar.error", { timeout: 60_000 });
  assert.match(await shadowText(page, ".status"), /Could not load emoji-vae: .*web page, not a weights file/);
  await page.screenshot({ path: path.join(shots, "4-bad-weights.png"), fullPage: true });
  // Damaged bytes with the right content type are refused by the weights reader.
  await page.unroute("**/decoder.lpw");
  await page.route("**/emoji-gan/*.lpw", (r) => r.fulfill({ status: 200, contentType: "application/octet-stream", body: Buffer.from("LPADW\x01\r\n\x05\x00\x00\x00{bad}") }));
  await page.check("input[value=emoji-gan]");
  await waitForShadowText(page, ".status", /weights file 1: not a latentpad weights file \(the header is damaged/);
  await page.screenshot({ path: path.join(shots, "4b-damaged-weights.png"), fullPage: true });
  // The VAE still loads afterwards.
  await page.check("input[value=emoji-vae]");
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  assert.deepEqual(errors, []);
  await context.close();
});

test("uploads are decoded in the worker, bad files are named, and the GAN's fine-tuning runs and can be saved", { timeout: 400_000 }, async () => {
  const { context, page, requests, errors } = await openPage();
  await page.goto(`${origin}/index.html?model=emoji-gan`);
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  await page.setInputFiles(".files", [...fixtures.good, ...fixtures.bad]);
  await page.waitForSelector("latent-pad[data-uploads='6']", { timeout: 60_000 });
  const message = await shadowText(page, ".upload-status");
  assert.match(message, /notes\.png: not a readable image/);
  assert.match(message, /huge\.png: image is 20000x20000/);
  assert.match(message, /empty\.png: .*empty/);
  await page.screenshot({ path: path.join(shots, "5-uploads.png"), fullPage: true });

  // Find my images (GAN inversion; 5 steps here, 150 from the button): each upload beside the
  // model's nearest image, with its error.
  assert.equal(await page.$eval(PAD, (el) => el.shadowRoot.querySelector(".find-mine").hidden), false);
  const found = await page.$eval(PAD, (el) => el.findUploads({ steps: 5 }).then((r) => ({ latents: r.latents.length, errors: r.errors, d: el.generator.latentDim })));
  assert.equal(found.latents, 6 * found.d);
  assert.ok(found.errors.length === 6 && found.errors.every((e) => e >= 0 && e < 1), JSON.stringify(found.errors));
  assert.match(await shadowText(page, ".find-status"), /mean squared pixel error 0\.\d{3}/);
  assert.ok((await canvasStats(page, ".found canvas")).variance > 0, "reconstructions drawn");

  const before = await canvasStats(page, ".tile canvas");
  const uploadsStart = requests.length;
  await watchLongTasks(page);
  // The quick mode first (3 inversion steps here, 50 by default), then 4 fine-tuning steps.
  await page.$eval(PAD, (el) => {
    el.setAttribute("invert-steps", "3");
    window.__phases = [];
    el.addEventListener("progress", (e) => window.__phases.push(`${e.detail.phase}:${e.detail.step}`));
  });
  await page.fill(".ft-steps", "4");
  await page.click(".ft-start");
  await page.waitForSelector("latent-pad[data-finetuned='4']", { timeout: 300_000 });
  // Registered in the worker: the page holds no copy of the weights until asked.
  const source = await page.$eval(PAD, (el) => ({ inWorker: el.generator.source.inWorker, bytes: el.generator.source.bytes ?? null, name: el.generator.name }));
  assert.deepEqual(source, { inWorker: true, bytes: null, name: "emoji-gan-finetuned" });
  const phases = await page.evaluate(() => window.__phases);
  assert.deepEqual(phases, ["invert:1", "invert:2", "invert:3", "finetune:1", "finetune:2", "finetune:3", "finetune:4"]);
  assertNoFreeze(await longTasks(page), "while fine-tuning");
  assert.match(await shadowText(page, ".ft-status"), /Done after 4 steps/);
  const plot = await canvasStats(page, ".loss-plot");
  assert.ok(plot.variance > 0, "the loss curve should be drawn");
  const preview = await canvasStats(page, ".previews canvas");
  assert.ok(preview.variance > 0, "previews should be drawn");
  const after = await canvasStats(page, ".tile canvas");
  assert.notDeepEqual(after, before, "samples should now come from the fine-tuned model");
  await page.screenshot({ path: path.join(shots, "6-finetuned.png"), fullPage: true });

  const [tile] = await Promise.all([
    page.waitForEvent("download"),
    page.hover(".tile").then(() => page.click(".tile .download")),
  ]);
  const tilePng = readFileSync(await tile.path()).toString("latin1");
  assert.ok(tilePng.includes("latentpad-fine-tuned\0yes"), "a fine-tuned model's PNG says so");
  assert.ok(tilePng.includes("latentpad-model\0emoji-gan-finetuned"));

  const [download] = await Promise.all([page.waitForEvent("download"), page.click(".ft-save")]);
  const saved = readFileSync(await download.path());
  assert.equal(saved.subarray(0, 5).toString(), "LPADW");
  assert.match(saved.toString("latin1"), /"fine_tuned":true/);

  // The saved file loads back as a model.
  await page.setInputFiles(".model-file", { name: "mine.lpw", mimeType: "application/octet-stream", buffer: saved });
  await waitForShadowText(page, ".status", /Loaded mine\.lpw \(GAN, fine-tuned\)/);

  // Kept in IndexedDB, listed, and loaded back from there.
  await page.click(".ft-store");
  await waitForShadowText(page, ".ft-status", /Kept in this browser as/);
  const kept = await page.$eval(PAD, (el) => el.shadowRoot.querySelector(".saved option:nth-child(2)").value);
  assert.match(kept, /^emoji-gan-finetuned /);
  await page.selectOption(".saved", kept);
  await waitForShadowText(page, ".status", /Loaded emoji-gan-finetuned .*\(GAN, fine-tuned\)/);

  // Privacy: fine-tuning fetched weights only; no request carried a body or left the origin.
  for (const r of requests.slice(uploadsStart)) {
    assert.ok(r.url.startsWith(origin) || r.url.startsWith("blob:"), r.url);
    assert.equal(r.body, null, `${r.method} ${r.url} carried data`);
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test("the default VAE fine-tunes in its quick mode in the worker; the saved model samples near the uploads and loads back", { timeout: 300_000 }, async () => {
  const { context, page, errors } = await openPage();
  await page.goto(`${origin}/index.html`);
  await page.waitForSelector("latent-pad[data-sampled='0']", { timeout: 120_000 });
  await page.setInputFiles(".files", fixtures.good);
  await page.waitForSelector(`latent-pad[data-uploads='${fixtures.good.length}']`, { timeout: 60_000 });
  const before = await canvasStats(page, ".tile canvas");
  await page.$eval(PAD, (el) => {
    window.__phases = [];
    el.addEventListener("progress", (e) => window.__phases.push(`${e.detail.phase}:${e.detail.step}`));
  });
  await page.fill(".ft-steps", "3");
  await page.click(".ft-start");
  await page.waitForSelector("latent-pad[data-finetuned='3']", { timeout: 240_000 });
  // The encoder finds the uploads at once: no inversion phase, straight to the steps.
  assert.deepEqual(await page.evaluate(() => window.__phases), ["finetune:1", "finetune:2", "finetune:3"]);
  const source = await page.$eval(PAD, (el) => ({ inWorker: el.generator.source.inWorker, name: el.generator.name }));
  assert.deepEqual(source, { inWorker: true, name: "emoji-vae-finetuned" });
  assert.ok((await canvasStats(page, ".previews canvas")).variance > 0, "previews should be drawn");
  assert.notDeepEqual(await canvasStats(page, ".tile canvas"), before, "samples should now come from the fine-tuned model");
  await page.screenshot({ path: path.join(shots, "6b-vae-finetuned.png"), fullPage: true });

  const [download] = await Promise.all([page.waitForEvent("download"), page.click(".ft-save")]);
  const saved = readFileSync(await download.path());
  assert.equal(saved.subarray(0, 5).toString(), "LPADW");
  const header = JSON.parse(saved.subarray(12, 12 + saved.readUInt32LE(8)).toString());
  // Its sampling prior is the quick mode's: one centre per upload, not the shipped model's 512.
  // The centres travel after the header, in binary; the header names them.
  const prior = header.config.prior;
  assert.ok(prior?.latent_dim, `no prior in ${JSON.stringify(header.config).slice(0, 200)}`);
  const centres = header.arrays?.find((a) => a.path.join(".") === "prior.centres");
  assert.ok(centres, `no centres in ${JSON.stringify(header.arrays)}`);
  assert.equal(centres.len / prior.latent_dim, fixtures.good.length);
  await page.setInputFiles(".model-file", { name: "mine.lpw", mimeType: "application/octet-stream", buffer: saved });
  await waitForShadowText(page, ".status", /Loaded mine\.lpw \(VAE, fine-tuned\)/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("buttons wait for the model, and 1,001 uploads at once keep 1,000 with a message", { timeout: 240_000 }, async () => {
  const { context, page, errors } = await openPage();
  // Hold the weights back: until they arrive, nothing can be pressed and calls wait.
  let release;
  const held = new Promise((r) => (release = r));
  await page.route("**/emoji-vae/decoder.lpw", async (r) => {
    await held;
    await r.continue();
  });
  await page.goto(`${origin}/index.html`);
  await page.waitForFunction(() => /Loading emoji-vae/.test(document.querySelector("latent-pad")?.shadowRoot?.querySelector(".status")?.textContent ?? ""));
  const disabled = await page.$eval(PAD, (el) => ["new-samples", "ft-start"].map((c) => el.shadowRoot.querySelector(`.${c}`).disabled));
  assert.deepEqual(disabled, [true, true]);
  const early = page.$eval(PAD, (el) => el.sample().then((r) => r.count));
  release();
  assert.equal(await early, 16, "a sample() called before the model loaded runs once it has");

  const png = readFileSync(path.join(path.dirname(fixtures.good[0]), "rgba.png"));
  const many = Array.from({ length: 1001 }, (_, i) => ({ name: `e${i}.png`, mimeType: "image/png", buffer: png }));
  await page.setInputFiles(".files", many);
  await page.waitForSelector("latent-pad[data-uploads='1000']", { timeout: 120_000 });
  assert.match(await shadowText(page, ".upload-status"), /1000 image\(s\) ready\. Skipped: only 1000 images fit; 1 left out/);
  // From 20 uploads the default is twice the steps; a number the person typed stays.
  const steps = () => page.$eval(PAD, (el) => el.shadowRoot.querySelector(".ft-steps").value);
  assert.equal(await steps(), "120");
  await page.fill(".ft-steps", "7");
  await page.click(".thumb button");
  await page.waitForSelector("latent-pad[data-uploads='999']");
  assert.equal(await steps(), "7");
  await page.screenshot({ path: path.join(shots, "5b-1000-uploads.png") });
  assert.deepEqual(errors, []);
  await context.close();
});
