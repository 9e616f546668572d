/* Languages: plural choice, digits typed in other scripts, and which language's page to show.
   A site in several languages has one page per language (`<slug>/` for the default,
   `<slug>/<lang>/` for the others); the journey block names them in `langs`, default first. */
import { isObj } from "./util.js";

const CHOICE = "flipgen:lang";

/** The page's language (<html lang>). */
export const pageLang = () => document.documentElement.lang || "en";

/** A UI string: text, or a map of CLDR plural categories picked for `n` (`other` as the fallback).
    Calendar and digits are pinned, as the build's Babel checks assume. */
export function plural(value, n, lang) {
  if (!isObj(value)) return value;
  let category = "other";
  try {
    category = new Intl.PluralRules((lang || "en") + "-u-ca-gregory-nu-latn").select(+n);
  } catch {
    // An unknown tag: `other` is always there.
  }
  return Object.prototype.hasOwnProperty.call(value, category) ? value[category] : value.other;
}

// Zeros of the decimal digit blocks people type on phones: Arabic-Indic, Extended Arabic-Indic
// (Persian, Urdu), Devanagari, Bengali, Tamil, Thai.
const ZEROS = [0x660, 0x6f0, 0x966, 0x9e6, 0xbe6, 0xe50];
const NATIVE = /[\u0660-\u0669\u06f0-\u06f9\u0966-\u096f\u09e6-\u09ef\u0be6-\u0bef\u0e50-\u0e59\u066b\u066c]/g;

/** `s` with native digits as 0-9 (and the Arabic decimal and thousands marks as `.` and `,`). */
export function latinDigits(s) {
  return String(s).replace(NATIVE, (d) => {
    const c = d.charCodeAt(0);
    if (c === 0x66b) return ".";
    if (c === 0x66c) return ",";
    const zero = ZEROS.find((z) => c >= z && c <= z + 9);
    return String(c - zero);
  });
}

/** The language of `langs` a tag asks for: exact, else by its first subtag (es-MX → es-419). */
export function matchLang(tag, langs) {
  if (!tag) return null;
  const t = String(tag).toLowerCase();
  const primary = (x) => x.toLowerCase().split("-")[0];
  return langs.find((l) => l.toLowerCase() === t) || langs.find((l) => primary(l) === primary(t)) || null;
}

function remember(lang) {
  try {
    localStorage.setItem(CHOICE, lang);
  } catch {
    // Storage off: the choice lasts as long as the page.
  }
}

function saved() {
  try {
    return localStorage.getItem(CHOICE);
  } catch {
    return null;
  }
}

/** Relative URL of `lang`'s page from this one. */
function pageOf(journey, lang) {
  const up = journey.lang === journey.langs[0] ? "./" : "../";
  return up + (lang === journey.langs[0] ? "" : lang + "/");
}

/** The language to show: `?lang=` > the visitor's saved choice > the browser's languages > this
    page. Only the default page follows the saved choice and the browser (the other pages are
    where those lead), so the pages can never send the visitor round in a loop. True when the
    page is being replaced by another language's. */
export function chooseLanguage(journey) {
  const langs = journey.langs;
  if (!langs) return false;
  const asked = matchLang(new URLSearchParams(location.search).get("lang"), langs);
  if (asked) remember(asked);
  const onDefault = journey.lang === langs[0];
  const browser = () => (navigator.languages || [navigator.language]).map((t) => matchLang(t, langs)).find(Boolean);
  const want = asked || (onDefault ? matchLang(saved(), langs) || browser() : null);
  if (!want || want === journey.lang) return false;
  location.replace(pageOf(journey, want) + location.search + location.hash);
  return true;
}

/** The language links keep the link's query (the journey's params) and remember the choice. */
export function languageLinks() {
  const query = new URLSearchParams(location.search);
  query.delete("lang");
  const rest = query.toString();
  for (const a of document.querySelectorAll("[data-flip-lang]")) {
    if (rest) a.href = a.getAttribute("href").split("?")[0] + "?" + rest;
    a.addEventListener("click", () => remember(a.dataset.flipLang));
  }
}
