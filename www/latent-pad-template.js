// The markup of <latent-pad>'s shadow root: its stylesheet, the status bar and the three panels
// (samples, interpolation, fine-tuning). Elements carry classes the element looks up.
import { SIZE } from "./api.js";
import { FRAMES, STEPS } from "./limits.js";

const STYLE = new URL("./latent-pad.css", import.meta.url).href;

export const TEMPLATE = `
<link rel="stylesheet" href="${STYLE}">
<div class="lp" part="container">
  <div class="status-bar" aria-live="polite">
    <span class="status">Waiting to be scrolled into view…</span>
    <progress class="progress" max="1" hidden></progress>
    <span class="badge backend" hidden></span>
  </div>
  <section class="panel samples">
    <div class="toolbar controls-only">
      <div class="model-picker" role="radiogroup" aria-label="Model">
        <label title="Variational autoencoder with a grid latent and a prior fitted to its training images: pick a category and a skin tone"><input type="radio" name="model" value="emoji-vae"> VAE</label>
        <label><input type="radio" name="model" value="emoji-gan"> GAN</label>
        <label title="Conditional GAN: pick a category and a skin tone"><input type="radio" name="model" value="emoji-cgan"> Steerable GAN</label>
      </div>
      <label>Seed <input class="seed" type="number" min="0" step="1" value="0"></label>
      <span class="steering" hidden>
        <select class="category" aria-label="Category"></select>
        <select class="skin-tone" aria-label="Skin tone"></select>
      </span>
      <button class="new-samples" disabled>New samples</button>
    </div>
    <p class="hint controls-only pick-hint">Click two images to walk between them.</p>
    <div class="grid"></div>
  </section>
  <section class="panel interpolate">
    <h2>Interpolation</h2>
    <p class="pair hint">Pick two images above.</p>
    <div class="interp">
      <canvas class="interp-view big" width="64" height="64"></canvas>
      <div class="interp-controls controls-only">
        <input class="interp-slider" type="range" min="0" max="${FRAMES - 1}" value="0" disabled aria-label="Position">
        <label><input class="interp-play" type="checkbox" checked> Animate</label>
        <button class="interp-download" disabled>Download strip</button>
        <button class="interp-uploads secondary" hidden>Walk between my first two images</button>
      </div>
    </div>
    <canvas class="strip" width="${FRAMES * SIZE}" height="64"></canvas>
  </section>
  <section class="panel finetune">
    <h2>Teach it your images</h2>
    <p class="hint">Add 10 to 100 pictures; they are decoded and trained on here, on your device, and never uploaded.</p>
    <label class="dropzone">
      <input class="files" type="file" accept="image/png,image/jpeg,image/webp,image/gif" multiple>
      <span>Drop images here or <u>choose files</u></span>
    </label>
    <p class="upload-status hint" aria-live="polite"></p>
    <div class="thumbs"></div>
    <div class="find controls-only">
      <button class="find-mine secondary" hidden>Find my images in the model</button>
      <span class="find-status hint" aria-live="polite"></span>
      <div class="found"></div>
    </div>
    <div class="toolbar">
      <label>Steps <input class="ft-steps" type="number" min="${STEPS.min}" max="${STEPS.max}" value="${STEPS.fallback}"></label>
      <button class="ft-start" disabled>Fine-tune</button>
      <button class="ft-cancel secondary" disabled>Cancel</button>
      <button class="ft-reset secondary" disabled>Reset to pretrained</button>
      <progress class="ft-progress" max="1" value="0"></progress>
      <span class="ft-status hint" aria-live="polite"></span>
    </div>
    <div class="ft-results">
      <canvas class="loss-plot" width="360" height="160" aria-label="Loss curve"></canvas>
      <div class="previews"></div>
    </div>
    <div class="toolbar">
      <button class="ft-save secondary" disabled>Save model file</button>
      <button class="ft-store secondary" disabled>Keep in this browser</button>
      <label class="file-button">Load model file <input class="model-file" type="file" accept=".lpw"></label>
      <select class="saved" aria-label="Models kept in this browser"><option value="">Kept in this browser…</option></select>
    </div>
  </section>
</div>`;
