// Promise-based calls into the one worker a page shares, and its broadcast events.
let worker = null;
let next = 1;
const pending = new Map();
const listeners = new Set();

function failAll(message) {
  for (const call of pending.values()) call.reject(new Error(message));
  pending.clear();
}

function ensureWorker() {
  if (worker) return worker;
  worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.onmessage = ({ data }) => {
    if (data.event) {
      for (const listener of listeners) listener(data);
      return;
    }
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
    e.preventDefault();
    failAll(`the worker failed: ${e.message || "it could not start"}`);
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

/** Calls `listener({ event, ... })` for every worker event ("device-lost"); returns an unsubscribe. */
export function onWorkerEvent(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
