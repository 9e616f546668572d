/* Small helpers every unit shares. */

const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

export const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
export const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
export const all = (el, sel) => [...el.querySelectorAll(sel)];

/** A finite number from a number or numeric text, else null. */
export function num(x) {
  const n = typeof x === "number" ? x : typeof x === "string" && NUMBER.test(x) ? +x : NaN;
  return isFinite(n) ? n : null;
}
export const bool = (x) => (x === true || x === "true" ? true : x === false || x === "false" ? false : null);
export const filled = (v) => v != null && !(typeof v === "string" && !v.trim()) && !(Array.isArray(v) && !v.length);
export const scalar = (x) => typeof x === "string" || typeof x === "boolean" || (typeof x === "number" && isFinite(x));
