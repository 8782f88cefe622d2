// Types of latentpad's script API (api.js).

/** Width and height of every image: 64. */
export const SIZE: 64;
export const SHIPPED_MODELS: readonly ["emoji-vae", "emoji-gan", "emoji-cgan"];
/** The model loaded when none is named. */
export const DEFAULT_MODEL: "emoji-vae";
export const BACKENDS: readonly ["auto", "webgpu", "cpu"];
export const MAX_UPLOADS: number;
export const MAX_FILE_BYTES: number;

export type Backend = "auto" | "webgpu" | "cpu";
/** RGBA pixels, 64 * 64 * 4 bytes per image, images one after another. */
export type Rgba = Uint8ClampedArray;

/** Category and skin-tone names of a conditional GAN. */
export interface Conditions {
  readonly categories: string[];
  readonly tones: string[];
  /** The categories that have skin tones. */
  readonly toned: string[];
}

/** What to steer a conditional GAN to; a missing field is drawn from the data's frequencies. */
export interface Steering {
  category?: string;
  skinTone?: string;
  /**
   * Any model: above 0 and at most 1 (default 1). The latent's Gaussian part is scaled by it,
   * so lower values give more typical, cleaner and less varied images.
   */
  truncation?: number;
}

/** An end of an interpolation. */
export type End = number | ArrayLike<number> | ({ seed: number } & Steering);

export type ErrorType = "load-failure" | "no-webgpu" | "decode" | "device-lost" | "attribute" | "sample" | "interpolate" | "finetune" | "save";

export class LatentpadError extends Error {
  readonly type: ErrorType;
}

export interface FineTuneStep {
  step: number;
  steps: number;
  /** GAN: [discriminator, generator]; VAE: [reconstruction, KL]. */
  losses: [number, number];
  labels: [string, string];
}

export interface FineTuneOptions {
  /** 1 to 5000; default 60, or 120 from 20 images on (`defaultSteps` in `limits.js`). */
  steps?: number;
  /** Images per step; default 16. */
  batchSize?: number;
  /** Discriminator blocks kept frozen (FreezeD); default 2. */
  freeze?: number;
  /** The quick mode's inversion steps before a GAN's fine-tuning (0 to 1000; default 50; 0 turns a VAE's quick mode off). */
  invertSteps?: number;
  /** @deprecated The old name of `invertSteps`. */
  priorSteps?: number;
  backend?: Backend;
  previewEvery?: number;
  onStep?(step: FineTuneStep): void;
  onPreview?(rgba: Rgba): void;
  onInvert?(progress: { step: number; steps: number; error: number }): void;
}

export interface FineTuneRun {
  /** Resolves to the fine-tuned model. */
  done: Promise<Generator & { stepsTrained: number; cancelled: boolean }>;
  /** Stops after the step under way; `done` still resolves with the model so far. */
  cancel(): void;
  labels: [string, string];
}

export class Generator {
  /**
   * A shipped model by name ("emoji-vae", the default; "emoji-gan", "emoji-cgan") or the URL
   * of a model folder.
   * `backend: "auto"` with a GPU times 8 images on WebGPU and on the CPU build on first use, runs
   * the faster and remembers it in this browser (localStorage); `probe: true` measures again
   * (even on a software adapter, which "auto" otherwise passes over).
   */
  static load(model?: string, options?: { backend?: Backend; probe?: boolean; onProgress?(p: { loaded: number; total: number }): void }): Promise<Generator>;
  /** A model from the bytes of an exported `.lpw` file. */
  static fromBytes(bytes: ArrayBuffer | Uint8Array, options?: { name?: string; backend?: Backend }): Promise<Generator>;

  readonly kind: "gan" | "vae";
  /** The backend that runs it: never "auto". */
  readonly backend: "webgpu" | "cpu";
  readonly name: string;
  readonly fineTuned: boolean;
  readonly latentDim: number;
  /**
   * The speed probe's figures when "auto" measured on this load: ms for 8 images and for one
   * fine-tuning step at batch 8 on each backend (the step decides).
   */
  readonly measured: { cpu: number; webgpu: number | null; cpuStep: number; webgpuStep: number | null } | null;
  /** What a conditional GAN can be steered to; null for other models. */
  readonly conditions: Conditions | null;
  readonly canEncode: boolean;
  /** Why the backend differs from the one asked for, if it does. */
  readonly notice: string | null;
  /** Why the CPU runs, when it does ("auto" passes over software WebGPU, for one). */
  readonly why: string | null;
  /**
   * On the CPU: how many threads run its kernels and why (threads need a cross-origin isolated
   * page); null on WebGPU.
   */
  readonly threads: { threads: number; why: string | null } | null;

  /** `n` images (1 to 256) for seeds `seed .. seed + n - 1`. Same seed, same image. */
  sample(n: number, seed?: number, steering?: Steering): Promise<Rgba>;
  /** Frames from `from` to `to`, each a seed, a latent vector (length `latentDim`) or a steered seed. */
  interpolate(from: End, to: End, frames?: number, how?: "slerp" | "lerp"): Promise<Rgba>;
  /** VAE only: latent vectors (posterior means) of 64x64 RGBA images. */
  encode(rgba: Uint8Array | Uint8ClampedArray): Promise<Float32Array>;
  /**
   * "Find my image": the latents whose images come closest to 64x64 RGBA images, each one's
   * mean squared pixel error (pixels in 0-1), and those images. A GAN searches in `steps`
   * inversion steps; a VAE's encoder finds them at once and its latents are refined for
   * `steps` (at most 50; 0: as the encoder gives them).
   */
  invert(rgba: Uint8Array | Uint8ClampedArray, options?: { steps?: number }): Promise<{ latents: Float32Array; errors: Float32Array; images: Rgba }>;
  /** Images (RGBA) of latent vectors (`n * latentDim`). */
  decode(latents: ArrayLike<number>): Promise<Rgba>;
  /** A PNG with provenance text chunks (software, model, latent, "AI-generated"). */
  toPng(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number, latent: string): Promise<Blob>;
  /** `.lpw` bytes of a model made or loaded in this page; null for a shipped model. */
  weights(): Promise<Uint8Array | null>;
  fineTune(images: Array<Uint8Array | Uint8ClampedArray>, options?: FineTuneOptions): FineTuneRun;
  free(): void;
}

/** Forgets the backend "auto" measured faster in this browser; the next load measures again. */
export function forgetBackend(): void;

/**
 * Threads of the CPU build, before the page's first model load: default the device's cores
 * (at most 8) where the page is cross-origin isolated, else 1; 0 asks for the single-threaded
 * build. Rejects once the CPU build runs.
 */
export function setCpuThreads(threads: number): Promise<void>;

/** Decodes PNG, JPEG, WebP or GIF files to 64x64 RGBA in the worker. */
export function decodeImages(
  files: Iterable<File | Blob & { name: string }>,
  options?: { onProgress?(done: number, total: number): void; room?: number },
): Promise<{ images: Array<{ name: string; rgba: Rgba }>; errors: string[] }>;

/** Called when the GPU device is lost; returns an unsubscribe function. */
export function onDeviceLost(listener: (message: string) => void): () => void;

/** Models kept in this browser (IndexedDB). */
export function saveModel(name: string, bytes: Uint8Array): Promise<void>;
export function savedModels(): Promise<Array<{ name: string; saved: number; size: number }>>;
export function loadSavedModel(name: string): Promise<Uint8Array>;
export function deleteSavedModel(name: string): Promise<void>;
