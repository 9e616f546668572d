/* flipgen journey runtime. Reads the #flip-journey JSON block, shows one screen at a time,
   validates, routes, persists to sessionStorage and drives the Wink widget. No dependencies.
   The pure helpers at the top are exported for the Node tests (tests/js/). */
(function () {
  "use strict";

  /* ---- Conditions: same semantics as flipgen/conditions.py (tests/vectors/conditions.json). */
  var NUM = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;
  function isObj(x) { return x !== null && typeof x === "object" && !Array.isArray(x); }
  function num(x) {
    var n = typeof x === "number" ? x : typeof x === "string" && NUM.test(x) ? +x : NaN;
    return isFinite(n) ? n : null;
  }
  function bool(x) { return x === true || x === "true" ? true : x === false || x === "false" ? false : null; }
  function same(a, b) {
    if (a == null || b == null || typeof a === "object" || typeof b === "object") return false;
    if (typeof a === "boolean" || typeof b === "boolean") return bool(a) !== null && bool(a) === bool(b);
    var m = num(a), n = num(b);
    return m !== null && n !== null ? m === n : String(a) === String(b);
  }
  function order(a, b) {
    var m = num(a), n = num(b);
    if (m === null || n === null) {
      if (typeof a !== "string" || typeof b !== "string") return null;
      m = a; n = b;
    }
    return m < n ? -1 : m > n ? 1 : 0;
  }
  function filled(v) {
    return v != null && !(typeof v === "string" && !v.trim()) && !(Array.isArray(v) && !v.length);
  }
  function oneOf(a, list) { return list.some(function (x) { return same(a, x); }); }
  function match(a, m) {
    if (Array.isArray(m)) return oneOf(a, m);
    if (!isObj(m)) return same(a, m);
    var k = Object.keys(m), v = m[k[0]], o;
    if (k.length !== 1) return false;
    switch (k[0]) {
      case "eq": return same(a, v);
      case "ne": return !same(a, v);
      case "in": return Array.isArray(v) && oneOf(a, v);
      case "not_in": return Array.isArray(v) && !oneOf(a, v);
      case "gt": case "gte": case "lt": case "lte":
        o = a == null || v == null ? null : order(a, v);
        return o !== null && { gt: o > 0, gte: o >= 0, lt: o < 0, lte: o <= 0 }[k[0]];
      case "contains": return Array.isArray(a) ? oneOf(v, a) : typeof a === "string" && same(a, v);
      case "filled": return typeof v === "boolean" && filled(a) === v;
    }
    return false;
  }
  function holds(c, ans) {
    return isObj(c) && Object.keys(c).every(function (k) {
      var v = c[k];
      if (k === "any") return Array.isArray(v) && v.some(function (x) { return holds(x, ans); });
      if (k === "not") return isObj(v) && !holds(v, ans);
      return match(Object.prototype.hasOwnProperty.call(ans, k) ? ans[k] : null, v);
    });
  }
  /** Total: a malformed condition is false, never an exception. */
  function evaluate(cond, answers) {
    try { return holds(cond, answers || {}) === true; } catch (e) { return false; }
  }

  /* ---- Validation. Rule names double as keys of a field's `messages` overrides. */
  var MSG = {
    required: "This field is required.", choose: "Choose an option.", many: "Choose at least one option.",
    tick: "Tick this box to continue.", options: "Choose one of the listed options.",
    min_length: "Enter at least {n} characters.", max_length: "Enter no more than {n} characters.",
    pattern: "Enter a value in the expected format.", number: "Enter a number.", date: "Enter a real date.",
    email: "Enter an email address like name@example.com.", tel: "Enter a phone number, like +1 555 010 0199.",
    min: "Enter {n} or more.", max: "Enter {n} or less.", step: "Enter a multiple of {n}.",
    dmin: "Enter a date on or after {n}.", dmax: "Enter a date on or before {n}."
  };
  var FORMAT = {
    email: /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/,
    tel: /^\+?[\d\s().-]{6,24}$/,
    number: NUM,
    date: /^\d{4}-\d{2}-\d{2}$/
  };
  var reCache = {};
  function re(p) {
    if (!(p in reCache)) { try { reCache[p] = new RegExp(p); } catch (e) { reCache[p] = null; } }
    return reCache[p];
  }
  function day(s) { var d = Date.parse(s + "T00:00:00Z"); return isFinite(d) && new Date(d).toISOString().slice(0, 10) === s ? d / 864e5 : null; }
  function empty(v) { return !filled(v) || v === false; }
  /** First failing rule of a field's answer: {rule, message} or null. */
  function validate(f, v) {
    var t = f.type, ms = f.messages || {};
    function fail(rule, n, dflt) {
      var m = ms[rule] || (rule === t ? ms.format : null) || dflt || MSG[rule];
      return { rule: rule, message: String(m).replace("{n}", n) };
    }
    if (t === "hidden") return null;
    if (empty(v)) {
      if (!f.required) return null;
      return fail("required", "", { select: MSG.choose, radio: MSG.choose, checkboxes: MSG.many, checkbox: MSG.tick, consent: MSG.tick }[t]);
    }
    if (t === "checkbox" || t === "consent") return null;
    if (t === "select" || t === "radio" || t === "checkboxes") {
      return f.options && [].concat(v).some(function (x) { return f.options.indexOf(x) < 0; }) ? fail("options") : null;
    }
    v = String(v);
    var n = Array.from(v).length, x, q, base;
    if (FORMAT[t] && !FORMAT[t].test(v)) return fail(t);
    if (t === "tel" && v.replace(/\D/g, "").length < 5) return fail(t);
    if (t === "date" && day(v) === null) return fail(t);
    if (f.min_length != null && n < f.min_length) return fail("min_length", f.min_length);
    if (f.max_length != null && n > f.max_length) return fail("max_length", f.max_length);
    if (f.pattern && re(f.pattern) && !re(f.pattern).test(v)) return fail("pattern");
    if (t === "number") {
      x = +v;
      if (f.min != null && x < f.min) return fail("min", f.min);
      if (f.max != null && x > f.max) return fail("max", f.max);
      base = f.min != null ? +f.min : 0;
    } else if (t === "date") {
      if (f.min && v < f.min) return fail("min", f.min, MSG.dmin);
      if (f.max && v > f.max) return fail("max", f.max, MSG.dmax);
      x = day(v); base = f.min ? day(f.min) : 0;
    }
    if (f.step && x != null) {
      q = (x - base) / f.step;
      if (Math.abs(q - Math.round(q)) > 1e-9) return fail("step", f.step);
    }
    return null;
  }

  /* ---- Interpolation, routing, answers. */
  /** `${name}` → the answer as text (URL-encoded when `encode`); unknown names → "". */
  function interp(s, answers, encode) {
    return String(s).replace(/\$\{([A-Za-z_]\w*)\}/g, function (_, k) {
      var v = answers && Object.prototype.hasOwnProperty.call(answers, k) ? answers[k] : null;
      v = v == null ? "" : Array.isArray(v) ? v.join(", ") : String(v);
      return encode ? encodeURIComponent(v) : v;
    });
  }
  /** Id of the next screen (first rule whose `if` is null or holds), or null. */
  function route(screen, answers) {
    var rules = screen.next || [];
    for (var i = 0; i < rules.length; i++) {
      if (rules[i]["if"] == null || evaluate(rules[i]["if"], answers)) return rules[i].goto;
    }
    return null;
  }
  /** Answers that count: params, then the fields of the screens on `path` whose show_if holds. */
  function effective(journey, raw, params, path) {
    var a = {};
    (journey.params || []).forEach(function (p) { if (params && params[p.name] != null) a[p.name] = params[p.name]; });
    journey.screens.forEach(function (s) {
      if (path.indexOf(s.id) < 0) return;
      (s.fields || []).forEach(function (f) {
        if (!f.show_if || evaluate(f.show_if, a)) a[f.id] = raw[f.id] == null ? null : raw[f.id];
      });
    });
    return a;
  }
  /** Smile externalMetadata: only filled, shown answers of fields/params marked `metadata`. */
  function metadata(journey, answers) {
    var out = {};
    function take(id) {
      var v = answers[id];
      if (Object.prototype.hasOwnProperty.call(answers, id) && filled(v)) out[id] = Array.isArray(v) ? v.join(",") : String(v);
    }
    (journey.params || []).forEach(function (p) { if (p.metadata) take(p.name); });
    journey.screens.forEach(function (s) { (s.fields || []).forEach(function (f) { if (f.metadata) take(f.id); }); });
    return out;
  }
  /** [step number, total steps] using the shortest way still left to a terminal screen. */
  function steps(journey, at, done) {
    var by = {};
    journey.screens.forEach(function (s) { by[s.id] = s; });
    function left(id, seen) {
      var s = by[id];
      if (!s || s.type === "end") return 0;
      if (seen[id]) return 1e3;
      seen[id] = 1;
      var best = (s.next || []).length ? 1e3 : 1;
      (s.next || []).forEach(function (r) { best = Math.min(best, 1 + left(r.goto, seen)); });
      seen[id] = 0;
      return best;
    }
    return [done + 1, done + Math.max(1, left(at, {}))];
  }

  var api = { evaluate: evaluate, validate: validate, interp: interp, route: route,
    effective: effective, metadata: metadata, steps: steps };

  /* ---- The page. */
  function boot() {
    var block = document.getElementById("flip-journey");
    if (!block) return;
    var J = JSON.parse(block.textContent), KEY = "flipgen:" + J.site, by = {}, sec = {};
    var live = document.getElementById("flip-live"), framed = window.parent !== window;
    var S, busy = false, finished = false, expiries = 0;
    J.screens.forEach(function (s) { by[s.id] = s; });
    [].forEach.call(document.querySelectorAll("[data-flip-screen]"), function (el) { sec[el.getAttribute("data-flip-screen")] = el; });

    function emit(name, detail) {
      detail.site = J.site;
      document.dispatchEvent(new CustomEvent(name, { detail: detail }));
    }
    function post(msg) {
      msg.site = J.site;
      if (framed) { try { window.parent.postMessage(msg, "*"); } catch (e) { /* detached */ } }
    }
    function save() {
      if (finished) return;
      try { sessionStorage.setItem(KEY, JSON.stringify(S)); } catch (e) { /* storage off: keep going */ }
    }
    function say(text) {
      live.textContent = "";
      setTimeout(function () { live.textContent = text; }, 30);
    }
    function answers() { return effective(J, S.raw, S.params, S.hist.concat(S.at)); }
    function q(el, sel) { return [].slice.call(el.querySelectorAll(sel)); }
    function inputs(f) { return q(sec[S.at] || document, '[name="' + f.id + '"]'); }

    function read(f) {
      var els = inputs(f), e = els[0];
      if (!e) return null;
      if (f.type === "checkbox" || f.type === "consent") return e.checked;
      if (f.type === "radio") return els.filter(function (x) { return x.checked; }).map(function (x) { return x.value; })[0] || null;
      if (f.type === "checkboxes") return els.filter(function (x) { return x.checked; }).map(function (x) { return x.value; });
      if (e.validity && e.validity.badInput) return "?";
      return e.value.trim();
    }
    function put(f, v) {
      inputs(f).forEach(function (e) {
        if (e.type === "radio" || (e.type === "checkbox" && f.type === "checkboxes")) e.checked = [].concat(v).indexOf(e.value) >= 0;
        else if (e.type === "checkbox") e.checked = v === true;
        else e.value = v == null || v === "?" ? "" : v;
      });
    }
    function labelOf(id, v) {
      var hit = null;
      [].forEach.call(document.getElementsByName(id), function (e) {
        if (e.options) [].forEach.call(e.options, function (o) { if (o.value === v && v) hit = o.text; });
        else if (e.value === v && e.labels && e.labels[0]) hit = e.labels[0].textContent;
      });
      return hit == null ? v : hit;
    }
    function vars() {
      var a = answers();
      q(document, "[data-flip-var]").forEach(function (el) {
        var k = el.getAttribute("data-flip-var"), v = a[k];
        if (typeof v === "string") v = labelOf(k, v);
        else if (Array.isArray(v)) v = v.map(function (x) { return labelOf(k, x); });
        var o = {}; o[k] = v;
        el.textContent = interp("${" + k + "}", o);
      });
    }
    function toggles() {
      var a = answers(), sc = by[S.at];
      (sc.fields || []).forEach(function (f) {
        var w = sec[S.at].querySelector('[data-flip-field="' + f.id + '"]');
        if (w && f.show_if) w.hidden = !(f.id in a);
      });
    }
    function mark(f, r) {
      var err = document.getElementById("f-" + f.id + "-error");
      if (err) err.textContent = r ? r.message : "";
      inputs(f).forEach(function (e) { if (r) e.setAttribute("aria-invalid", "true"); else e.removeAttribute("aria-invalid"); });
      var w = sec[S.at].querySelector('[data-flip-field="' + f.id + '"]');
      if (w) w.classList.toggle("flip-invalid", !!r);
    }
    function progress(end) {
      var box = document.querySelector("[data-flip-progress]");
      if (!box) return;
      var st = steps(J, S.at, S.hist.length), bar = box.querySelector("progress");
      box.hidden = false;
      bar.value = end ? 100 : Math.round(100 * st[0] / (st[1] + 1));
      box.querySelector("[data-flip-progress-text]").textContent = end ? "Complete" : "Step " + st[0] + " of " + st[1];
    }

    function show(id, focus) {
      var sc = by[id], s = sec[id];
      S.at = id;
      save();
      Object.keys(sec).forEach(function (k) { sec[k].hidden = k !== id; });
      (sc.fields || []).forEach(function (f) { if (f.id in S.raw) put(f, S.raw[f.id]); });
      toggles();
      vars();
      q(s, "[data-flip-back]").forEach(function (b) { b.hidden = !S.hist.length || sc.type === "end"; });
      progress(sc.type === "end");
      if (sc.type === "wink") winkState(sc);
      if (focus) s.querySelector("h1, h2").focus();
      emit("flipgen:step", { screen: id, index: S.hist.length });
      post({ type: "flipgen:step", screen: id });
    }
    function go(id) {
      if (!by[id]) return complete(null);
      if (by[id].type === "end") return complete(id);
      S.hist.push(S.at);
      show(id, true);
    }
    function complete(end) {
      var a = answers(), url = J.on_complete && J.on_complete.redirect;
      emit("flipgen:complete", { screen: end, userId: S.uid || null });
      if (!J.on_complete || J.on_complete.post_message !== false) post({ type: "flipgen:complete", userId: S.uid || null });
      try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing stored */ }
      finished = true;
      if (url) {
        url = interp(url, a, true);
        if (!/^\s*(javascript|data|vbscript):/i.test(url)) return location.assign(url);
      }
      if (end) { S.hist.push(S.at); show(end, true); } else say("Thank you. You're all done.");
    }

    function submitForm(sc) {
      sc.fields.forEach(function (f) { if (f.type !== "hidden") S.raw[f.id] = read(f); });
      var a = answers(), bad = [];
      sc.fields.forEach(function (f) {
        var r = f.id in a ? validate(f, a[f.id]) : null;
        mark(f, r);
        if (r) bad.push([f, r]);
      });
      save();
      if (!bad.length) return go(route(sc, a));
      inputs(bad[0][0])[0].focus();
      say(bad.length === 1 ? bad[0][1].message : "There are " + bad.length + " problems with your answers. " +
        bad.map(function (b) { return b[1].message; }).join(" "));
    }

    /* ---- Wink screens (SPEC §4.4). */
    var WMSG = {
      close: "The window was closed before an account was connected. You can try again whenever you're ready.",
      exit: "No account was connected yet. Connect an account to continue.",
      error: "Something went wrong while connecting your account. Please try again.",
      token: "We couldn't start the secure connection. Check your internet connection and try again.",
      sdk: "The secure connection service didn't load. Reload the page or try again in a moment."
    };
    function need(sc) { return Math.max(1, sc.wink.min_accounts || 0); }
    function setStatus(sc, text, isErr) {
      var p = sec[sc.id].querySelector("[data-flip-status]"), b = sec[sc.id].querySelector("[data-flip-open]");
      p.textContent = text || "";
      p.hidden = !text;
      p.classList.toggle("flip-status--error", !!isErr);
      if (!b.getAttribute("data-label")) b.setAttribute("data-label", b.textContent);
      b.textContent = isErr ? "Try again" : b.getAttribute("data-label");
      b.removeAttribute("aria-disabled");
      busy = false;
      if (isErr) { say(text); b.focus(); }
    }
    function winkState(sc) {
      var c = S.wink[sc.id] || 0;
      setStatus(sc, c ? c + (c === 1 ? " account connected." : " accounts connected.") : "");
    }
    function count(sc, d) {
      S.wink[sc.id] = Math.max(0, (S.wink[sc.id] || 0) + d);
      save();
    }
    function fail(sc, code, extra) {
      setStatus(sc, WMSG[code] || WMSG.error, true);
      extra = extra || {};
      extra.screen = sc.id;
      extra.code = extra.code || code;
      emit("flipgen:error", extra);
    }
    function token(sc) {
      var ep = J.token_endpoint.replace(/\/+$/, ""), body = { site: J.site, screen: sc.id };
      if (S.uid) { ep += "/refresh"; body.userId = S.uid; } else body.metadata = metadata(J, answers());
      return fetch(ep, { method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (d) {
            if (!r.ok || !d.userToken) throw { code: (d.error && d.error.code) || "http_" + r.status, status: r.status };
            S.uid = d.userId || S.uid;
            save();
            return d;
          });
        });
    }
    function openWink(sc) {
      if (busy) return;
      busy = true;
      var b = sec[sc.id].querySelector("[data-flip-open]");
      b.setAttribute("aria-disabled", "true");
      token(sc).then(function (t) { launch(sc, t); }, function (e) {
        fail(sc, "token", { code: e && e.code ? e.code : "network", status: e && e.status });
      });
    }
    function launch(sc, t) {
      var w = sc.wink, modal;
      if (typeof window.SmileLinkModal !== "function") return fail(sc, "sdk");
      function tally(d) { return function (x) { count(sc, d * ((x && x.uploads && x.uploads.length) || 1)); }; }
      modal = new window.SmileLinkModal({
        userToken: t.userToken,
        templateId: t.templateId || w.template_id,
        providers: w.providers || [],
        topProviders: w.top_providers || [],
        enableUpload: !!w.enable_upload,
        onAccountCreated: function () {},
        onAccountConnected: tally(1),
        onAccountRemoved: tally(-1),
        onUploadsCreated: tally(1),
        onUploadsRemoved: tally(-1),
        onAccountError: function (x) { emit("flipgen:error", { screen: sc.id, code: "account_error", errorCode: x && x.errorCode }); },
        onUIEvent: function () { expiries = 0; },
        onTokenExpired: function () {
          if (modal && typeof modal.close === "function") { try { modal.close(); } catch (e) { /* already gone */ } }
          if (++expiries > 3) return fail(sc, "token", { code: "token_expired" });
          token(sc).then(function (t2) { launch(sc, t2); }, function (e) { fail(sc, "token", { code: e && e.code }); });
        },
        onClose: function (r) {
          var reason = typeof r === "string" ? r : r && r.reason, c = S.wink[sc.id] || 0;
          busy = false;
          if (S.at !== sc.id) return;
          if (c >= need(sc)) return go(route(sc, answers()));
          setStatus(sc, c ? "You've connected " + c + ". Connect at least " + need(sc) + " to continue." : WMSG[reason] || WMSG.close, true);
        }
      });
      modal.open();
    }

    /* ---- Start: resume the session, or read the params from the query string. */
    try { S = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { S = null; }
    if (!S || !by[S.at] || !S.raw) {
      var qs = new URLSearchParams(location.search), bad = [];
      S = { at: J.screens[0].id, hist: [], raw: {}, params: {}, uid: null, wink: {} };
      (J.params || []).forEach(function (p) {
        var v = qs.get(p.name);
        if (v && (!p.pattern || !re(p.pattern) || re(p.pattern).test(v))) S.params[p.name] = v;
        else if (p.required) bad.push(p.name);
      });
      if (bad.length) {
        var alert = document.querySelector("[data-flip-alert]");
        Object.keys(sec).forEach(function (k) { sec[k].hidden = true; });
        alert.textContent = "This link is incomplete: " + bad.join(", ") + (bad.length > 1 ? " are" : " is") +
          " missing or not valid. Please open the exact link you were given, or contact us for a new one.";
        alert.hidden = false;
        return emit("flipgen:error", { code: "missing_param", params: bad });
      }
      J.screens.forEach(function (s) {
        (s.fields || []).forEach(function (f) {
          var v = f.type === "hidden" && f.value != null ? f.value : f["default"];
          if (v != null) S.raw[f.id] = typeof v === "string" ? interp(v, S.params) : v;
        });
      });
    }
    if (framed) {
      document.documentElement.classList.add("flip-embedded");
      var page = document.getElementById("flip-page") || document.body, last = 0;
      new ResizeObserver(function () {
        var h = Math.ceil(page.getBoundingClientRect().height);
        if (h !== last) post({ type: "flipgen:resize", height: (last = h) });
      }).observe(page);
    }
    document.addEventListener("submit", function (e) {
      var s = e.target.closest("[data-flip-screen]"), sc = s && by[s.getAttribute("data-flip-screen")];
      if (!sc) return;
      e.preventDefault();
      if (sc.id !== S.at || finished) return;
      if (sc.type === "form") submitForm(sc);
      else if (sc.type === "wink") openWink(sc);
    });
    document.addEventListener("click", function (e) {
      var b = e.target.closest("[data-flip-back], [data-flip-skip]");
      if (!b || finished) return;
      if (b.hasAttribute("data-flip-skip")) go(route(by[S.at], answers()));
      else if (S.hist.length) show(S.hist.pop(), true);
    });
    function changed(e) {
      var w = e.target.closest && e.target.closest("[data-flip-field]"), sc = by[S.at];
      var f = w && (sc.fields || []).filter(function (x) { return x.id === w.getAttribute("data-flip-field"); })[0];
      if (!f || finished) return;
      S.raw[f.id] = read(f);
      save();
      toggles();
      vars();
      if (w.classList.contains("flip-invalid")) mark(f, validate(f, S.raw[f.id]));
    }
    document.addEventListener("input", changed);
    document.addEventListener("change", changed);
    show(S.at, false);
  }

  if (typeof module === "object" && module.exports) module.exports = api;
  if (typeof document !== "undefined") {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
    else boot();
  }
})();
