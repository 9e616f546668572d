/* Wink screens (SPEC §4.4): get a token from the endpoint, open Smile's widget, count the
   accounts connected, move on when there are enough. */
import { metadata, route } from "./answers.js";
import { callEndpoint, failure } from "./api.js";
import { dropHandle, ensureHandle } from "./applications.js";
import { pageLang } from "./language.js";
import { emit, go } from "./screens.js";
import { answers, page, save } from "./state.js";
import { announce, text } from "./strings.js";

let busy = false;
let expiries = 0;

const need = (sc) => Math.max(1, sc.wink.min_accounts || 0);

/** The status line under the button; an error also turns the button into "Try again". */
function status(sc, message, error) {
  const p = page.sections[sc.id].querySelector("[data-flip-status]");
  const b = page.sections[sc.id].querySelector("[data-flip-open]");
  p.textContent = message;
  p.hidden = !message;
  p.classList.toggle("flip-status--error", !!error);
  b.dataset.label = b.dataset.label || b.textContent;
  b.textContent = error ? text("retry") : b.dataset.label;
  b.removeAttribute("aria-disabled");
  busy = false;
  if (error) {
    announce(message);
    b.focus();
  }
}

export function showWink(sc) {
  const count = page.state.wink[sc.id] || 0;
  status(sc, count ? text("connected", count) : "");
}

// The bot check's box (site `bot_protection`; static/bot.js keeps its token in data-token).
const botBox = (sc) => page.journey.bot_protection && page.sections[sc.id].querySelector("[data-flip-turnstile]");

// A failed token request: the text says what happened (api.js kinds); "network" is "token".
function fail(sc, e) {
  const kind = e.kind === "network" ? "token" : e.kind || "token";
  status(sc, text(kind), true);
  emit("flipgen:error", { screen: sc.id, code: e.code || "network", status: e.status });
}

/* The application's handle, not a Smile userId, names the visitor (docs/applications.md):
   a mint with the handle links the new Smile user to the application on the server, and a
   refresh with it mints a fresh token for that user. The browser never sees the userId. */
async function token(sc, tries = 0) {
  const S = page.state;
  const handle = await ensureHandle();
  const refreshing = S.minted;
  const body = { site: page.journey.site, screen: sc.id, handle };
  if (!refreshing) {
    body.metadata = metadata(page.journey, answers());
    body.locale = pageLang(); // the language the visitor uses, for the application record
  }
  const bot = !refreshing && botBox(sc);
  if (bot) {
    body.turnstile = bot.dataset.token;
    if (!body.turnstile) throw failure("bot", "bot_check_pending");
  }
  let d;
  try {
    d = await callEndpoint(refreshing ? "/refresh" : "", body);
  } catch (e) {
    // No Smile user for this application yet (refresh), or an application this server does
    // not know (another environment, a reset): mint, with a new application if need be.
    if (tries > 1 || e.status !== 404 || !/^(not_found|unknown_application)$/.test(e.code)) throw e;
    if (e.code === "unknown_application") dropHandle();
    S.minted = false;
    save();
    return token(sc, tries + 1);
  } finally {
    // A token is good for one request: static/bot.js drops it and resets the check.
    if (bot) bot.dispatchEvent(new CustomEvent("flipgen:bot-used", { bubbles: true }));
  }
  if (!d.userToken) throw failure("unavailable", "invalid_response", 200);
  S.minted = true;
  save();
  return d;
}

export function openWink(sc) {
  if (busy) return;
  busy = true;
  page.sections[sc.id].querySelector("[data-flip-open]").setAttribute("aria-disabled", "true");
  token(sc).then(
    (t) => launch(sc, t),
    (e) => fail(sc, e),
  );
}

function launch(sc, t) {
  const w = sc.wink;
  const Modal = window.SmileLinkModal;
  if (typeof Modal !== "function") {
    status(sc, text("sdk"), true);
    return emit("flipgen:error", { screen: sc.id, code: "sdk_unavailable" });
  }
  const S = page.state;
  const tally = (sign) => (x) => {
    const n = (x && x.uploads && x.uploads.length) || 1;
    S.wink[sc.id] = Math.max(0, (S.wink[sc.id] || 0) + sign * n);
    save();
  };
  const modal = new Modal({
    userToken: t.userToken,
    templateId: t.templateId || w.template_id,
    providers: w.providers || [],
    topProviders: w.top_providers || [],
    enableUpload: !!w.enable_upload,
    onAccountCreated() {},
    onAccountConnected: tally(1),
    onAccountRemoved: tally(-1),
    onUploadsCreated: tally(1),
    onUploadsRemoved: tally(-1),
    onAccountError: (x) => emit("flipgen:error", { screen: sc.id, code: "account_error", errorCode: x && x.errorCode }),
    onUIEvent() {
      expiries = 0;
    },
    onTokenExpired() {
      try {
        if (modal.close) modal.close();
      } catch {
        // Already gone.
      }
      if (++expiries > 3) return fail(sc, failure("network", "token_expired"));
      token(sc).then(
        (t2) => launch(sc, t2),
        (e) => fail(sc, e),
      );
    },
    onClose(r) {
      const reason = typeof r === "string" ? r : r && r.reason;
      const count = S.wink[sc.id] || 0;
      busy = false;
      if (S.at !== sc.id) return;
      if (count >= need(sc)) return go(route(sc, answers()));
      const why = count
        ? text("fewer", count, { need: need(sc) })
        : text(/^(exit|error)$/.test(reason) ? reason : "close");
      status(sc, why, true);
    },
  });
  modal.open();
}
