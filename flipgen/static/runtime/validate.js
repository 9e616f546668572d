/* Validation. Rule names are the keys of a field's `messages` overrides; the default texts
   come from the theme's strings (strings.html), so a theme can translate them. */
import { latinDigits, plural } from "./language.js";
import { LIMITS, valueProblem } from "./limits.js";
import { filled, has, num } from "./util.js";

const FORMAT = {
  email: /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/,
  tel: /^\+?[\d\s().-]{6,24}$/,
  number: { test: (v) => num(v) !== null },
  date: /^\d{4}-\d{2}-\d{2}$/,
};
// The default message of an empty required field, by type.
const EMPTY = { select: "choose", radio: "choose", checkboxes: "many", checkbox: "tick", consent: "tick" };

const compiled = {};
/** A pattern matches the whole value, as the HTML `pattern` attribute does; null if invalid. */
export function pattern(p) {
  if (!has(compiled, p)) {
    try {
      compiled[p] = new RegExp("^(?:" + p + ")$");
    } catch {
      compiled[p] = null;
    }
  }
  return compiled[p];
}

/** Day number of an ISO date, or null when it is not a real date. */
function day(s) {
  const d = Date.parse(s + "T00:00:00Z");
  return isFinite(d) && new Date(d).toISOString().slice(0, 10) === s ? d / 864e5 : null;
}

/** Text as the token endpoint receives it: lists joined, whitespace runs collapsed. */
export const metadataValue = (v) => [].concat(v).join(",").replace(/\s+/g, " ");

/** First failing rule of an answer: {rule, message} or null. `text`: the page's UI strings,
    whose plural forms are chosen for the rule's limit in `lang`. */
export function validate(f, v, text, lang) {
  const t = f.type;
  const own = f.messages || {};
  const defaults = text || {};
  const fail = (rule, n, key) => ({
    rule,
    message: String(own[rule] || (rule === t && own.format) || plural(defaults[key || rule], n, lang) || rule).replace(
      "{n}",
      n,
    ),
  });
  if (t === "hidden") return null;
  if (!filled(v) || v === false) return f.required ? fail("required", "", EMPTY[t]) : null;
  if (t === "checkbox" || t === "consent") return null;
  if (f.options) return [].concat(v).some((x) => !f.options.includes(x)) ? fail("options") : null;
  // Digits typed in another script (Arabic-Indic, Thai…) are checked as the digits they are.
  const s = t === "number" || t === "tel" ? latinDigits(v) : String(v);
  return formatRule(f, s, fail) || rangeRule(f, s, fail) || metadataRule(f, v, fail);
}

function formatRule(f, v, fail) {
  const t = f.type;
  const n = Array.from(v).length;
  if (
    (FORMAT[t] && !FORMAT[t].test(v)) ||
    (t === "tel" && v.replace(/\D/g, "").length < 5) ||
    (t === "date" && day(v) === null)
  )
    return fail(t);
  if (f.min_length != null && n < f.min_length) return fail("min_length", f.min_length);
  if (f.max_length != null && n > f.max_length) return fail("max_length", f.max_length);
  if (f.pattern && pattern(f.pattern) && !pattern(f.pattern).test(v)) return fail("pattern");
  return null;
}

function rangeRule(f, v, fail) {
  let x;
  let base;
  if (f.type === "number") {
    x = +v;
    if (f.min != null && x < f.min) return fail("min", f.min);
    if (f.max != null && x > f.max) return fail("max", f.max);
    base = +(f.min || 0);
  } else if (f.type === "date") {
    if (f.min && v < f.min) return fail("min", f.min, "dmin");
    if (f.max && v > f.max) return fail("max", f.max, "dmax");
    x = day(v);
    base = f.min ? day(f.min) : 0;
  }
  const q = (x - base) / f.step;
  return +f.step > 0 && x != null && Math.abs(q - Math.round(q)) > 1e-9 ? fail("step", f.step) : null;
}

// Answers sent to Smile as externalMetadata must be what Smile accepts (flipgen/limits.py).
function metadataRule(f, v, fail) {
  if (!f.metadata) return null;
  const problem = valueProblem(metadataValue(v));
  return problem === "ascii" ? fail("ascii") : problem ? fail("max_length", LIMITS.metadata.value_max) : null;
}
