/* Start: read the journey, resume the session or take the params from the query string, and
   listen. Runs last: every other unit is defined by then. */
import { framed, watchHeight } from "./embed.js";
import { beacon, flush } from "./applications.js";
import { changed, submitForm } from "./form.js";
import { useLimits } from "./limits.js";
import { back, emit, go, show } from "./screens.js";
import { answers, fresh, page, restore, usePage } from "./state.js";
import { text, useStrings } from "./strings.js";
import { route } from "./answers.js";
import { openWink } from "./wink.js";

const json = (id) => {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
};

/** Hide the screens and say which required params the link lacks. */
function brokenLink(missing) {
  const alert = document.querySelector("[data-flip-alert]");
  for (const k in page.sections) page.sections[k].hidden = true;
  alert.lastElementChild.textContent = text("missing", missing.join(", "));
  alert.hidden = false;
  emit("flipgen:error", { code: "missing_param", params: missing });
}

function listen() {
  document.addEventListener("submit", (e) => {
    const s = e.target.closest("[data-flip-screen]");
    const sc = s && page.screens[s.dataset.flipScreen];
    if (!sc) return;
    e.preventDefault();
    if (sc.id !== page.state.at || page.finished || page.sending) return;
    if (sc.type === "form") submitForm(sc);
    else if (sc.type === "wink") openWink(sc);
  });
  document.addEventListener("click", (e) => {
    const b = e.target.closest("[data-flip-back],[data-flip-skip]");
    if (!b || page.finished || page.sending) return;
    if (b.hasAttribute("data-flip-skip")) go(route(page.screens[page.state.at], answers()));
    else back();
  });
  document.addEventListener("input", changed);
  document.addEventListener("change", changed);
  // Leaving the page (tab closed, navigation, app switch on mobile): send what is unsaved.
  window.addEventListener("pagehide", beacon);
}

function boot() {
  const journey = json("flip-journey");
  // lang.js is taking the visitor to their language's page.
  if (!journey || document.documentElement.hasAttribute("data-flip-leaving")) return;
  useLimits(journey.limits);
  useStrings(json("flip-text"));
  usePage(journey);
  page.state = restore();
  if (!page.state) {
    const missing = [];
    page.state = fresh(new URLSearchParams(location.search), missing);
    if (missing.length) return brokenLink(missing);
  }
  if (framed()) watchHeight();
  listen();
  show(page.state.at, false);
  // Screens a previous page of this session could not save go out now.
  flush().catch(() => {});
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
