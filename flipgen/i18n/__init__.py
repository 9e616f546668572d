"""Journeys in the visitor's language: overlays, built-in UI text, plural rules (docs/translations.md).

Modules: `locales` (CLDR facts via Babel, built-in strings in `strings/<lang>.yaml`), `overlay`
(the `<slug>.<lang>.yaml` model), `translations` (a site's languages, loaded with its checks),
`checks` (missing/orphaned keys, placeholders, plurals), `pages` (one page per language),
`extract` and `cli` (`flipgen translations status|extract`).
"""
