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

/** A request body for the server: the site, `extra`, and the shown answers of the fields of
    `screens` (the server fills `hidden` ones). */
function appBody(screens, extra) {
  const a = answers();
  const out = {};
  for (const s of screens) {
    for (const f of s.fields || []) if (f.type !== "hidden" && f.id in a) out[f.id] = a[f.id];
  }
  return { site: page.journey.site, ...extra, answers: out };
}

/** The body saving form screen `id`. */
const screenBody = (id) => appBody([page.screens[id]], { screen: id });

/** Set the handle (null: forget one the server does not know) and save the state. */
function setHandle(handle) {
  page.state.handle = handle;
  page.state.minted = false;
  save();
  return handle;
}

let starting = null;

/** The application's handle, starting the application on the first call. */
export function ensureHandle() {
  const S = page.state;
  if (S.handle) return Promise.resolve(S.handle);
  starting ||= callUrl(appsUrl(""), { site: page.journey.site, params: S.params, locale: pageLang() || null })
    .then((d) => setHandle(d.handle))
    .finally(() => {
      starting = null;
    });
  return starting;
}

export const dropHandle = () => setHandle(null);

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
  while (S.unsaved?.length && !page.finished) {
    const id = S.unsaved[0];
    try {
      await callUrl(appsUrl(`/${await ensureHandle()}/answers`), screenBody(id));
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
  saving ||= sendQueue().finally(() => {
    saving = null;
  });
  return saving;
}

/** The page is going away: send what is not saved yet, without waiting for an answer. A beacon
    to our own origin; across origins a keepalive fetch, because a beacon carries credentials
    and the endpoint's CORS answer (rightly) does not allow them, so Chrome would drop it. */
export function beacon() {
  const S = page.state;
  if (!S?.handle || !S.unsaved?.length || page.finished) return;
  const url = appsUrl(`/${S.handle}/answers`);
  const sameOrigin = new URL(url, location.href).origin === location.origin;
  for (const id of S.unsaved) {
    const body = JSON.stringify(screenBody(id));
    if (sameOrigin && navigator.sendBeacon(url, new Blob([body], { type: "application/json" }))) continue;
    const init = { method: "POST", keepalive: true, credentials: "omit", body };
    fetch(url, { ...init, headers: { "Content-Type": "application/json" } }).catch(() => {});
  }
}

/** Submit every answer; resolves once the server acknowledged them (2xx), else throws a failure. */
export async function submitApplication() {
  for (let attempt = 0; ; attempt++) {
    const handle = await ensureHandle();
    const accounts = Object.values(page.state.wink || {}).reduce((n, c) => n + c, 0);
    try {
      return await callUrl(appsUrl(`/${handle}/submit`), appBody(page.journey.screens, { accounts }));
    } catch (e) {
      // Submitted before (the answer to an earlier try was lost): nothing more to do.
      if (e.code === "already_submitted") return {};
      if (e.code !== "unknown_application" || attempt) throw e;
      dropHandle();
    }
  }
}
