// Browser benchmark through the public API (the worker the widget uses): model load, sampling
// images/s at batch 64, "Find my images" on 8 images (a VAE: its encoder alone, and with the
// 50 steps that refine its latents; a GAN: 150 inversion steps), fine-tuning step time at
// batch 16, and (?full=1) a whole fine-tuning
// run at the page's defaults on 30 images: the quick mode (a GAN's inversion), then the steps.
// ?model= (default: the page's model); ?backend=auto|webgpu|cpu; ?threads=N sets the CPU
// build's threads (0: the single-threaded build; default: the page's choice, the cores where
// the page is cross-origin isolated).
// The result is shown and left in window.__bench.
import { DEFAULT_MODEL, Generator, setCpuThreads } from "../api.js";
import { INVERT_STEPS, defaultSteps } from "../limits.js";

const params = new URLSearchParams(location.search);
const backend = params.get("backend") ?? "auto";
const modelName = params.get("model") ?? DEFAULT_MODEL;

async function run() {
  if (params.has("threads")) await setCpuThreads(Number(params.get("threads")));
  const t0 = performance.now();
  const model = await Generator.load(modelName, { backend });
  const loadMs = performance.now() - t0;
  await model.sample(64, 0); // warm-up
  const reps = 5;
  let t = performance.now();
  let images;
  for (let i = 0; i < reps; i++) images = await model.sample(64, 64 * (i + 1));
  const sampleS = (performance.now() - t) / 1000 / reps;

  // "Find my images" as the element does it: the first 8 uploads, its default steps (a VAE
  // takes at most 50). Samples stand in for the uploads.
  const eight = images.slice(0, 8 * 16384);
  const timeFind = async (steps) => {
    const t1 = performance.now();
    await model.invert(eight, { steps });
    return Math.round(performance.now() - t1);
  };
  const find = model.canEncode
    ? { find_8_images_encoder_ms: await timeFind(0), find_8_images_refined_50_ms: await timeFind(50) }
    : { find_8_images_inversion_150_ms: await timeFind(150) };

  const list = Array.from({ length: 16 }, (_, i) => images.slice(i * 16384, (i + 1) * 16384));
  const stamps = [];
  let started = 0;
  const tuning = model.fineTune(list, {
    steps: 4, batchSize: 16, previewEvery: 1000, invertSteps: 0,
    onPreview: () => (started ||= performance.now()),
    onStep: ({ step }) => (stamps[step] = performance.now()),
  });
  await tuning.done;
  const result = {
    model: modelName,
    backend: model.backend,
    cpu_threads: model.threads?.threads ?? null,
    cross_origin_isolated: self.crossOriginIsolated,
    model_load_ms: Math.round(loadMs),
    sample_images_per_s_batch64: +(64 / sampleS).toFixed(1),
    ...find,
    finetune_first_two_steps_ms_batch16: Math.round(stamps[2] - started),
    finetune_step_ms_batch16: Math.round((stamps[4] - stamps[2]) / 2),
  };
  if (params.get("full")) {
    // 30 "uploads" (samples of seeds 64.., standing in for a person's images), page defaults.
    const uploads = await model.sample(30, 64);
    const thirty = Array.from({ length: 30 }, (_, i) => uploads.slice(i * 16384, (i + 1) * 16384));
    let inverted = 0;
    const t1 = performance.now();
    const run = model.fineTune(thirty, { previewEvery: 10, onInvert: () => (inverted = performance.now()) });
    await run.done;
    Object.assign(result, {
      default_run_30_images_invert_steps: INVERT_STEPS.fallback,
      default_run_30_images_steps: defaultSteps(30),
      default_run_30_images_inversion_s: inverted ? +((inverted - t1) / 1000).toFixed(1) : null,
      default_run_30_images_total_s: +((performance.now() - t1) / 1000).toFixed(1),
    });
  }
  return result;
}

run().then(
  (r) => {
    window.__bench = r;
    document.getElementById("out").textContent = JSON.stringify(r, null, 2);
  },
  (e) => {
    window.__bench = { error: e.message };
    document.getElementById("out").textContent = `failed: ${e.message}`;
  },
);
