/* Which language's page a visitor sees, for a site published in several (docs/translations.md);
 * lang.css styles the switcher.
 *
 * Loaded before flip.js, and only by the pages of such sites: a single-language page pays
 * nothing for it. The journey block names this page's language (`lang`) and all of them
 * (`langs`, the default first). The choice: `?lang=` > the visitor's saved choice > the
 * browser's languages > this page. Only the default page follows the saved choice and the
 * browser (the other pages are where those lead), so the pages can never send a visitor
 * round in a loop. While it leaves, <html data-flip-leaving> tells flip.js not to start.
 */
(() => {
  "use strict";

  const block = document.getElementById("flip-journey");
  const journey = block ? JSON.parse(block.textContent) : {};
  const langs = journey.langs;
  if (!langs) return;
  const first = langs[0];

  /** The language of `langs` a tag asks for: exact, else by its first subtag (es-MX → es-419). */
  const primary = (x) => String(x).toLowerCase().split("-")[0];
  const match = (tag) =>
    langs.find((l) => l.toLowerCase() === String(tag).toLowerCase()) || langs.find((l) => primary(l) === primary(tag));

  /** The saved choice; with `lang`, save it. Storage may be off: then nothing lasts. */
  const choice = (lang) => {
    try {
      return lang ? localStorage.setItem("flipgen:lang", lang) : localStorage.getItem("flipgen:lang");
    } catch {
      return null;
    }
  };

  const query = new URLSearchParams(location.search);
  const asked = match(query.get("lang"));
  if (asked) choice(asked);
  const onDefault = journey.lang === first;
  const browser = () => (navigator.languages || []).map(match).find(Boolean);
  const want = asked || (onDefault && (match(choice()) || browser()));
  if (want && want !== journey.lang) {
    document.documentElement.setAttribute("data-flip-leaving", "");
    location.replace((onDefault ? "./" : "../") + (want === first ? "" : want + "/") + location.search);
    return;
  }

  // The language links keep the page's query (the journey's params) and remember the choice.
  query.delete("lang");
  for (const a of document.querySelectorAll("[data-flip-lang]")) {
    if (query.size) a.search = query;
    a.addEventListener("click", () => choice(a.dataset.flipLang));
  }
})();
