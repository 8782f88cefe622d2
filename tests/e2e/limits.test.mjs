// The browser side's limits and defaults (www/limits.js), without a browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MANY_UPLOADS, STEPS, defaultSteps } from "../../www/limits.js";

test("the default fine-tuning steps double from MANY_UPLOADS uploads on", () => {
  assert.equal(MANY_UPLOADS, 20);
  assert.equal(defaultSteps(0), STEPS.fallback);
  assert.equal(defaultSteps(19), 60);
  assert.equal(defaultSteps(20), 120);
  assert.equal(defaultSteps(1000), 120);
  for (const n of [0, 1, 19, 20, 30, 1000]) {
    const steps = defaultSteps(n);
    assert.ok(Number.isInteger(steps) && steps >= STEPS.min && steps <= STEPS.max, `${n}: ${steps}`);
  }
});
