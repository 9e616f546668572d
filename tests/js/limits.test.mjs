// The shared limit vectors (tests/test_limits.py runs the same file against flipgen/limits.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { interp, LIMITS, validate, valueProblem } from "./runtime.mjs";

const vectors = JSON.parse(readFileSync(new URL("../vectors/limits.json", import.meta.url), "utf8"));

test("the limits come from Python", () => {
  assert.deepEqual(LIMITS.metadata, { max_keys: 5, key_max: 50, value_max: 500 });
});
// The runtime checks values (answers); keys are field and param names, which `flipgen check`
// keeps within Smile's limits at build time, so only Python checks "keys" and "key_length".
const VALUE_PROBLEMS = new Set(["ascii", "type", "value_length"]);
for (const v of vectors.metadata) {
  test(`metadata values: ${v.name}`, () => {
    const found = new Set(Object.values(v.metadata).map(valueProblem).filter(Boolean));
    assert.deepEqual(
      [...found].sort(),
      v.problems.filter((p) => VALUE_PROBLEMS.has(p)),
    );
  });
}
for (const v of vectors.placeholders) {
  test(`placeholder: ${v.text.slice(0, 30)}`, () => {
    const seen = [];
    // interp looks each placeholder name up as an own property of the answers.
    interp(v.text, new Proxy({}, { getOwnPropertyDescriptor: (_, k) => void seen.push(k) }));
    assert.deepEqual(seen, v.names);
  });
}

const T = { ascii: "ASCII", max_length: "MAXLEN {n}", email: "EMAIL" };
test("a metadata field refuses what Smile refuses, with the field's message", () => {
  const email = { id: "email", type: "email", metadata: true, messages: {} };
  assert.deepEqual(validate(email, "josé@example.com", T), { rule: "ascii", message: "ASCII" });
  assert.equal(validate(email, "jose@example.com", T), null);
  assert.equal(validate({ ...email, metadata: false }, "josé@example.com", T), null, "not sent to Smile: fine");
  const note = { id: "note", type: "textarea", metadata: true, messages: {} };
  assert.equal(validate(note, "one\ntwo", T), null, "line breaks travel as spaces");
  assert.deepEqual(validate(note, "x".repeat(501), T), { rule: "max_length", message: "MAXLEN 500" });
  const own = { ...note, messages: { ascii: "Plain letters only" } };
  assert.equal(validate(own, "naïve", T).message, "Plain letters only");
});
