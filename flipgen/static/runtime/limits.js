/* Limits shared with the checker and the token endpoint. They are defined once, in
   flipgen/limits.py, and reach the page in the journey data (`limits`); useLimits() installs
   them before anything reads them. Shared vectors: tests/vectors/limits.json. */

export let LIMITS = null;
export let PLACEHOLDER = null;

export function useLimits(limits) {
  LIMITS = limits;
  PLACEHOLDER = new RegExp(limits.placeholder, "g");
}

// Printable ASCII only: Smile refuses anything else in externalMetadata.
const ASCII = /^[\x20-\x7e]*$/;

/** Why Smile would refuse one metadata value: "type", "ascii", "value_length" or null. The keys
    need no check here: they are field and param names, which `flipgen check` keeps to Smile's
    limits (count and length) at build time. */
export function valueProblem(value) {
  if (typeof value !== "string") return "type";
  if (!ASCII.test(value)) return "ascii";
  return value.length > LIMITS.metadata.value_max ? "value_length" : null;
}
