// The runtime side of tests/vectors/validation.json; tests/test_answers.py runs the same
// vectors against the server's re-validation (flipgen/answers.py), so the two cannot drift.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { validate, route, effective } from "./runtime.mjs";
const V = JSON.parse(readFileSync(new URL("../vectors/validation.json", import.meta.url), "utf8"));

test("field vectors: the first rule broken and its message", () => {
  for (const c of V.fields) {
    const r = validate(c.field, c.value, V.text);
    assert.equal(r ? r.rule : null, c.rule, c.name);
    if (c.message !== undefined) assert.equal(r ? r.message : null, c.message, c.name);
  }
});

// What the runtime does between Next clicks (go/hist): route from the first screen with the
// answers that count on the path so far, until an end screen or no next screen.
function walk(J, raw, params) {
  const by = Object.fromEntries(J.screens.map((s) => [s.id, s])),
    path = [J.screens[0].id];
  while (by[path.at(-1)].type !== "end") {
    const next = route(by[path.at(-1)], effective(J, raw, params, path));
    if (!next || !by[next] || path.includes(next)) return { path, end: null };
    path.push(next);
  }
  return { path, end: path.at(-1) };
}

test("path vectors: the screens passed, the fields shown, the rules broken", () => {
  for (const c of V.paths) {
    const J = V.journeys[c.journey],
      raw = { ...c.answers },
      fields = {};
    for (const s of J.screens)
      for (const f of s.fields || []) {
        fields[f.id] = f;
        // The runtime fills hidden fields from the params; what was sent is compared afterwards.
        if (f.type === "hidden") raw[f.id] = String(f.value).replace(/\$\{(\w+)\}/g, (_, k) => c.params[k] || "");
      }
    const { path, end } = walk(J, raw, c.params);
    assert.deepEqual(path, c.path, c.name);
    assert.equal(end, c.end, c.name);
    const shown = effective(J, raw, c.params, path),
      problems = {};
    for (const k of Object.keys(c.answers)) {
      if (!fields[k]) problems[k] = "unknown";
      else if (!(k in shown)) problems[k] = "not_shown";
      else if (fields[k].type === "hidden" && c.answers[k] !== shown[k]) problems[k] = "fixed";
    }
    for (const k of Object.keys(shown)) {
      const r = fields[k] && !problems[k] ? validate(fields[k], shown[k], V.text) : null;
      if (r) problems[k] = r.rule;
    }
    assert.deepEqual(problems, c.problems, c.name);
    if (c.answers_kept) {
      const kept = Object.fromEntries(Object.entries(shown).filter(([k]) => fields[k]));
      assert.deepEqual(kept, c.answers_kept, c.name);
    }
  }
});
