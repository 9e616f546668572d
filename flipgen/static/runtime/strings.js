/* What the visitor reads: the theme's UI text (the #flip-text block, strings.html) and the
   live region that announces changes to screen readers. Every text goes through text(). */
import { pageLang, plural } from "./language.js";
import { has } from "./util.js";

/** The theme's messages (also what validate() gets as defaults). */
export let STRINGS = {};

export function useStrings(strings) {
  STRINGS = strings || {};
}

/** The text for `key` (its plural form for `n`), `{n}` and the names in `more` filled in; the
    key itself if unknown. */
export function text(key, n, more) {
  const values = { n, ...more };
  return String(plural(STRINGS[key], n, pageLang()) || key).replace(/\{(\w+)\}/g, (m, x) =>
    has(values, x) ? values[x] : m,
  );
}

/** Tell screen readers (the polite live region); re-set after a beat so repeats are read. */
export function announce(message) {
  const live = document.getElementById("flip-live");
  live.textContent = "";
  setTimeout(() => {
    live.textContent = message;
  }, 30);
}
