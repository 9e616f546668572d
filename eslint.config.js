// ESLint for the browser runtime, the other shipped scripts and the Node tests.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    // site_templates/*/embed.js is a Jinja template, not JavaScript until a build renders it.
    ignores: ["**/node_modules/", ".venv*/", "dist/", "build/", "tests/fixtures/", "site_templates/**/embed.js"],
  },
  js.configs.recommended,
  {
    // The units of flip.js: ES modules that build.py joins into one scope (flipgen/runtime.py),
    // so every top-level name is declared on its own and must be unique across units.
    files: ["flipgen/static/runtime/**/*.js"],
    languageOptions: { sourceType: "module", globals: globals.browser },
    rules: { "one-var": ["error", "never"] },
  },
  {
    files: ["flipgen/static/*.js", "flipgen/sandbox/*.js"],
    languageOptions: { sourceType: "script", globals: globals.browser },
  },
  {
    // The Node quickstart reference of the token benchmark (its own package.json: CommonJS).
    files: ["benchmarks/**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
  },
  {
    files: ["tests/**/*.mjs", "*.config.js"],
    languageOptions: { globals: globals.node },
  },
];
