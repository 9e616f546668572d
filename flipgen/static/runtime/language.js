/* Languages: plural forms and digits typed in other scripts. (Which language's page a visitor
   sees is static/lang.js, loaded only by sites published in several languages.) */
import { isObj } from "./util.js";

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
// (Persian, Urdu), Devanagari, Bengali, Tamil, Thai. U+066B is the Arabic decimal separator.
const ZEROS = [0x660, 0x6f0, 0x966, 0x9e6, 0xbe6, 0xe50];

/** `s` with native digits as 0-9 (and the Arabic decimal separator as `.`). */
export function latinDigits(s) {
  return String(s).replace(/[٠-٩۰-۹०-९০-৯௦-௯๐-๙٫]/g, (d) => {
    const c = d.charCodeAt(0);
    return c === 0x66b ? "." : c - ZEROS.find((z) => c >= z && c <= z + 9);
  });
}
