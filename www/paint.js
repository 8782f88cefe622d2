// Canvas painters of <latent-pad>: one 64x64 image out of a batch of RGBA images, an
// interpolation strip, the loss curves; and saving bytes as a download.
import { SIZE } from "./api.js";

export function draw(canvas, rgba, index = 0) {
  const pixels = new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + index * SIZE * SIZE * 4, SIZE * SIZE * 4);
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(pixels), SIZE, SIZE), 0, 0);
}

export function saveBytes(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Draws `frames` images of `strip` (RGBA) side by side on `canvas`. */
export function drawStrip(canvas, strip, frames) {
  const ctx = canvas.getContext("2d");
  const tmp = document.createElement("canvas");
  tmp.width = tmp.height = SIZE;
  for (let f = 0; f < frames; f++) {
    draw(tmp, strip, f);
    ctx.drawImage(tmp, f * SIZE, 0);
  }
}

/** Plots two loss curves (`losses`: [[a, b], ...] per step) on `canvas`, with their `labels`. */
export function plotLosses(canvas, losses, labels) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (losses.length < 2) return;
  const all = losses.flat();
  const max = Math.max(...all);
  const min = Math.min(0, ...all);
  const colors = ["#e8590c", "#1c7ed6"];
  for (let k = 0; k < 2; k++) {
    ctx.strokeStyle = colors[k];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    losses.forEach((l, i) => {
      const x = 8 + (i / (losses.length - 1)) * (canvas.width - 16);
      const y = canvas.height - 18 - ((l[k] - min) / (max - min || 1)) * (canvas.height - 30);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = colors[k];
    ctx.font = "12px system-ui";
    ctx.fillText(labels[k], 10 + k * 150, canvas.height - 4);
  }
}
