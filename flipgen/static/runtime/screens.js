/* Routing between screens: show one, go forward, go back, finish. */
import { interp, steps } from "./answers.js";
import { post } from "./embed.js";
import { put, refresh } from "./form.js";
import { answers, forget, page, save } from "./state.js";
import { announce, text } from "./strings.js";
import { all, has } from "./util.js";
import { showWink } from "./wink.js";

/** Flipgen events on the document, for the host page's analytics. */
export function emit(name, detail) {
  document.dispatchEvent(new CustomEvent(name, { detail: { site: page.journey.site, ...detail } }));
}

function progress(id) {
  const box = document.querySelector("[data-flip-progress]");
  if (!box) return;
  const end = page.screens[id].type === "end";
  const [n, of] = steps(page.journey, id, page.state.hist.length);
  box.hidden = false;
  box.querySelector("progress").value = end ? 100 : Math.round((100 * n) / (of + 1));
  box.querySelector("[data-flip-progress-text]").textContent = end ? text("complete") : text("step_of", n, { of });
}

export function show(id, focus) {
  const S = page.state;
  const sc = page.screens[id];
  const section = page.sections[id];
  S.at = id;
  save();
  for (const k in page.sections) page.sections[k].hidden = k !== id;
  for (const f of sc.fields || []) if (has(S.raw, f.id)) put(f, S.raw[f.id]);
  refresh();
  for (const b of all(section, "[data-flip-back]")) b.hidden = !S.hist.length || sc.type === "end";
  progress(id);
  if (sc.type === "wink") showWink(sc);
  if (focus) section.querySelector("h1,h2").focus();
  emit("flipgen:step", { screen: id, index: S.hist.length });
  post({ type: "flipgen:step", screen: id });
}

/** Forward to screen `id`; an end screen, or none, completes the journey. */
export function go(id) {
  const sc = page.screens[id];
  if (!sc || sc.type === "end") return complete(sc ? id : null);
  page.state.hist.push(page.state.at);
  show(id, true);
}

export function back() {
  if (page.state.hist.length) show(page.state.hist.pop(), true);
}

function complete(end) {
  const S = page.state;
  const then = page.journey.on_complete || {};
  const url = then.redirect && interp(then.redirect, answers(), true);
  emit("flipgen:complete", { screen: end, userId: S.uid });
  if (then.post_message !== false) post({ type: "flipgen:complete", screen: end });
  forget();
  page.finished = true;
  if (url && !/^\s*(javascript|data|vbscript):/i.test(url)) return location.assign(url);
  if (!end) return announce(text("done"));
  S.hist.push(S.at);
  show(end, true);
}
