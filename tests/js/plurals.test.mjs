// Plural selection in the browser runtime agrees with the shared vectors (tests/vectors/plurals.json),
// which tests/test_i18n.py checks against Babel: the build and the page pick the same sentence.
// Also: native digits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { latinDigits, plural } from "../../flipgen/static/runtime/language.js";
import { validate } from "./runtime.mjs";

const vectors = JSON.parse(readFileSync(new URL("../vectors/plurals.json", import.meta.url), "utf8"));
const CATS = ["zero", "one", "two", "few", "many", "other"];
const every = Object.fromEntries(CATS.map((c) => [c, c]));

test("every built-in language has vectors", () => {
  assert.deepEqual(Object.keys(vectors.cases).sort(), [
    "ar",
    "en",
    "es-419",
    "fil",
    "hi",
    "id",
    "ms",
    "ta",
    "th",
    "vi",
    "zh-Hans",
  ]);
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

test("native digits become 0-9", () => {
  assert.equal(latinDigits("٠١٢٣٤٥٦٧٨٩"), "0123456789", "Arabic-Indic");
  assert.equal(latinDigits("۰۱۲۳۴۵۶۷۸۹"), "0123456789", "Extended Arabic-Indic");
  assert.equal(latinDigits("๐๑๒๓๔๕๖๗๘๙"), "0123456789", "Thai");
  assert.equal(latinDigits("०१२३४५६७८९"), "0123456789", "Devanagari");
  assert.equal(latinDigits("௦௧௨௩௪௫௬௭௮௯"), "0123456789", "Tamil");
  assert.equal(latinDigits("١٢٫٥"), "12.5", "the Arabic decimal separator");
  assert.equal(latinDigits("abc 12"), "abc 12");
});

test("validators accept native digits where a number is expected", () => {
  const number = { id: "n", type: "number", required: true, min: 1, max: 100, messages: {} };
  const T = {
    max: { zero: "Z{n}", one: "O{n}", two: "T{n}", few: "F{n}", many: "M{n}", other: "X{n}" },
    number: "NUM",
  };
  assert.equal(validate(number, "٤٢", T, "ar"), null);
  assert.equal(validate(number, "๔๒", T, "th"), null);
  assert.equal(validate(number, "٤٢٠", T, "ar").message, "X100", "over the max: plural form for 100 in Arabic");
  assert.equal(validate({ ...number, max: 3 }, "٩", T, "ar").message, "F3", "3 is `few` in Arabic");
  assert.equal(validate(number, "٤x", T, "ar").message, "NUM");
  const tel = { id: "t", type: "tel", required: true, messages: {} };
  assert.equal(validate(tel, "٠٥٠١٢٣٤٥٦٧", { tel: "TEL" }, "ar"), null);
});
