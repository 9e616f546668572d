/* Conditions: the semantics of flipgen/conditions.py (tests/vectors/conditions.json). */
import { bool, filled, has, isObj, num, scalar } from "./util.js";

function same(a, b) {
  if (a == null || typeof a === "object") return false;
  if (typeof a === "boolean" || typeof b === "boolean") return bool(a) !== null && bool(a) === bool(b);
  const m = num(a);
  const n = num(b);
  return m !== null && n !== null ? m === n : typeof a === "string" && a === b;
}

function order(a, b) {
  let m = num(a);
  let n = num(b);
  if (m === null || n === null) {
    if (typeof a !== "string" || typeof b !== "string") return null;
    m = a;
    n = b;
  }
  return m < n ? -1 : m > n ? 1 : 0;
}

// The shape is checked before any answer is read: one malformed part makes it all false.
const OPERAND = {
  filled: (x) => typeof x === "boolean",
  in: (x) => Array.isArray(x) && x.every(scalar),
  gt: (x) => typeof x !== "boolean" && scalar(x),
  eq: scalar,
};
OPERAND.not_in = OPERAND.in;
OPERAND.gte = OPERAND.lt = OPERAND.lte = OPERAND.gt;
OPERAND.ne = OPERAND.contains = scalar;

function wellFormed(c) {
  return (
    isObj(c) &&
    Object.keys(c).every((k) => {
      const v = c[k];
      if (k === "any") return Array.isArray(v) && v.every(wellFormed);
      if (k === "not") return wellFormed(v);
      if (!k) return false;
      if (Array.isArray(v)) return v.every(scalar);
      if (!isObj(v)) return scalar(v);
      const ops = Object.keys(v);
      return ops.length === 1 && has(OPERAND, ops[0]) && OPERAND[ops[0]](v[ops[0]]);
    })
  );
}

const oneOf = (a, list) => list.some((x) => same(a, x));

function match(a, m) {
  if (Array.isArray(m)) return oneOf(a, m);
  if (!isObj(m)) return same(a, m);
  const op = Object.keys(m)[0];
  const v = m[op];
  switch (op) {
    case "eq":
      return same(a, v);
    case "ne":
      return !same(a, v);
    case "in":
      return oneOf(a, v);
    case "not_in":
      return !oneOf(a, v);
    case "contains":
      return Array.isArray(a) ? a.some((x) => same(x, v)) : typeof a === "string" && same(a, v);
    case "filled":
      return filled(a) === v;
  }
  const o = order(a, v);
  return o !== null && { gt: o > 0, gte: o >= 0, lt: o < 0, lte: o <= 0 }[op];
}

function holds(c, answers) {
  return Object.keys(c).every((k) => {
    if (k === "any") return c[k].some((x) => holds(x, answers));
    if (k === "not") return !holds(c[k], answers);
    return match(has(answers, k) ? answers[k] : null, c[k]);
  });
}

/** Total: a malformed condition is false, never an exception. */
export function evaluate(cond, answers) {
  try {
    return wellFormed(cond) && holds(cond, answers || {});
  } catch {
    return false;
  }
}
