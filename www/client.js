// Promise-based calls into the worker (one shared worker per page).
let worker = null;
let next = 1;
const pending = new Map();

function ensureWorker() {
  if (worker) return worker;
  worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.onmessage = ({ data }) => {
    const call = pending.get(data.id);
    if (!call) return;
    if (data.progress) {
      call.onProgress?.(data.progress);
      return;
    }
    pending.delete(data.id);
    data.ok ? call.resolve(data.result) : call.reject(new Error(data.error));
  };
  worker.onerror = (e) => {
    for (const call of pending.values()) call.reject(new Error(`the worker failed: ${e.message}`));
    pending.clear();
  };
  return worker;
}

/** Sends one request to the worker; `onProgress` receives { loaded, total } while loading. */
export function call(type, args = {}, { onProgress, transfer = [] } = {}) {
  const id = next++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    ensureWorker().postMessage({ id, type, ...args }, transfer);
  });
}
