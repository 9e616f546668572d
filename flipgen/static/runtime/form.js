/* Form screens: read and fill the inputs, show what the answers say, validate on submit. */
import { interp, route } from "./answers.js";
import { saveScreen } from "./applications.js";
import { latinDigits, pageLang } from "./language.js";
import { go } from "./screens.js";
import { answers, page, save } from "./state.js";
import { announce, STRINGS, text } from "./strings.js";
import { all, has } from "./util.js";
import { validate } from "./validate.js";

const section = () => page.sections[page.state.at];
const inputs = (f) => all(section(), `[name="${f.id}"]`);
const wrapper = (f) => section().querySelector(`[data-flip-field="${f.id}"]`);

// Where a number is expected, digits typed in another script (Arabic-Indic, Thai…) count.
const DIGITS = new Set(["number", "tel", "date"]);

/** The answer an input holds now ("?" for text a number or date input could not parse). */
export function read(f) {
  const els = inputs(f);
  const on = els.filter((x) => x.checked).map((x) => x.value);
  if (!els[0]) return null;
  if (f.type === "checkbox" || f.type === "consent") return els[0].checked;
  if (f.type === "radio") return on[0] || null;
  if (f.type === "checkboxes") return on;
  if (els[0].validity.badInput) return "?";
  const v = els[0].value.trim();
  return DIGITS.has(f.type) ? latinDigits(v) : v;
}

export function put(f, v) {
  for (const e of inputs(f)) {
    if (e.type === "radio" || f.type === "checkboxes") e.checked = [].concat(v).includes(e.value);
    else if (e.type === "checkbox") e.checked = v === true;
    else e.value = v == null || v === "?" ? "" : v;
  }
}

// Choice answers are shown by their label, everything as text (never HTML).
function label(id, v) {
  for (const e of document.getElementsByName(id)) {
    for (const o of e.options || []) if (v && o.value === v) return o.text;
    if (/^(radio|checkbox)$/.test(e.type) && e.value === v) return e.labels[0].textContent;
  }
  return v;
}

/** Show or hide show_if fields and fill every `${name}` in the page with its answer. */
export function refresh() {
  const a = answers();
  for (const f of page.screens[page.state.at].fields || []) {
    if (f.show_if && wrapper(f)) wrapper(f).hidden = !has(a, f.id);
  }
  for (const el of all(document, "[data-flip-var]")) {
    const k = el.dataset.flipVar;
    const v = a[k];
    const shown = Array.isArray(v) ? v.map((x) => label(k, x)) : typeof v === "string" ? label(k, v) : v;
    el.textContent = interp("${v}", { v: shown });
  }
}

export function mark(f, problem) {
  document.getElementById(`f-${f.id}-error`).textContent = problem ? problem.message : "";
  for (const e of inputs(f)) {
    if (problem) e.setAttribute("aria-invalid", "true");
    else e.removeAttribute("aria-invalid");
  }
  wrapper(f).classList.toggle("flip-invalid", !!problem);
}

export function submitForm(sc) {
  const S = page.state;
  for (const f of sc.fields) if (f.type !== "hidden") S.raw[f.id] = read(f);
  const a = answers();
  const bad = [];
  for (const f of sc.fields) {
    const problem = f.type !== "hidden" && has(a, f.id) ? validate(f, a[f.id], STRINGS, pageLang()) : null;
    if (f.type !== "hidden") mark(f, problem);
    if (problem) bad.push([f, problem]);
  }
  save();
  if (!bad.length) {
    saveScreen(sc.id);
    return go(route(sc, a));
  }
  inputs(bad[0][0])[0].focus();
  const count = bad.length > 1 ? text("problems", bad.length) + " " : "";
  announce(count + bad.map((b) => b[1].message).join(" "));
}

/** An input changed: keep the answer, update the page, re-check a field marked invalid. */
export function changed(e) {
  const w = e.target.closest && e.target.closest("[data-flip-field]");
  const f = w && (page.screens[page.state.at].fields || []).find((x) => x.id === w.dataset.flipField);
  if (!f || page.finished) return;
  page.state.raw[f.id] = read(f);
  save();
  refresh();
  if (w.classList.contains("flip-invalid")) mark(f, validate(f, page.state.raw[f.id], STRINGS, pageLang()));
}
