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

/** Why Smile would refuse one metadata value: "type", "ascii", "value_length" or null. */
export function valueProblem(value) {
  if (typeof value !== "string") return "type";
  if (!ASCII.test(value)) return "ascii";
  return value.length > LIMITS.metadata.value_max ? "value_length" : null;
}

/** Every reason Smile would refuse this externalMetadata object, sorted; [] when it is fine. */
export function metadataProblems(metadata) {
  const keys = Object.keys(metadata);
  const found = new Set(keys.length > LIMITS.metadata.max_keys ? ["keys"] : []);
  for (const k of keys) {
    if (k.length > LIMITS.metadata.key_max) found.add("key_length");
    const p = valueProblem(metadata[k]);
    if (p) found.add(p);
  }
  return [...found].sort();
}
