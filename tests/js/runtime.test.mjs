// Unit tests of the runtime's pure helpers: validation, interpolation, routing, answers, metadata.
import { test } from "node:test";
import assert from "node:assert/strict";

import { validate, interp, route, effective, metadata, steps } from "./runtime.mjs";
const T = {
  required: "REQ",
  choose: "CHOOSE",
  many: "MANY",
  tick: "TICK",
  options: "OPT",
  min_length: "MINLEN {n}",
  max_length: "MAXLEN {n}",
  pattern: "PAT",
  number: "NUM",
  date: "DATE",
  email: "EMAIL",
  tel: "TEL",
  min: "MIN {n}",
  max: "MAX {n}",
  step: "STEP {n}",
  dmin: "DMIN {n}",
  dmax: "DMAX {n}",
};
const field = (type, extra = {}) => ({ id: "f", type, required: false, messages: {}, options: null, ...extra });
const rule = (f, v) => (validate(f, v, T) || {}).rule || null;
const msg = (f, v) => (validate(f, v, T) || {}).message || null;

test("required applies to every visible type", () => {
  for (const t of ["text", "email", "tel", "number", "date", "textarea"]) {
    assert.equal(rule(field(t, { required: true }), ""), "required");
    assert.equal(rule(field(t, { required: true }), "   "), "required");
    assert.equal(rule(field(t), ""), null, `${t} optional and empty is valid`);
  }
  assert.equal(msg(field("select", { required: true, options: ["a"] }), null), "CHOOSE");
  assert.equal(msg(field("radio", { required: true, options: ["a"] }), null), "CHOOSE");
  assert.equal(msg(field("checkboxes", { required: true, options: ["a"] }), []), "MANY");
  assert.equal(msg(field("consent", { required: true }), false), "TICK");
  assert.equal(msg(field("checkbox", { required: true }), false), "TICK");
  assert.equal(rule(field("consent", { required: true }), true), null);
  assert.equal(rule(field("consent"), false), null);
  assert.equal(rule(field("hidden", { required: true }), ""), null);
});

test("formats", () => {
  assert.equal(rule(field("email"), "ada@example.com"), null);
  for (const bad of ["ada", "ada@", "ada@example", "a b@example.com", "@x.io"])
    assert.equal(rule(field("email"), bad), "email", bad);
  assert.equal(rule(field("tel"), "+63 955 999 1234"), null);
  assert.equal(rule(field("tel"), "(206) 555-0142"), null);
  for (const bad of ["abc", "12", "+1 (2"]) assert.equal(rule(field("tel"), bad), "tel", bad);
  assert.equal(rule(field("number"), "12.5"), null);
  assert.equal(rule(field("number"), "?"), "number");
  assert.equal(rule(field("number"), "1e400"), "number");
  assert.equal(rule(field("date"), "2024-02-29"), null);
  assert.equal(rule(field("date"), "2023-02-29"), "date");
  assert.equal(rule(field("date"), "29/02/2024"), "date");
});

test("lengths count code points, pattern matches the whole value", () => {
  const f = field("text", { min_length: 2, max_length: 3 });
  assert.equal(msg(f, "a"), "MINLEN 2");
  assert.equal(msg(f, "abcd"), "MAXLEN 3");
  assert.equal(rule(f, "😀😀"), null);
  const p = field("text", { pattern: "^[A-Z]{2}[0-9]{6}$" });
  assert.equal(rule(p, "SC123456"), null);
  assert.equal(rule(p, "sc123456"), "pattern");
  const zip = field("text", { pattern: "[0-9]{5}" });
  assert.equal(rule(zip, "12345"), null);
  assert.equal(rule(zip, "123456"), "pattern", "unanchored patterns still match the whole value");
  assert.equal(rule(zip, "a12345"), "pattern");
  assert.equal(rule(field("text", { pattern: "(" }), "x"), null, "an uncompilable pattern is ignored, not fatal");
});

test("min, max and step for numbers and dates", () => {
  const n = field("number", { min: 1, max: 60, step: 0.5 });
  assert.equal(msg(n, "0"), "MIN 1");
  assert.equal(msg(n, "61"), "MAX 60");
  assert.equal(msg(n, "37.3"), "STEP 0.5");
  assert.equal(rule(n, "37.5"), null);
  assert.equal(rule(field("number", { step: 0.01 }), "4200.10"), null);
  assert.equal(rule(field("number", { step: "any" }), "1.2345"), null);
  const d = field("date", { min: "2026-01-01", max: "2027-06-30" });
  assert.equal(msg(d, "2025-12-31"), "DMIN 2026-01-01");
  assert.equal(msg(d, "2027-07-01"), "DMAX 2027-06-30");
  assert.equal(rule(d, "2026-08-31"), null);
  assert.equal(rule(field("date", { min: "2026-01-01", step: 7 }), "2026-01-08"), null);
  assert.equal(rule(field("date", { min: "2026-01-01", step: 7 }), "2026-01-09"), "step");
});

