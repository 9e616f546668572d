// The runtime's units for the Node tests, set up as a page sets them up: with the limits that
// flipgen/limits.py puts in the journey data (asked from Python, so there is no JS copy).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { useLimits } from "../../flipgen/static/runtime/limits.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const script = "import json, flipgen.limits as l; print(json.dumps(l.for_runtime()))";
export const LIMITS = JSON.parse(execFileSync(process.env.PYTHON || "python3", ["-c", script], { cwd: repo }));
useLimits(LIMITS);

export { evaluate } from "../../flipgen/static/runtime/conditions.js";
export { valueProblem } from "../../flipgen/static/runtime/limits.js";
export { validate } from "../../flipgen/static/runtime/validate.js";
export { effective, interp, metadata, route, steps } from "../../flipgen/static/runtime/answers.js";
