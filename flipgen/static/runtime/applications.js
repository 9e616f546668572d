/* The visitor's application on the server (docs/applications.md): started once, each form
   screen saved when the visitor moves on (in order, never making them wait), what is still
   unsaved sent with sendBeacon when the page goes away, and the complete answers submitted at
   the end. The page keeps the opaque handle, never an application id or a Smile userId, and
   everything the server has not acknowledged stays in sessionStorage (state.js). */
import { callUrl } from "./api.js";
import { pageLang } from "./language.js";
import { emit } from "./screens.js";
import { answers, page, save } from "./state.js";

const appsUrl = (path) => page.journey.applications_endpoint.replace(/\/+$/, "") + path;

/** The shown answers of the fields of `screens`, as the server takes them: it fills `hidden` ones. */
function fieldAnswers(screens) {
  const a = answers();
  const out = {};
  for (const s of screens) {
    for (const f of s.fields || []) if (f.type !== "hidden" && f.id in a) out[f.id] = a[f.id];
  }
  return out;
}

let starting = null;

/** The application's handle, starting the application on the first call. */
export function ensureHandle() {
  const S = page.state;
  if (S.handle) return Promise.resolve(S.handle);
  if (!starting) {
    const body = { site: page.journey.site, params: S.params, locale: pageLang() || null };
    starting = callUrl(appsUrl(""), body)
      .then((d) => {
        S.handle = d.handle;
        S.minted = false;
        save();
        return d.handle;
      })
      .finally(() => {
        starting = null;
      });
  }
  return starting;
}

/** Forget a handle the server does not know (another environment, a reset). */
export function dropHandle() {
  page.state.handle = null;
  page.state.minted = false;
  save();
}

let saving = null;

/** Queue form screen `id` for saving and return at once; the queue goes out in order. */
export function saveScreen(id) {
  const S = page.state;
  S.unsaved = (S.unsaved || []).filter((x) => x !== id).concat(id);
  save();
  flush().catch(() => {});
}

async function sendQueue() {
  const S = page.state;
  while (S.unsaved && S.unsaved.length && !page.finished) {
    const id = S.unsaved[0];
    try {
      const handle = await ensureHandle();
      const body = { site: page.journey.site, screen: id, answers: fieldAnswers([page.screens[id]]) };
      await callUrl(appsUrl(`/${handle}/answers`), body);
    } catch (e) {
      if (e.code === "unknown_application") {
        dropHandle();
        continue;
      }
      // Network trouble: try again with the next save. A refusal is final for this save: the
      // submit checks every answer again and says what is wrong.
      if (e.kind !== "refused") return;
      emit("flipgen:error", { screen: id, code: e.code, status: e.status });
    }
    S.unsaved = S.unsaved.filter((x) => x !== id);
    save();
  }
}

/** Send the queued screens, one request at a time; resolves when the queue is empty or stuck. */
export function flush() {
  if (!saving) {
    saving = sendQueue().finally(() => {
      saving = null;
    });
  }
  return saving;
}

/** The page is going away: send what is not saved yet, without waiting for an answer. A beacon
    to our own origin; across origins a keepalive fetch, because a beacon carries credentials
    and the endpoint's CORS answer (rightly) does not allow them, so Chrome would drop it. */
export function beacon() {
  const S = page.state;
  if (!S || !S.handle || !S.unsaved || !S.unsaved.length || page.finished) return;
  const url = appsUrl(`/${S.handle}/answers`);
  const sameOrigin = new URL(url, location.href).origin === location.origin;
  for (const id of S.unsaved) {
    const body = JSON.stringify({ site: page.journey.site, screen: id, answers: fieldAnswers([page.screens[id]]) });
    if (sameOrigin && navigator.sendBeacon(url, new Blob([body], { type: "application/json" }))) continue;
    const init = { method: "POST", keepalive: true, credentials: "omit", body };
    fetch(url, { ...init, headers: { "Content-Type": "application/json" } }).catch(() => {});
  }
}

/** Submit every answer; resolves once the server acknowledged them (2xx), else throws a failure. */
export async function submitApplication() {
  const S = page.state;
  for (let attempt = 0; ; attempt++) {
    const handle = await ensureHandle();
    const accounts = Object.values(S.wink || {}).reduce((n, c) => n + c, 0);
    const body = { site: page.journey.site, answers: fieldAnswers(page.journey.screens), accounts };
    try {
      return await callUrl(appsUrl(`/${handle}/submit`), body);
    } catch (e) {
      // Submitted before (the answer to an earlier try was lost): nothing more to do.
      if (e.code === "already_submitted") return {};
      if (e.code !== "unknown_application" || attempt) throw e;
      dropHandle();
    }
  }
}
