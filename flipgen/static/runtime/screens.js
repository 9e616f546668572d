/* Routing between screens: show one, go forward, go back, finish. */
import { interp, steps } from "./answers.js";
import { post } from "./embed.js";
import { submitApplication } from "./applications.js";
import { mark, put, refresh } from "./form.js";
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

/** The journey is done: submit the answers, and only once the server has them (2xx) show the
    end screen or redirect. A failure keeps everything (sessionStorage) and offers a retry. */
async function complete(end) {
  if (page.sending) return;
  page.sending = true;
  retryBox(null);
  announce(text("sending"));
  try {
    await submitApplication();
  } catch (e) {
    page.sending = false;
    emit("flipgen:error", { screen: page.state.at, code: e.code || "network", status: e.status });
    return e.fields && e.code === "invalid_answers" ? fixAnswers(e.fields) : retryBox(e, end);
  }
  page.sending = false;
  finish(end);
}

function finish(end) {
  const S = page.state;
  const then = page.journey.on_complete || {};
  const url = then.redirect && interp(then.redirect, answers(), true);
  emit("flipgen:complete", { screen: end });
  if (then.post_message !== false) post({ type: "flipgen:complete", screen: end });
  forget();
  page.finished = true;
  if (url && !/^\s*(javascript|data|vbscript):/i.test(url)) return location.assign(url);
  if (!end) return announce(text("done"));
  S.hist.push(S.at);
  show(end, true);
}

/** Show (e: a failure) or hide (e: null) the "couldn't send" notice; its button retries. */
function retryBox(e, end) {
  const box = document.querySelector("[data-flip-submit]");
  if (!box) return;
  box.hidden = !e;
  if (!e) return;
  const message = text(e.kind === "busy" || e.kind === "unavailable" ? e.kind : "submit_failed");
  const button = box.querySelector("[data-flip-retry]");
  box.querySelector("[data-flip-submit-text]").textContent = message;
  button.textContent = text("retry");
  button.onclick = () => complete(end);
  announce(message);
  button.focus();
}

/** The server refused answers the page accepted (rules changed since the page loaded): go
    back to the first screen with one of them and show its messages there. */
function fixAnswers(fields) {
  const S = page.state;
  const path = S.hist.concat(S.at);
  const id = path.find((x) => (page.screens[x].fields || []).some((f) => has(fields, f.id)));
  if (!id) return retryBox({ kind: "refused" });
  S.hist = path.slice(0, path.indexOf(id));
  show(id, true);
  const bad = page.screens[id].fields.filter((f) => has(fields, f.id));
  for (const f of bad) mark(f, { message: fields[f.id] });
  announce(bad.map((f) => fields[f.id]).join(" "));
}
