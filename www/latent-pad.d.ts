// Types of the <latent-pad> custom element (latent-pad.js).
import type { End, ErrorType, Generator, Rgba, Steering } from "./api.js";

export interface LatentPadEventMap {
  load: CustomEvent<{ model: string; name: string; kind: "gan" | "vae"; backend: "webgpu" | "cpu"; fineTuned: boolean }>;
  progress: CustomEvent<
    | { phase: "load"; loaded: number; total: number }
    | { phase: "invert"; step: number; total: number; error: number }
    | { phase: "finetune"; step: number; total: number; losses: [number, number] }
  >;
  sample: CustomEvent<{ seed: number; count: number; ms: number; model: string; backend: "webgpu" | "cpu" } & Steering>;
  error: CustomEvent<{ type: ErrorType; message: string }>;
}

export interface FineTuneHandle {
  cancel(): void;
  done: Promise<{ steps: number; cancelled: boolean }>;
}

export class LatentPad extends HTMLElement {
  /** Attribute `model`: a shipped name or a model folder URL. */
  model: string;
  /** Attribute `seed`. */
  seed: number;
  /** Attribute `count` (1 to 64). */
  readonly count: number;
  /** Attribute `backend`: "auto" | "webgpu" | "cpu". */
  readonly backend: "auto" | "webgpu" | "cpu";
  /** Attribute `invert-steps` (0 to 1000, default 50): the quick mode's inversion steps before a GAN's fine-tuning (`prior-steps`, deprecated, is its old name). */
  readonly invertSteps: number;
  /** Attribute `mode`: any of "sample", "interpolate", "finetune". */
  readonly modes: Array<"sample" | "interpolate" | "finetune">;
  readonly generator: Generator | null;
  /** Attributes `category` and `skin-tone` (a conditional GAN's steering) and `truncation`. */
  readonly steering: Steering;

  sample(): Promise<{ seed: number; count: number; images: Rgba }>;
  interpolate(a: End, b: End, frames?: number): Promise<Rgba>;
  fineTune(files: Iterable<File | { name: string; rgba: Rgba }> | null, options?: { steps?: number }): FineTuneHandle;
  /** GAN inversion of the first (up to 8) uploads, drawn beside them with their pixel errors. */
  findUploads(options?: { steps?: number }): Promise<{ latents: Float32Array; errors: number[] }>;
  toBlob(index?: number): Promise<Blob>;
  exportModel(): Promise<Blob>;

  addEventListener<K extends keyof LatentPadEventMap>(type: K, listener: (this: LatentPad, ev: LatentPadEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
}

declare global {
  interface HTMLElementTagNameMap {
    "latent-pad": LatentPad;
  }
}
