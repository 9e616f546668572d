/* flipgen journey runtime: reads #flip-journey, shows one screen at a time, validates, routes,
   persists to sessionStorage and drives the Wink widget. No dependencies, no build step.
   The pure helpers are exported for the Node tests (tests/js/). */
(() => {
"use strict";
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isObj = x => x !== null && typeof x === "object" && !Array.isArray(x);
const NUM = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/* Conditions: the semantics of flipgen/conditions.py (tests/vectors/conditions.json). */
const num = x => { const n = typeof x === "number" ? x : typeof x === "string" && NUM.test(x) ? +x : NaN; return isFinite(n) ? n : null; };
const bool = x => x === true || x === "true" ? true : x === false || x === "false" ? false : null;
const filled = v => v != null && !(typeof v === "string" && !v.trim()) && !(Array.isArray(v) && !v.length);
const scalar = x => typeof x === "string" || typeof x === "boolean" || (typeof x === "number" && isFinite(x));
function same(a, b) {
  if (a == null || typeof a === "object") return false;
  if (typeof a === "boolean" || typeof b === "boolean") return bool(a) !== null && bool(a) === bool(b);
  const m = num(a), n = num(b);
  return m !== null && n !== null ? m === n : typeof a === "string" && a === b;
}
function order(a, b) {
  let m = num(a), n = num(b);
  if (m === null || n === null) {
    if (typeof a !== "string" || typeof b !== "string") return null;
    m = a; n = b;
  }
  return m < n ? -1 : m > n ? 1 : 0;
}
// The shape is checked before any answer is read: one malformed part makes it all false.
const OPS = { filled: x => typeof x === "boolean", in: x => Array.isArray(x) && x.every(scalar),
  gt: x => typeof x !== "boolean" && scalar(x), eq: scalar };
OPS.not_in = OPS.in; OPS.gte = OPS.lt = OPS.lte = OPS.gt; OPS.ne = OPS.contains = scalar;
const wellFormed = c => isObj(c) && Object.keys(c).every(k => {
  const v = c[k], o = isObj(v) ? Object.keys(v) : [];
  if (k === "any") return Array.isArray(v) && v.every(wellFormed);
  if (k === "not") return wellFormed(v);
  if (!k) return false;
  if (Array.isArray(v)) return v.every(scalar);
  return isObj(v) ? o.length === 1 && has(OPS, o[0]) && OPS[o[0]](v[o[0]]) : scalar(v);
});
const oneOf = (a, list) => list.some(x => same(a, x));
function match(a, m) {
  if (Array.isArray(m)) return oneOf(a, m);
  if (!isObj(m)) return same(a, m);
  const op = Object.keys(m)[0], v = m[op], o = order(a, v);
  switch (op) {
    case "eq": return same(a, v);
    case "ne": return !same(a, v);
    case "in": return oneOf(a, v);
    case "not_in": return !oneOf(a, v);
    case "contains": return Array.isArray(a) ? a.some(x => same(x, v)) : typeof a === "string" && same(a, v);
    case "filled": return filled(a) === v;
  }
  return o !== null && { gt: o > 0, gte: o >= 0, lt: o < 0, lte: o <= 0 }[op];
}
const holds = (c, ans) => Object.keys(c).every(k =>
  k === "any" ? c[k].some(x => holds(x, ans)) : k === "not" ? !holds(c[k], ans) : match(has(ans, k) ? ans[k] : null, c[k]));
/** Total: a malformed condition is false, never an exception. */
function evaluate(cond, answers) {
  try { return wellFormed(cond) && holds(cond, answers || {}); } catch (e) { return false; }
}

/* Validation. Rule names are the keys of a field's `messages` overrides; the default texts
   come from the theme (strings.html), so a theme can translate them. */
const FORMAT = { email: /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/, tel: /^\+?[\d\s().-]{6,24}$/, number: { test: v => num(v) !== null }, date: /^\d{4}-\d{2}-\d{2}$/ };
const reCache = {};
// A pattern must match the whole value, as the HTML `pattern` attribute does.
const re = p => has(reCache, p) ? reCache[p] : (reCache[p] = (() => { try { return new RegExp("^(?:" + p + ")$"); } catch (e) { return null; } })());
const day = s => { const d = Date.parse(s + "T00:00:00Z"); return isFinite(d) && new Date(d).toISOString().slice(0, 10) === s ? d / 864e5 : null; };
/** First failing rule of an answer: {rule, message} or null. `text`: the theme's default messages. */
function validate(f, v, text) {
  const t = f.type, ms = f.messages || {}, T = text || {};
  const fail = (rule, n, dflt) => ({ rule, message: String(ms[rule] || (rule === t && ms.format) || T[dflt || rule] || rule).replace("{n}", n) });
  if (t === "hidden") return null;
  if (!filled(v) || v === false) {
    return f.required ? fail("required", "", { select: "choose", radio: "choose", checkboxes: "many", checkbox: "tick", consent: "tick" }[t]) : null;
  }
  if (t === "checkbox" || t === "consent") return null;
  if (f.options) return [].concat(v).some(x => !f.options.includes(x)) ? fail("options") : null;
  v = String(v);
  const n = Array.from(v).length;
  let x, base;
  if (FORMAT[t] && !FORMAT[t].test(v) || (t === "tel" && v.replace(/\D/g, "").length < 5) || (t === "date" && day(v) === null)) return fail(t);
  if (f.min_length != null && n < f.min_length) return fail("min_length", f.min_length);
  if (f.max_length != null && n > f.max_length) return fail("max_length", f.max_length);
  if (f.pattern && re(f.pattern) && !re(f.pattern).test(v)) return fail("pattern");
  if (t === "number") {
    x = +v;
    if (f.min != null && x < f.min) return fail("min", f.min);
    if (f.max != null && x > f.max) return fail("max", f.max);
    base = +(f.min || 0);
  } else if (t === "date") {
    if (f.min && v < f.min) return fail("min", f.min, "dmin");
    if (f.max && v > f.max) return fail("max", f.max, "dmax");
    x = day(v); base = f.min ? day(f.min) : 0;
  }
  const q = (x - base) / f.step;
  return +f.step > 0 && x != null && Math.abs(q - Math.round(q)) > 1e-9 ? fail("step", f.step) : null;
}

/* Interpolation, routing, answers. */
/** `${name}` → the answer as text (URL-encoded when `encode`); unknown names give "". */
const interp = (s, answers, encode) => String(s).replace(/\$\{([A-Za-z_]\w*)\}/g, (_, k) => {
  let v = answers && has(answers, k) ? answers[k] : null;
  v = v == null ? "" : Array.isArray(v) ? v.join(", ") : String(v);
  return encode ? encodeURIComponent(v) : v;
});
/** Id of the next screen: the first rule whose `if` is null or holds. */
const route = (screen, answers) => ((screen.next || []).find(r => r.if == null || evaluate(r.if, answers)) || {}).goto || null;
/** Answers that count: the params, then the fields of the screens on `path` whose show_if holds. */
function effective(journey, raw, params, path) {
  const a = {};
  for (const p of journey.params || []) if (params && params[p.name] != null) a[p.name] = params[p.name];
  for (const s of journey.screens) {
    if (path.includes(s.id)) for (const f of s.fields || []) if (!f.show_if || evaluate(f.show_if, a)) a[f.id] = raw[f.id] == null ? null : raw[f.id];
  }
  return a;
}
/** Smile externalMetadata: the filled, shown answers of fields and params marked `metadata`. */
function metadata(journey, answers) {
  const out = {}, ids = (journey.params || []).filter(p => p.metadata).map(p => p.name);
  for (const s of journey.screens) for (const f of s.fields || []) if (f.metadata) ids.push(f.id);
  for (const k of ids) if (has(answers, k) && filled(answers[k])) out[k] = [].concat(answers[k]).join(",");
  return out;
}
/** [step, total]: steps taken plus the shortest way left to an end screen. */
function steps(journey, at, done) {
  const by = {};
  for (const s of journey.screens) by[s.id] = s;
  const left = (id, seen) => {
    const s = by[id];
    if (!s || s.type === "end") return 0;
    if (seen.includes(id)) return 1e3;
    const next = s.next || [];
    return next.length ? Math.min(...next.map(r => 1 + left(r.goto, seen.concat(id)))) : 1;
  };
  return [done + 1, done + Math.max(1, left(at, []))];
}
const api = { evaluate, validate, interp, route, effective, metadata, steps };

/* The page. */
function boot() {
  const block = document.getElementById("flip-journey");
  if (!block) return;
  const J = JSON.parse(block.textContent), KEY = "flipgen:" + J.site, by = {}, sec = {};
  const live = document.getElementById("flip-live"), framed = window.parent !== window, strings = document.getElementById("flip-text");
  const T = JSON.parse(strings ? strings.textContent : "{}"), fmt = (k, n, more) => {
    const o = { n, ...more };
    return (T[k] || k).replace(/\{(\w+)\}/g, (m, x) => has(o, x) ? o[x] : m);
  };
  const $$ = (el, sel) => [...el.querySelectorAll(sel)];
  let S, busy = false, finished = false, expiries = 0;
  for (const s of J.screens) by[s.id] = s;
  for (const el of $$(document, "[data-flip-screen]")) sec[el.dataset.flipScreen] = el;

  const emit = (name, detail) => document.dispatchEvent(new CustomEvent(name, { detail: { site: J.site, ...detail } }));
  const post = msg => { if (framed) window.parent.postMessage({ site: J.site, ...msg }, "*"); };
  const save = () => { if (!finished) try { sessionStorage.setItem(KEY, JSON.stringify(S)); } catch (e) { /* storage off */ } };
  const say = text => { live.textContent = ""; setTimeout(() => { live.textContent = text; }, 30); };
  const answers = () => effective(J, S.raw, S.params, S.hist.concat(S.at));
  const inputs = f => $$(sec[S.at], `[name="${f.id}"]`);
  const wrap = f => sec[S.at].querySelector(`[data-flip-field="${f.id}"]`);

  function read(f) {
    const els = inputs(f), e = els[0], on = els.filter(x => x.checked).map(x => x.value);
    if (!e) return null;
    if (f.type === "checkbox" || f.type === "consent") return e.checked;
    if (f.type === "radio") return on[0] || null;
    if (f.type === "checkboxes") return on;
    return e.validity.badInput ? "?" : e.value.trim();
  }
  function put(f, v) {
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
  function refresh() {
    const a = answers();
    for (const f of by[S.at].fields || []) if (f.show_if && wrap(f)) wrap(f).hidden = !has(a, f.id);
    for (const el of $$(document, "[data-flip-var]")) {
      const k = el.dataset.flipVar, v = a[k];
      el.textContent = interp("${v}", { v: Array.isArray(v) ? v.map(x => label(k, x)) : typeof v === "string" ? label(k, v) : v });
    }
  }
  function mark(f, r) {
    document.getElementById(`f-${f.id}-error`).textContent = r ? r.message : "";
    for (const e of inputs(f)) r ? e.setAttribute("aria-invalid", "true") : e.removeAttribute("aria-invalid");
    wrap(f).classList.toggle("flip-invalid", !!r);
  }

  function show(id, focus) {
    const sc = by[id], s = sec[id], box = document.querySelector("[data-flip-progress]"), end = sc.type === "end";
    S.at = id;
    save();
    for (const k in sec) sec[k].hidden = k !== id;
    for (const f of sc.fields || []) if (has(S.raw, f.id)) put(f, S.raw[f.id]);
    refresh();
    for (const b of $$(s, "[data-flip-back]")) b.hidden = !S.hist.length || end;
    if (box) {
      const [n, of] = steps(J, id, S.hist.length);
      box.hidden = false;
      box.querySelector("progress").value = end ? 100 : Math.round(100 * n / (of + 1));
      box.querySelector("[data-flip-progress-text]").textContent = end ? fmt("complete") : fmt("step_of", n, { of });
    }
    if (sc.type === "wink") { const c = S.wink[id] || 0; status(sc, c ? fmt("connected", c) : ""); }
    if (focus) s.querySelector("h1,h2").focus();
    emit("flipgen:step", { screen: id, index: S.hist.length });
    post({ type: "flipgen:step", screen: id });
  }
  function go(id) {
    if (!by[id] || by[id].type === "end") return complete(by[id] ? id : null);
    S.hist.push(S.at);
    show(id, true);
  }
  function complete(end) {
    const oc = J.on_complete || {}, url = oc.redirect && interp(oc.redirect, answers(), true);
    emit("flipgen:complete", { screen: end, userId: S.uid });
    if (oc.post_message !== false) post({ type: "flipgen:complete", userId: S.uid });
    try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing stored */ }
    finished = true;
    if (url && !/^\s*(javascript|data|vbscript):/i.test(url)) return location.assign(url);
    if (end) { S.hist.push(S.at); show(end, true); } else say(fmt("done"));
  }
  function submitForm(sc) {
    for (const f of sc.fields) if (f.type !== "hidden") S.raw[f.id] = read(f);
    const a = answers(), bad = [];
    for (const f of sc.fields) {
      const r = f.type !== "hidden" && has(a, f.id) ? validate(f, a[f.id], T) : null;
      if (f.type !== "hidden") mark(f, r);
      if (r) bad.push([f, r]);
    }
    save();
    if (!bad.length) return go(route(sc, a));
    inputs(bad[0][0])[0].focus();
    say((bad.length > 1 ? fmt("problems", bad.length) + " " : "") + bad.map(b => b[1].message).join(" "));
  }

  /* Wink screens (SPEC §4.4). */
  const need = sc => Math.max(1, sc.wink.min_accounts || 0);
  function status(sc, text, err) {
    const p = sec[sc.id].querySelector("[data-flip-status]"), b = sec[sc.id].querySelector("[data-flip-open]");
    p.textContent = text;
    p.hidden = !text;
    p.classList.toggle("flip-status--error", !!err);
    b.dataset.label = b.dataset.label || b.textContent;
    b.textContent = err ? fmt("retry") : b.dataset.label;
    b.removeAttribute("aria-disabled");
    busy = false;
    if (err) { say(text); b.focus(); }
  }
  function fail(sc, kind, code, extra) {
    status(sc, fmt(kind), true);
    emit("flipgen:error", { screen: sc.id, code, ...extra });
  }
  async function token(sc) {
    const body = { site: J.site, screen: sc.id };
    let ep = J.token_endpoint.replace(/\/+$/, "");
    const refresh = !!S.uid;
    if (refresh) { ep += "/refresh"; body.userId = S.uid; } else body.metadata = metadata(J, answers());
    const r = await fetch(ep, { method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const d = await r.json().catch(() => ({}));
    // The endpoint no longer knows this user (another environment, a reset): start a new one.
    if (refresh && r.status === 404 && d.error && d.error.code === "not_found") { S.uid = null; save(); return token(sc); }
    if (!r.ok || !d.userToken) throw { code: (d.error && d.error.code) || "http_" + r.status, status: r.status };
    S.uid = d.userId || S.uid;
    save();
    return d;
  }
  function open(sc) {
    if (busy) return;
    busy = true;
    sec[sc.id].querySelector("[data-flip-open]").setAttribute("aria-disabled", "true");
    token(sc).then(t => launch(sc, t), e => fail(sc, "token", e.code || "network", { status: e.status }));
  }
  function launch(sc, t) {
    const w = sc.wink, SLM = window.SmileLinkModal;
    if (typeof SLM !== "function") return fail(sc, "sdk", "sdk_unavailable");
    const tally = d => x => { S.wink[sc.id] = Math.max(0, (S.wink[sc.id] || 0) + d * ((x && x.uploads && x.uploads.length) || 1)); save(); };
    const modal = new SLM({
      userToken: t.userToken, templateId: t.templateId || w.template_id,
      providers: w.providers || [], topProviders: w.top_providers || [], enableUpload: !!w.enable_upload,
      onAccountCreated() {}, onAccountConnected: tally(1), onAccountRemoved: tally(-1),
      onUploadsCreated: tally(1), onUploadsRemoved: tally(-1),
      onAccountError: x => emit("flipgen:error", { screen: sc.id, code: "account_error", errorCode: x && x.errorCode }),
      onUIEvent() { expiries = 0; },
      onTokenExpired() {
        try { modal.close && modal.close(); } catch (e) { /* already gone */ }
        if (++expiries > 3) return fail(sc, "token", "token_expired");
        token(sc).then(t2 => launch(sc, t2), e => fail(sc, "token", e.code || "network", { status: e.status }));
      },
      onClose(r) {
        const reason = typeof r === "string" ? r : r && r.reason, c = S.wink[sc.id] || 0;
        busy = false;
        if (S.at !== sc.id) return;
        if (c >= need(sc)) return go(route(sc, answers()));
        status(sc, c ? fmt("fewer", c, { need: need(sc) }) : fmt(/^(exit|error)$/.test(reason) ? reason : "close"), true);
      }
    });
    modal.open();
  }

  /* Start: resume the session, or take the params from the query string. */
  try { S = JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { S = null; }
  if (!S || !by[S.at] || !S.raw) {
    const qs = new URLSearchParams(location.search), bad = [];
    S = { at: J.screens[0].id, hist: [], raw: {}, params: {}, uid: null, wink: {} };
    for (const p of J.params || []) {
      const v = qs.get(p.name);
      if (v && (!p.pattern || !re(p.pattern) || re(p.pattern).test(v))) S.params[p.name] = v;
      else if (p.required) bad.push(p.name);
    }
    if (bad.length) {
      const al = document.querySelector("[data-flip-alert]");
      for (const k in sec) sec[k].hidden = true;
      al.lastElementChild.textContent = fmt("missing", bad.join(", "));
      al.hidden = false;
      return emit("flipgen:error", { code: "missing_param", params: bad });
    }
    for (const s of J.screens) for (const f of s.fields || []) {
      const v = f.type === "hidden" && f.value != null ? f.value : f.default;
      if (v != null) S.raw[f.id] = typeof v === "string" ? interp(v, S.params) : v;
    }
  }
  if (framed) {
    const page = document.getElementById("flip-page") || document.body;
    let last = 0;
    document.documentElement.classList.add("flip-embedded");
    new ResizeObserver(() => {
      const h = Math.ceil(page.getBoundingClientRect().height);
      if (h !== last) post({ type: "flipgen:resize", height: (last = h) });
    }).observe(page);
  }
  document.addEventListener("submit", e => {
    const s = e.target.closest("[data-flip-screen]"), sc = s && by[s.dataset.flipScreen];
    if (!sc) return;
    e.preventDefault();
    if (sc.id !== S.at || finished) return;
    if (sc.type === "form") submitForm(sc);
    else if (sc.type === "wink") open(sc);
  });
  document.addEventListener("click", e => {
    const b = e.target.closest("[data-flip-back],[data-flip-skip]");
    if (!b || finished) return;
    if (b.hasAttribute("data-flip-skip")) go(route(by[S.at], answers()));
    else if (S.hist.length) show(S.hist.pop(), true);
  });
  const changed = e => {
    const w = e.target.closest && e.target.closest("[data-flip-field]");
    const f = w && (by[S.at].fields || []).find(x => x.id === w.dataset.flipField);
    if (!f || finished) return;
    S.raw[f.id] = read(f);
    save();
    refresh();
    if (w.classList.contains("flip-invalid")) mark(f, validate(f, S.raw[f.id], T));
  };
  document.addEventListener("input", changed);
  document.addEventListener("change", changed);
  show(S.at, false);
}

if (typeof module === "object" && module.exports) module.exports = api;
if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
}
})();
