/* The bot check before a mint (site `bot_protection`, Cloudflare Turnstile): the widget sits
   above the connect button of each Wink screen; its token travels once, in the mint request
   (`turnstile`), and the widget is reset for the next attempt. The page loads Cloudflare's
   api.js (render=explicit); this unit only renders into [data-flip-turnstile]. */
import { page } from "./state.js";

const widgets = {}; // screen id → {id, token}

export const botProtected = () => !!page.journey.bot_protection;

function render(sc) {
  const box = page.sections[sc.id].querySelector("[data-flip-turnstile]");
  const ts = window.turnstile;
  if (!box || !ts || widgets[sc.id]) return;
  const w = { id: null, token: null };
  widgets[sc.id] = w;
  w.id = ts.render(box, {
    sitekey: page.journey.bot_protection.site_key,
    action: "mint",
    callback: (token) => {
      w.token = token;
    },
    "expired-callback": () => {
      w.token = null;
    },
    "error-callback": () => {
      w.token = null;
    },
  });
}

/** Show the widget on a Wink screen; Cloudflare's script may still be loading. */
export function showBotCheck(sc) {
  if (!botProtected()) return;
  if (window.turnstile) render(sc);
  else window.addEventListener("load", () => render(sc), { once: true });
}

/** The check's token for a mint, or null when the visitor has not passed it (yet). */
export function botToken(sc) {
  const w = widgets[sc.id];
  return (w && w.token) || null;
}

/** A token is good for one request: clear it and ask the widget for a new one. */
export function botTokenUsed(sc) {
  const w = widgets[sc.id];
  if (!w) return;
  w.token = null;
  if (window.turnstile) window.turnstile.reset(w.id);
}
