// Every limit the browser side enforces, in one place (the Rust library's are in src/limits.rs):
// uploads, file sizes, and the ranges of the element's numeric attributes and fields.

/** Images kept for one fine-tuning run. */
export const MAX_UPLOADS = 1000;
/** Bytes per uploaded file (a bigger file is most likely not an emoji-sized picture). */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;
/** Fine-tuning steps per run from the element (`fallback`: the default for a few uploads). */
export const STEPS = { min: 1, max: 5000, fallback: 60 };
/**
 * From this many uploads the default run takes twice the steps: in the few-shot benchmark
 * (docs/finetune-bench.md, "Twice the steps from 20 uploads") 120 steps instead of 60 took 30
 * Fluent faces from recall 0.21 to 0.52 in the identity space and 20 hearts from FD 26.7 to
 * 20.8 with no sample nearer an upload than held-out images, but on 10 hearts brought samples
 * as near the uploads as held-out hearts are.
 */
export const MANY_UPLOADS = 20;

/** The default number of fine-tuning steps for `uploads` images. */
export function defaultSteps(uploads) {
  return uploads >= MANY_UPLOADS ? 2 * STEPS.fallback : STEPS.fallback;
}
/**
 * The quick mode's inversion steps before a GAN's fine-tuning (`fallback`; 0 turns it off):
 * the images are found in the model's latent space first and samples are drawn near them, and
 * the steps then pull the model's drawings of them to the images (pivotal tuning), so 60 steps
 * give hearts where they gave blobs (docs/finetune-bench.md, recipes `prior` and `pivotal`).
 */
export const INVERT_STEPS = { min: 0, max: 1000, fallback: 50 };
/** Images per fine-tuning step, as in the benchmark's recipes. */
export const BATCH_SIZE = 16;
/** Frames of an interpolation strip. */
export const FRAMES = 16;

/** The message for a value outside `range` (`{ min, max }`) given as `name`. */
export function rangeRule(name, { min, max }) {
  return `${name} must be a whole number from ${min} to ${max === Number.MAX_SAFE_INTEGER ? "2^53 - 1" : max}`;
}

/** Whether `value` is a whole number within `range` (`{ min, max }`). */
export function inRange(value, { min, max }) {
  return Number.isInteger(value) && value >= min && value <= max;
}

/** `bytes` as a person reads a file size ("50 MB"). */
export function megabytes(bytes) {
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}

const SEED = { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 };
const COUNT = { min: 1, max: 64, fallback: 16 };

/**
 * The element's numeric attributes: their range, the default a missing or bad value falls back
 * to. `prior-steps` is the old name of `invert-steps`, still read (deprecated).
 */
export const NUMBERS = {
  seed: { ...SEED, rule: rangeRule("the seed", SEED) },
  count: { ...COUNT, rule: rangeRule("count", COUNT) },
  "invert-steps": { ...INVERT_STEPS, rule: rangeRule("invert-steps", INVERT_STEPS) },
  "prior-steps": { ...INVERT_STEPS, rule: rangeRule("prior-steps (now invert-steps)", INVERT_STEPS) },
};