test("option membership", () => {
  assert.equal(rule(field("select", { options: ["a", "b"] }), "c"), "options");
  assert.equal(rule(field("radio", { options: ["a", "b"] }), "b"), null);
  assert.equal(rule(field("checkboxes", { options: ["a", "b"] }), ["a", "z"]), "options");
  assert.equal(rule(field("checkboxes", { options: ["a", "b"] }), ["a", "b"]), null);
});

test("messages overrides win, format covers the type rule", () => {
  const f = field("email", { required: true, messages: { required: "Need it", format: "Bad mail" } });
  assert.equal(msg(f, ""), "Need it");
  assert.equal(msg(f, "nope"), "Bad mail");
  assert.equal(msg(field("number", { min: 5, messages: { min: "Five+" } }), "1"), "Five+");
  assert.equal(msg(field("text", { min_length: 3 }), "a", undefined), "MINLEN 3");
  assert.equal(validate(field("text", { required: true }), "").message, "required", "no strings block: the rule name");
});

test("interpolation is plain text and URL-encodes on request", () => {
  const a = { name: "<b>Ada</b> & co", list: ["x", "y"], n: 0, none: null };
  assert.equal(interp("Hi ${name}!", a), "Hi <b>Ada</b> & co!");
  assert.equal(interp("${list}|${n}|${none}|${missing}", a), "x, y|0||");
  assert.equal(interp("https://x.example/?q=${name}", a, true), "https://x.example/?q=%3Cb%3EAda%3C%2Fb%3E%20%26%20co");
  assert.equal(interp("${constructor}", {}), "", "no prototype leaks");
});

const journey = {
  params: [
    { name: "ref", metadata: true },
    { name: "campaign", metadata: false },
  ],
  screens: [
    {
      id: "a",
      type: "form",
      next: [
        { if: { kind: "gig" }, goto: "g" },
        { if: null, goto: "p" },
      ],
      fields: [
        { id: "kind", type: "radio", metadata: false },
        { id: "email", type: "email", metadata: true },
        { id: "income", type: "number", metadata: true, show_if: { kind: ["self", "employed"] } },
      ],
    },
    { id: "g", type: "wink", next: [{ if: null, goto: "end" }] },
    {
      id: "p",
      type: "form",
      next: [{ if: null, goto: "end" }],
      fields: [{ id: "boss", type: "text", metadata: true }],
    },
    { id: "end", type: "end", next: [] },
  ],
};

test("route takes the first matching rule", () => {
  assert.equal(route(journey.screens[0], { kind: "gig" }), "g");
  assert.equal(route(journey.screens[0], { kind: "self" }), "p");
  assert.equal(route(journey.screens[3], {}), null);
  assert.equal(route({ next: [{ if: { x: 1 }, goto: "z" }] }, {}), null);
});

test("effective answers: params, path and show_if", () => {
  const raw = { kind: "gig", email: "a@b.co", income: "900", boss: "Old answer" };
  const a = effective(journey, raw, { ref: "r1" }, ["a", "g"]);
  assert.deepEqual(a, { ref: "r1", kind: "gig", email: "a@b.co" });
  const b = effective(journey, { ...raw, kind: "self" }, {}, ["a", "p"]);
  assert.deepEqual(b, { kind: "self", email: "a@b.co", income: "900", boss: "Old answer" });
});

test("metadata holds only declared, filled, shown answers", () => {
  const a = effective(journey, { kind: "gig", email: "a@b.co", income: "900" }, { ref: "r1", campaign: "c" }, [
    "a",
    "g",
  ]);
  assert.deepEqual(metadata(journey, a), { ref: "r1", email: "a@b.co" });
  assert.deepEqual(metadata(journey, { email: "  ", boss: ["x", "y"] }), { boss: "x,y" });
});

test("progress steps use the shortest remaining path", () => {
  assert.deepEqual(steps(journey, "a", 0), [1, 2]);
  assert.deepEqual(steps(journey, "g", 1), [2, 2]);
});
