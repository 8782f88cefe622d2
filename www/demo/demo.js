// The demo page: one <latent-pad> with every control. `?backend=webgpu|cpu|auto` and
// `?model=` in the address pick its backend and model (handy to compare backends).
import "../latent-pad.js";

const query = new URLSearchParams(location.search);
const pad = document.getElementById("pad");
for (const name of ["backend", "model"]) {
  if (query.has(name)) pad.setAttribute(name, query.get(name));
}
