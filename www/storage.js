// What latentpad keeps in this browser, and nothing else: the backend "auto" measured faster
// (localStorage) and the fine-tuned models a person saved (IndexedDB). Neither leaves the
// device. Every function copes with storage that is blocked (privacy settings, a sandboxed
// frame): the backend is then measured again, and saving says why it failed.

/** Where "auto" keeps the backend it measured faster in this browser (`forgetBackend` clears it). */
const BACKEND_KEY = "latentpad-backend";

/** The backend "auto" chose earlier in this browser (`{ backend, why, measured }`), or null. */
export function rememberedBackend() {
  try {
    const saved = JSON.parse(globalThis.localStorage?.getItem(BACKEND_KEY) ?? "null");
    return saved && (saved.backend === "cpu" || saved.backend === "webgpu") ? saved : null;
  } catch {
    return null; // storage blocked (privacy settings, sandboxed frame) or damaged: measure again
  }
}

/** Keeps the backend "auto" chose, for the next visit. */
export function rememberBackend(choice) {
  try {
    globalThis.localStorage?.setItem(BACKEND_KEY, JSON.stringify(choice));
  } catch {
    // Not remembered: the next visit measures again.
  }
}

/** Forgets the measured choice, so the next "auto" load measures again (a new GPU, a new driver). */
export function forgetBackend() {
  try {
    globalThis.localStorage?.removeItem(BACKEND_KEY);
  } catch {
    // Nothing stored.
  }
}

/** The IndexedDB database of saved models. */
function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("latentpad", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("models", { keyPath: "name" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new Error(`the browser's storage is unavailable: ${request.error?.message}`));
  });
}

async function store(mode, work) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction("models", mode);
      const request = work(tx.objectStore("models"));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = tx.onabort = () => reject(new Error(`saving in the browser failed: ${tx.error?.message ?? "aborted"}`));
    });
  } finally {
    db.close();
  }
}

/** Keeps `.lpw` bytes in this browser's IndexedDB under `name`. */
export function saveModel(name, bytes) {
  return store("readwrite", (s) => s.put({ name, bytes: new Uint8Array(bytes), saved: Date.now() }));
}

/** Names and dates of the models saved in this browser, newest first. */
export async function savedModels() {
  const all = await store("readonly", (s) => s.getAll());
  return all.map(({ name, saved, bytes }) => ({ name, saved, size: bytes.byteLength })).sort((a, b) => b.saved - a.saved);
}

/** The bytes of a saved model. */
export async function loadSavedModel(name) {
  const entry = await store("readonly", (s) => s.get(name));
  if (!entry) throw new Error(`no saved model named ${name}`);
  return entry.bytes;
}

/** Deletes a saved model. */
export function deleteSavedModel(name) {
  return store("readwrite", (s) => s.delete(name));
}
