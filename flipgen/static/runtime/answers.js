/* Answers, interpolation and routing: pure functions of the journey data and the answers. */
import { evaluate } from "./conditions.js";
import { PLACEHOLDER } from "./limits.js";
import { filled, has } from "./util.js";
import { metadataValue } from "./validate.js";

/** `${name}` → the answer as text (URL-encoded when `encode`); unknown names give "". */
export function interp(s, answers, encode) {
  return String(s).replace(PLACEHOLDER, (_, k) => {
    let v = answers && has(answers, k) ? answers[k] : null;
    v = v == null ? "" : Array.isArray(v) ? v.join(", ") : String(v);
    return encode ? encodeURIComponent(v) : v;
  });
}

/** Id of the next screen: the first rule whose `if` is null or holds. */
export function route(screen, answers) {
  const rule = (screen.next || []).find((r) => r.if == null || evaluate(r.if, answers));
  return rule ? rule.goto : null;
}

/** Answers that count: the params, then the fields of the screens on `path` whose show_if holds. */
export function effective(journey, raw, params, path) {
  const a = {};
  for (const p of journey.params || []) if (params && params[p.name] != null) a[p.name] = params[p.name];
  for (const s of journey.screens) {
    if (!path.includes(s.id)) continue;
    for (const f of s.fields || []) {
      if (!f.show_if || evaluate(f.show_if, a)) a[f.id] = raw[f.id] == null ? null : raw[f.id];
    }
  }
  return a;
}

/** Smile externalMetadata: the filled, shown answers of fields and params marked `metadata`. */
export function metadata(journey, answers) {
  const out = {};
  const ids = (journey.params || []).filter((p) => p.metadata).map((p) => p.name);
  for (const s of journey.screens) for (const f of s.fields || []) if (f.metadata) ids.push(f.id);
  for (const k of ids) if (has(answers, k) && filled(answers[k])) out[k] = metadataValue(answers[k]);
  return out;
}

/** [step, total]: steps taken plus the shortest way left to an end screen. */
export function steps(journey, at, done) {
  const by = {};
  for (const s of journey.screens) by[s.id] = s;
  const left = (id, seen) => {
    const s = by[id];
    if (!s || s.type === "end") return 0;
    if (seen.includes(id)) return 1e3;
    const next = s.next || [];
    return next.length ? Math.min(...next.map((r) => 1 + left(r.goto, seen.concat(id)))) : 1;
  };
  return [done + 1, done + Math.max(1, left(at, []))];
}
