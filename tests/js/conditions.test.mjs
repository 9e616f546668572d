// The shared condition vectors, run against the browser evaluator (Python runs the same file).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { evaluate } from "./runtime.mjs";
const vectors = JSON.parse(readFileSync(new URL("../vectors/conditions.json", import.meta.url), "utf8"));

test("vectors file is not empty", () => assert.ok(vectors.length > 50));
for (const v of vectors) {
  test(`condition: ${v.name}`, () => assert.equal(evaluate(v.cond, v.answers), v.expected));
}
test("evaluate never throws on odd input", () => {
  for (const c of [null, 1, "x", [], { any: null }, { not: 3 }, { a: { gt: {} } }])
    assert.equal(evaluate(c, {}), false);
  assert.equal(evaluate({ a: 1 }, null), false);
});
