// The host page's script: it drives widget 2 through the element's methods, uses the module
// API directly, and logs every widget event (the end-to-end test reads window.latentpadEvents).
import "../www/latent-pad.js";
import { Generator } from "../www/api.js";

const events = (window.latentpadEvents = []);
const log = document.getElementById("log");
for (const pad of document.querySelectorAll("latent-pad")) {
  for (const type of ["load", "progress", "sample", "error"]) {
    pad.addEventListener(type, (e) => {
      if (type === "progress" && e.detail.phase === "load" && e.detail.loaded < e.detail.total) return;
      events.push({ target: pad.id, type, detail: e.detail });
      const li = document.createElement("li");
      li.textContent = `${pad.id}: ${type} ${JSON.stringify(e.detail)}`;
      log.append(li);
    });
  }
}
window.addEventListener("securitypolicyviolation", (e) => events.push({ target: "page", type: "csp", detail: { directive: e.violatedDirective, blocked: e.blockedURI } }));

const scripted = document.getElementById("scripted");
document.getElementById("seed-42").addEventListener("click", () => {
  scripted.seed = 42; // an attribute change resamples
});
document.getElementById("walk").addEventListener("click", async () => {
  // The module API, no widget: two seeds' latents walked in the shared worker.
  const model = await Generator.load("emoji-vae");
  const frames = await model.interpolate(1, 2, 8);
  events.push({ target: "api", type: "interpolated", detail: { bytes: frames.length } });
});
document.getElementById("png").addEventListener("click", async () => {
  const blob = await scripted.toBlob(0);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "embedded.png";
  a.click();
});
