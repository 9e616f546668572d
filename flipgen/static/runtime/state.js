/* The page's shared state: the journey data, the screens, and the visitor's progress, which
   persists in sessionStorage so a reload resumes where the visitor was. */
import { effective, interp } from "./answers.js";
import { valueProblem } from "./limits.js";
import { all } from "./util.js";
import { pattern } from "./validate.js";

export const page = {
  journey: null, // the #flip-journey data block
  key: "", // sessionStorage key
  screens: {}, // screen id → screen data
  sections: {}, // screen id → its <section>
  // {at, hist, raw, params, handle, minted, unsaved, wink}: what sessionStorage keeps. `handle`
  // is the application's (applications.js), never a Smile userId.
  state: null,
  finished: false,
  sending: false, // the final submit is on its way
};

export function usePage(journey) {
  page.journey = journey;
  page.key = "flipgen:" + journey.site;
  for (const s of journey.screens) page.screens[s.id] = s;
  for (const el of all(document, "[data-flip-screen]")) page.sections[el.dataset.flipScreen] = el;
}

export function save() {
  if (page.finished) return;
  try {
    sessionStorage.setItem(page.key, JSON.stringify(page.state));
  } catch {
    // Storage is off or full: the journey still works, it just won't survive a reload.
  }
}

export function forget() {
  try {
    sessionStorage.removeItem(page.key);
  } catch {
    // Nothing was stored.
  }
}

/** The stored state, if it still fits this journey. */
export function restore() {
  let s;
  try {
    s = JSON.parse(sessionStorage.getItem(page.key));
  } catch {
    return null;
  }
  return s && page.screens[s.at] && s.raw ? s : null;
}

/** A param is kept only if it matches its pattern and, when sent to Smile, Smile accepts it. */
function paramOk(p, v) {
  if (!v || (p.pattern && pattern(p.pattern) && !pattern(p.pattern).test(v))) return false;
  // The server refuses control characters and line breaks in params (flipgen/answers.py): so does the page.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(v)) return false;
  return !p.metadata || !valueProblem(v);
}

/** A fresh state from the query string; `missing` collects the required params not usable. */
export function fresh(query, missing) {
  const J = page.journey;
  const s = { at: J.screens[0].id, hist: [], raw: {}, params: {}, handle: null, minted: false, unsaved: [], wink: {} };
  for (const p of J.params || []) {
    const v = query.get(p.name);
    if (paramOk(p, v)) s.params[p.name] = v;
    else if (p.required) missing.push(p.name);
  }
  for (const sc of J.screens) {
    for (const f of sc.fields || []) {
      const v = f.type === "hidden" && f.value != null ? f.value : f.default;
      if (v != null) s.raw[f.id] = typeof v === "string" ? interp(v, s.params) : v;
    }
  }
  return s;
}

/** The answers that count now (answers.js: effective). */
export function answers() {
  const S = page.state;
  return effective(page.journey, S.raw, S.params, S.hist.concat(S.at));
}
