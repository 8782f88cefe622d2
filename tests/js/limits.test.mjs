// The browser side's limits and defaults (www/limits.js), in Node: no browser, no wasm build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { INVERT_STEPS, MANY_UPLOADS, MAX_FILE_BYTES, NUMBERS, STEPS, defaultSteps, inRange, megabytes, rangeRule } from "../../www/limits.js";

test("the default run doubles its steps from MANY_UPLOADS uploads on, and stays in range", () => {
  assert.equal(defaultSteps(0), STEPS.fallback);
  assert.equal(defaultSteps(MANY_UPLOADS - 1), STEPS.fallback);
  assert.equal(defaultSteps(MANY_UPLOADS), 2 * STEPS.fallback);
  assert.equal(defaultSteps(10 * MANY_UPLOADS), defaultSteps(MANY_UPLOADS));
  for (let n = 0; n <= 3 * MANY_UPLOADS; n++) {
    const steps = defaultSteps(n);
    assert.ok(inRange(steps, STEPS), `${n} uploads: ${steps} steps`);
    if (n > 0) assert.ok(steps >= defaultSteps(n - 1), `more uploads never get fewer steps (${n})`);
  }
});

test("every numeric attribute falls back to a value in its own range, and says the range", () => {
  for (const [name, range] of Object.entries(NUMBERS)) {
    assert.ok(inRange(range.fallback, range), `${name}: ${range.fallback}`);
    assert.ok(range.rule.includes(String(range.min)), `${name}: ${range.rule}`);
  }
  // The deprecated attribute reads as the new one.
  for (const key of ["min", "max", "fallback"]) assert.equal(NUMBERS["prior-steps"][key], NUMBERS["invert-steps"][key]);
  assert.equal(NUMBERS["invert-steps"].fallback, INVERT_STEPS.fallback);
});

test("ranges take whole numbers only, ends included", () => {
  const range = { min: 1, max: 5 };
  assert.deepEqual([0, 1, 5, 6, 2.5, NaN, "3"].map((v) => inRange(v, range)), [false, true, true, false, false, false, false]);
  assert.equal(rangeRule("steps", STEPS), `steps must be a whole number from ${STEPS.min} to ${STEPS.max}`);
  assert.match(rangeRule("the seed", NUMBERS.seed), /from 0 to 2\^53 - 1$/);
});

test("file sizes read as a person says them", () => {
  assert.equal(megabytes(3 * 1024 * 1024), "3 MB");
  assert.equal(megabytes(MAX_FILE_BYTES), `${MAX_FILE_BYTES / 1024 / 1024} MB`);
});
