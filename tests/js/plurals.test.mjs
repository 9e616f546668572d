// Plural selection in the browser runtime agrees with the shared vectors (tests/vectors/plurals.json),
// which tests/test_i18n.py checks against Babel: the build and the page pick the same sentence.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { plural } = require("../../flipgen/static/flip.js");
const vectors = JSON.parse(readFileSync(new URL("../vectors/plurals.json", import.meta.url), "utf8"));
const CATS = ["zero", "one", "two", "few", "many", "other"];
const every = Object.fromEntries(CATS.map(c => [c, c]));

test("every built-in language has vectors", () => {
  assert.deepEqual(Object.keys(vectors.cases).sort(),
    ["ar", "en", "es-419", "fil", "hi", "id", "ms", "ta", "th", "vi", "zh-Hans"]);
});

for (const [lang, cases] of Object.entries(vectors.cases)) {
  test(`plural categories of ${lang}`, () => {
    for (const [n, want] of cases) {
      assert.equal(new Intl.PluralRules(`${lang}-u-ca-gregory-nu-latn`).select(n), want, `Intl ${lang} ${n}`);
      assert.equal(plural(every, n, lang), want, `runtime ${lang} ${n}`);
    }
  });
}

test("a missing category falls back to other; plain text is returned as it is", () => {
  assert.equal(plural({ one: "1", other: "n" }, 2, "ar"), "n");
  assert.equal(plural({ other: "n" }, 1, "en"), "n");
  assert.equal(plural("text", 1, "en"), "text");
  assert.equal(plural({ one: "1", other: "n" }, 1, "not a tag!"), "n", "an invalid tag never throws");
});
