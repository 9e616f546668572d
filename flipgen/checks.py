"""Cross checks that a schema alone cannot express (SPEC §3.3, §3.5, §3.7).

Each check reads the validated model and reports through the loader's positions, so every
message still points at `file:line:col`. All checks run; none stops at the first problem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

from . import conditions
from .errors import Diagnostic
from .loader import Loaded, Positions, did_you_mean, display_path, load_site
from .markdown import VAR_RE, has_raw_html, safe_url, unsafe_links
from .project import Project
from .schema import CHOICE_TYPES, TEXT_TYPES, EndScreen, FieldSpec, FormScreen, Rule, Site, WinkScreen

__all__ = [
    "CheckResult",
    "SiteOutcome",
    "check_project",
    "check_site",
    "load_and_check",
    "run_sites",
    "effective_next",
    "contrast_ratio",
    "METADATA_LIMIT",
]

METADATA_LIMIT = 5
AA_CONTRAST = 4.5
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Keys that only mean something for some field types (SPEC §3.6.1).
_APPLIES: dict[str, frozenset[str]] = {
    "min_length": TEXT_TYPES,
    "max_length": TEXT_TYPES,
    "pattern": TEXT_TYPES,
    "placeholder": TEXT_TYPES | {"number", "date", "select"},
    "min": frozenset({"number", "date"}),
    "max": frozenset({"number", "date"}),
    "step": frozenset({"number", "date"}),
    "options": CHOICE_TYPES,
    "value": frozenset({"hidden"}),
}

# Python-only regular expression syntax that ECMAScript rejects or reads differently.
_PY_ONLY = (
    (re.compile(r"\(\?P[<=>]"), "named groups are written `(?<name>…)` in JavaScript, not `(?P<name>…)`"),
    (re.compile(r"\(\?#"), "`(?#…)` comments are Python-only"),
    (re.compile(r"\(\?[aiLmsux]+[):]"), "inline flags such as `(?i)` are Python-only"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[AZz]"), "`\\A`, `\\Z` and `\\z` are Python-only: use `^` and `$`"),
    (re.compile(r"\(\?>"), "atomic groups `(?>…)` are not supported in JavaScript"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers (`*+`, `++`) are not supported in JavaScript"),
)


@dataclass
class CheckResult:
    """What `flipgen check` found: every loaded site and every diagnostic, sorted."""

    sites: list[Loaded] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _rules(screen: Any) -> list[Rule]:
    """The `next` rules as written (an `end` screen has none)."""
    return [] if isinstance(screen, EndScreen) else list(screen.next or [])


def effective_next(site: Site, index: int) -> list[dict[str, Any]]:
    """The routing of screen ``index`` as explicit rules: `[{"if": cond|None, "goto": id}]`.

    An `end` screen has none; a screen without `next` goes to the following screen, and the
    last screen without `next` has none (it completes the journey).
    """
    screen = site.screens[index]
    if isinstance(screen, EndScreen):
        return []
    if _rules(screen):
        return [{"if": rule.if_, "goto": rule.goto} for rule in _rules(screen)]
    if index + 1 < len(site.screens):
        return [{"if": None, "goto": site.screens[index + 1].id}]
    return []


def _relative_luminance(hex_color: str) -> float:
    h = hex_color.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = []
    for i in (0, 2, 4):
        c = int(h[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio between two `#rgb`/`#rrggbb` colours (1 to 21)."""
    la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


class _Site:
    """One site's check run: the model, its positions, and the diagnostics found so far."""

    def __init__(self, loaded: Loaded, project: Project | None, strict: bool) -> None:
        assert loaded.site is not None
        self.site: Site = loaded.site
        self.pos: Positions = loaded.positions
        self.path = loaded.path
        self.project = project
        self.strict = strict
        self.out: list[Diagnostic] = []
        self.fields: dict[str, tuple[int, int, FieldSpec]] = {}
        self.params = {p.name for p in self.site.params}
        self.screen_index = {s.id: i for i, s in enumerate(self.site.screens)}

    def error(self, path: tuple[str | int, ...], message: str, code: str, *, at_key: bool = False) -> None:
        self.out.append(self.pos.diag(path, message, at_key=at_key, code=code))

    def warn(self, path: tuple[str | int, ...], message: str, code: str) -> None:
        severity: Literal["error", "warning"] = "error" if self.strict else "warning"
        self.out.append(self.pos.diag(path, message, code=code, severity=severity))

    # ----------------------------------------------------------------- ids and fields
    def ids(self) -> None:
        seen_screens: dict[str, int] = {}
        for i, screen in enumerate(self.site.screens):
            if screen.id in seen_screens:
                first = self.pos.value(("screens", seen_screens[screen.id], "id"))
                self.error(
                    ("screens", i, "id"),
                    f"duplicate screen id `{screen.id}` (first used at line {first[1]})",
                    "duplicate-id",
                )
            else:
                seen_screens[screen.id] = i
            if isinstance(screen, FormScreen):
                for j, spec in enumerate(screen.fields):
                    if spec.id in self.fields:
                        fi, fj, _ = self.fields[spec.id]
                        first = self.pos.value(("screens", fi, "fields", fj, "id"))
                        self.error(
                            ("screens", i, "fields", j, "id"),
                            f"duplicate field id `{spec.id}` (first used at line {first[1]}); field ids are unique across the site",
                            "duplicate-id",
                        )
                    else:
                        self.fields[spec.id] = (i, j, spec)
        seen_params: set[str] = set()
        for k, param in enumerate(self.site.params):
            if param.name in seen_params:
                self.error(("params", k, "name"), f"duplicate param `{param.name}`", "duplicate-id")
            seen_params.add(param.name)
            if param.name in self.fields:
                self.error(
                    ("params", k, "name"),
                    f"param `{param.name}` has the same name as a field; rename one of them",
                    "duplicate-id",
                )
            if param.pattern is not None:
                self.regex(("params", k, "pattern"), param.pattern)

    def field_keys(self) -> None:
        for i, screen in enumerate(self.site.screens):
            if not isinstance(screen, FormScreen):
                continue
            for j, spec in enumerate(screen.fields):
                base = ("screens", i, "fields", j)
                for key, types in _APPLIES.items():
                    if key in spec.model_fields_set and spec.type not in types:
                        self.error(
                            base + (key,), f"`{key}` does not apply to a `{spec.type}` field", "field-key", at_key=True
                        )
                if spec.type != "hidden" and not spec.label:
                    self.error(
                        base, f"field `{spec.id}` needs a `label` (only hidden fields go without)", "field-label"
                    )
                if spec.type == "hidden":
                    if spec.value is None:
                        self.error(
                            base, f"hidden field `{spec.id}` needs a `value` (a literal or `${{param}}`)", "field-value"
                        )
                    if spec.required:
                        self.error(
                            base + ("required",), "a hidden field cannot be `required`", "field-key", at_key=True
                        )
                if spec.type in CHOICE_TYPES:
                    self.options(base, spec)
                if spec.pattern is not None:
                    self.regex(base + ("pattern",), spec.pattern)
                if spec.min_length is not None and spec.max_length is not None and spec.min_length > spec.max_length:
                    self.error(
                        base + ("min_length",),
                        f"`min_length` ({spec.min_length}) is more than `max_length` ({spec.max_length})",
                        "field-range",
                    )
                self.bounds(base, spec)
                for key in ("default", "value"):
                    raw = getattr(spec, key)
                    if isinstance(raw, str):
                        self.placeholders(base + (key,), raw, params_only=True)
                for key in ("label", "help"):
                    text = getattr(spec, key)
                    if text:
                        # Markdown in help and in consent labels (a link to the terms);
                        # other labels are plain text, so links are inert there.
                        if key == "help" or spec.type == "consent":
                            self.markdown(base + (key,), text)
                        self.placeholders(base + (key,), text)

    def options(self, base: tuple[str | int, ...], spec: FieldSpec) -> None:
        if not spec.options:
            self.error(base, f"`{spec.type}` field `{spec.id}` needs `options`", "field-options")
            return
        seen: set[str] = set()
        for k, option in enumerate(spec.options):
            if option.value in seen:
                self.error(base + ("options", k), f"duplicate option value `{option.value}`", "field-options")
            seen.add(option.value)
        if spec.default is not None:
            defaults = spec.default if isinstance(spec.default, list) else [spec.default]
            for d in defaults:
                if isinstance(d, str) and d not in seen and not VAR_RE.fullmatch(d):
                    self.error(
                        base + ("default",),
                        f"default `{d}` is not one of the options{did_you_mean(d, seen)}",
                        "field-options",
                    )

    def bounds(self, base: tuple[str | int, ...], spec: FieldSpec) -> None:
        if spec.type == "number":
            for key in ("min", "max"):
                value = getattr(spec, key)
                if isinstance(value, str) or isinstance(value, bool):
                    self.error(base + (key,), f"`{key}` of a number field must be a number", "field-range")
            if isinstance(spec.min, (int, float)) and isinstance(spec.max, (int, float)) and spec.min > spec.max:
                self.error(base + ("min",), f"`min` ({spec.min}) is more than `max` ({spec.max})", "field-range")
        elif spec.type == "date":
            for key in ("min", "max"):
                value = getattr(spec, key)
                if value is not None and not (isinstance(value, str) and ISO_DATE.match(value)):
                    self.error(base + (key,), f"`{key}` of a date field must be a date like 2024-01-31", "field-range")
            if isinstance(spec.min, str) and isinstance(spec.max, str) and spec.min > spec.max:
                self.error(base + ("min",), f"`min` ({spec.min}) is after `max` ({spec.max})", "field-range")

    def regex(self, path: tuple[str | int, ...], pattern: str) -> None:
        try:
            re.compile(pattern)
        except re.error as exc:
            self.error(path, f"`pattern` is not a valid regular expression: {exc}", "pattern")
            return
        for probe, why in _PY_ONLY:
            if probe.search(pattern):
                self.error(path, f"`pattern` must work in browsers too: {why}", "pattern")
                return

    # ----------------------------------------------------------------- text and links
    def markdown(self, path: tuple[str | int, ...], text: str) -> None:
        if "[" not in text and "<" not in text:  # no link or HTML can be written without these
            return
        for href in unsafe_links(text):
            self.error(
                path, f"link to `{href[:60]}` is not allowed: use an http(s), mailto: or tel: link", "unsafe-link"
            )
        if has_raw_html(text):
            self.warn(
                path,
                "raw HTML is shown as plain text, not rendered: use Markdown (`*emphasis*`, `[link](https://…)`)",
                "raw-html",
            )

    def placeholders(self, path: tuple[str | int, ...], text: str, *, params_only: bool = False) -> None:
        if "${" not in text:
            return
        known = self.params if params_only else self.params | set(self.fields)
        for name in VAR_RE.findall(text):
            if name not in known:
                what = "param" if params_only else "field or param"
                self.error(path, f"`${{{name}}}` names no {what}{did_you_mean(name, known)}", "unknown-placeholder")

    def texts(self) -> None:
        for i, screen in enumerate(self.site.screens):
            for key in ("title", "intro", "body"):
                text = getattr(screen, key, None)
                if text:
                    if key != "title":
                        self.markdown(("screens", i, key), text)
                    self.placeholders(("screens", i, key), text)
        redirect = self.site.on_complete.redirect
        if redirect:
            if not safe_url(redirect) or redirect.lower().startswith(("mailto:", "tel:")):
                self.error(
                    ("on_complete", "redirect"), "`redirect` must be an http(s) URL or a relative path", "unsafe-link"
                )
            self.placeholders(("on_complete", "redirect"), redirect)

    # ----------------------------------------------------------------- wink and metadata
    def wink(self) -> None:
        for i, screen in enumerate(self.site.screens):
            if isinstance(screen, WinkScreen) and self.site.wink is None and not screen.template_id:
                self.error(
                    ("screens", i),
                    f"wink screen `{screen.id}` has no template id: add a `wink:` block with `template_id` (or `template_id` on the screen)",
                    "wink-template",
                )
        if self.site.wink and self.site.wink.sdk_url and not self.site.wink.sdk_url.startswith("https://"):
            self.error(("wink", "sdk_url"), "`sdk_url` must be an https:// URL", "wink-sdk")

    def metadata(self) -> None:
        keys: list[tuple[tuple[str | int, ...], str]] = []
        for k, param in enumerate(self.site.params):
            if param.metadata:
                keys.append((("params", k, "metadata"), param.name))
        for name, (i, j, spec) in self.fields.items():
            if spec.metadata:
                keys.append((("screens", i, "fields", j, "metadata"), name))
        keys.sort(key=lambda item: self.pos.value(item[0])[1:])
        if len(keys) > METADATA_LIMIT:
            names = ", ".join(f"`{n}`" for _, n in keys)
            path = keys[METADATA_LIMIT][0]
            self.error(
                path,
                f"Smile accepts at most {METADATA_LIMIT} metadata keys; this site marks {len(keys)} ({names})",
                "metadata-limit",
            )

    # ----------------------------------------------------------------- assets and brand
    def assets(self) -> None:
        site_dir = self.path.parent
        refs: list[tuple[tuple[str | int, ...], str | None]] = [
            (("brand", "logo"), self.site.brand.logo),
            (("brand", "favicon"), self.site.brand.favicon),
            (("brand", "custom_css"), self.site.brand.custom_css),
        ]
        og = self.site.seo.og_image
        if og and not og.startswith(("https://", "http://")):
            refs.append((("seo", "og_image"), og))
        root = (self.project.root if self.project else site_dir).resolve()
        for path, ref in refs:
            if not ref:
                continue
            target = (site_dir / ref).resolve()
            if not target.is_relative_to(root):
                self.error(path, f"`{ref}` points outside the project; keep assets beside the site file", "asset")
            elif not target.is_file():
                self.error(
                    path,
                    f"asset `{ref}` not found (looked for {target.relative_to(root) if target.is_relative_to(root) else target})",
                    "asset",
                )

    def contrast(self) -> None:
        colors = self.site.brand.colors
        pairs = (
            ("text", "background", colors.text, colors.background),
            ("text", "surface", colors.text, colors.surface),
            ("on_primary", "primary", colors.on_primary, colors.primary),
        )
        for fg, bg, a, b in pairs:
            ratio = contrast_ratio(a, b)
            if ratio < AA_CONTRAST:
                path = ("brand", "colors", fg) if ("brand", "colors", fg) in self.pos.values else ("brand", "colors")
                self.warn(path, f"contrast of `{fg}` on `{bg}` is {ratio:.2f}:1, below WCAG AA (4.5:1)", "contrast")

    # ----------------------------------------------------------------- routing
    def routing(self) -> None:
        site = self.site
        edges: dict[str, list[str]] = {}
        for i, screen in enumerate(site.screens):
            rules = effective_next(site, i)
            targets = []
            for r, rule in enumerate(rules):
                path = ("screens", i, "next", r, "goto") if _rules(screen) else ("screens", i)
                if rule["goto"] not in self.screen_index:
                    self.error(
                        path,
                        f"`goto: {rule['goto']}` names no screen{did_you_mean(rule['goto'], self.screen_index)}",
                        "unknown-goto",
                    )
                else:
                    targets.append(rule["goto"])
                if _rules(screen) and r == len(rules) - 1 and rule["if"] is not None:
                    self.error(
                        ("screens", i, "next", r),
                        "the last rule must have no `if`, so every visitor has somewhere to go",
                        "last-rule-if",
                    )
                if _rules(screen) and r < len(rules) - 1 and rule["if"] is None:
                    self.error(
                        ("screens", i, "next", r + 1),
                        "this rule can never be reached: the rule before it has no `if`",
                        "unreachable-rule",
                    )
            if not rules and not isinstance(screen, EndScreen) and not site.on_complete.redirect:
                self.error(
                    ("screens", i),
                    f"screen `{screen.id}` is the last one and has no `next`: add an `end` screen after it",
                    "dead-end",
                )
            edges[screen.id] = targets
        # With a mistyped `goto` the graph has a hole: "unreachable" and "can never finish"
        # would only echo it, so they wait until it is fixed.
        whole = not any(d.code == "unknown-goto" for d in self.out)
        start = site.screens[0].id
        reachable = self._reach(start, edges)
        for i, screen in enumerate(site.screens):
            if whole and screen.id not in reachable:
                self.error(
                    ("screens", i, "id"),
                    f"screen `{screen.id}` can never be reached: no `next` leads to it",
                    "unreachable",
                )
        self._cycles(start, edges)
        completes = {
            s.id for i, s in enumerate(site.screens) if isinstance(s, EndScreen) or not effective_next(site, i)
        }
        reverse: dict[str, list[str]] = {s.id: [] for s in site.screens}
        for src, targets in edges.items():
            for t in targets:
                reverse.setdefault(t, []).append(src)
        can_finish: set[str] = set()
        for c in completes:
            can_finish |= self._reach(c, reverse)
        for i, screen in enumerate(site.screens):
            if whole and screen.id in reachable and screen.id not in can_finish:
                self.error(
                    ("screens", i, "id"),
                    f"from screen `{screen.id}` the journey can never finish: no path leads to an `end` screen",
                    "dead-end",
                )
        self.answered(edges, reachable)

    @staticmethod
    def _reach(start: str, edges: dict[str, list[str]]) -> set[str]:
        seen = {start}
        stack = [start]
        while stack:
            for t in edges.get(stack.pop(), []):
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return seen

    def _cycles(self, start: str, edges: dict[str, list[str]]) -> None:
        # Iterative DFS colouring; a back edge closes a cycle, reported at the `goto` that closes it.
        state: dict[str, int] = {}
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(edges.get(start, [])))]
        trail = [start]
        state[start] = 1
        reported: set[tuple[str, str]] = set()
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                trail.pop()
                continue
            if state.get(nxt) == 1 and (node, nxt) not in reported:
                reported.add((node, nxt))
                loop = trail[trail.index(nxt) :] + [nxt]
                i = self.screen_index[node]
                screen = self.site.screens[i]
                path: tuple[str | int, ...] = ("screens", i)
                if _rules(screen):
                    for r, rule in enumerate(_rules(screen)):
                        if rule.goto == nxt:
                            path = ("screens", i, "next", r, "goto")
                self.error(path, f"routing loops back: {' → '.join(loop)}; a journey must always move forward", "cycle")
            elif nxt not in state:
                state[nxt] = 1
                trail.append(nxt)
                stack.append((nxt, iter(edges.get(nxt, []))))

    def answered(self, edges: dict[str, list[str]], reachable: set[str]) -> None:
        """Conditions may only name fields answered on *every* path to where they are used."""
        site = self.site
        own: dict[str, set[str]] = {
            s.id: ({f.id for f in s.fields} if isinstance(s, FormScreen) else set()) for s in site.screens
        }
        everything = set(self.fields)
        before: dict[str, set[str]] = {s.id: set(everything) for s in site.screens}
        start = site.screens[0].id
        before[start] = set()
        preds: dict[str, list[str]] = {s.id: [] for s in site.screens}
        for src, targets in edges.items():
            if src in reachable:
                for t in targets:
                    preds[t].append(src)
        changed = True
        while changed:  # a must-analysis: intersect over predecessors until nothing moves
            changed = False
            for s in site.screens:
                if s.id == start or s.id not in reachable:
                    continue
                incoming = [before[p] | own[p] for p in preds[s.id]]
                new = set.intersection(*incoming) if incoming else set()
                if new != before[s.id]:
                    before[s.id] = new
                    changed = True
        for i, screen in enumerate(site.screens):
            known_before = before[screen.id] if screen.id in reachable else everything
            if _rules(screen):
                for r, rule in enumerate(_rules(screen)):
                    if rule.if_ is not None:
                        self.condition(
                            ("screens", i, "next", r, "if"), rule.if_, known_before | own[screen.id], screen.id
                        )
            if isinstance(screen, FormScreen):
                for j, spec in enumerate(screen.fields):
                    if spec.show_if is not None:
                        available = known_before | own[screen.id]
                        if spec.id in conditions.names(spec.show_if):
                            self.error(
                                ("screens", i, "fields", j, "show_if"),
                                f"field `{spec.id}` cannot depend on itself",
                                "condition",
                            )
                        else:  # said once above; "not answered yet" would repeat it
                            available = available - {spec.id}
                        self.condition(("screens", i, "fields", j, "show_if"), spec.show_if, available, screen.id)

    def condition(self, path: tuple[str | int, ...], cond: Any, available: set[str], screen_id: str) -> None:
        for problem in conditions.validate(cond):
            self.error(path, f"invalid condition: {problem}", "condition")
        for name in sorted(conditions.names(cond)):
            if name in self.params:
                continue
            inner = _name_path(cond, name)
            at, at_key = path + inner, bool(inner)
            if name not in self.fields:
                self.error(
                    at,
                    f"condition names `{name}`, which is no field or param{did_you_mean(name, set(self.fields) | self.params)}",
                    "condition-name",
                    at_key=at_key,
                )
            elif name not in available:
                self.error(
                    at,
                    f"condition on `{name}`, which is not answered on every path to screen `{screen_id}`",
                    "condition-order",
                    at_key=at_key,
                )

    def run(self) -> list[Diagnostic]:
        self.ids()
        self.field_keys()
        self.texts()
        self.wink()
        self.metadata()
        self.assets()
        self.contrast()
        self.routing()
        return self.out


def _name_path(cond: Any, name: str) -> tuple[str | int, ...]:
    """Where ``name`` is first written inside a condition (through `any`/`not`), or ()."""
    if not isinstance(cond, dict):
        return ()
    if name in cond and name not in conditions.COMBINATORS:
        return (name,)
    if "not" in cond:
        found = _name_path(cond["not"], name)
        if found:
            return ("not",) + found
    if isinstance(cond.get("any"), list):
        for k, sub in enumerate(cond["any"]):
            found = _name_path(sub, name)
            if found:
                return ("any", k) + found
    return ()


def check_site(loaded: Loaded, project: Project | None = None, *, strict: bool = False) -> list[Diagnostic]:
    """Cross checks of one loaded site; [] when it did not load (its load errors stand)."""
    if loaded.site is None:
        return []
    return _Site(loaded, project, strict).run()


# --------------------------------------------------------------------------- running every site

# Above this many sites, load+check (and a build's render stage) run in a fork pool: each
# worker sends back only small, picklable outcomes, never the models.
PARALLEL_THRESHOLD = 48


@dataclass
class SiteOutcome:
    """What one site produced: its slug, every diagnostic, and the stage's result when clean."""

    path: Path
    slug: str | None
    diagnostics: list[Diagnostic]
    loaded: Loaded | None = None
    payload: Any = None
    slug_at: tuple[str, int, int] = ("", 1, 1)  # where `slug:` is written (or the file start)


Stage = Callable[[Loaded, Any], Any]


def load_and_check(project: Project, path: Path, *, strict: bool = False, file: str | None = None) -> Loaded:
    """Load one site file of ``project`` (with the project's `defaults`) and run every check.

    ``file`` is the name diagnostics show (default: the path relative to the working folder).
    """
    defaults = project.config.defaults or None
    loaded = load_site(
        path, defaults=defaults, defaults_positions=project.config_positions if defaults else None, file=file
    )
    loaded.diagnostics.extend(check_site(loaded, project, strict=strict))
    return loaded


def _one(project: Project, path: Path, strict: bool, keep: bool, stage: Stage | None, arg: Any) -> SiteOutcome:
    loaded = load_and_check(project, path, strict=strict)
    slug = loaded.site.slug if loaded.site else None
    outcome = SiteOutcome(
        path, slug, loaded.diagnostics, loaded if keep else None, slug_at=loaded.positions.value(("slug",))
    )
    if stage is not None and loaded.site is not None and not any(d.severity == "error" for d in loaded.diagnostics):
        outcome.payload = stage(loaded, arg)
    return outcome


def _chunk(job: tuple[Path, list[Path], bool, Stage | None, Any]) -> list[SiteOutcome]:
    root, paths, strict, stage, arg = job
    from .project import open_project  # the worker opens the project itself (cheap, picklable args)

    project = open_project(root)
    return [_one(project, path, strict, False, stage, arg) for path in paths]


def run_sites(
    project: Project,
    *,
    strict: bool = False,
    only: Iterable[str] | None = None,
    stage: Stage | None = None,
    stage_arg: Any = None,
    keep_loaded: bool = False,
    jobs: int | None = None,
) -> tuple[list[SiteOutcome], list[Diagnostic]]:
    """Load and check each site (and run ``stage`` on each clean one), serially or in a pool.

    Returns the outcomes in file order and every diagnostic, sorted: the project's own, each
    site's, duplicate slugs, and names in ``only`` that match no site.
    """
    diagnostics = list(project.diagnostics)
    files = project.site_files()
    if not files:
        diagnostics.append(
            Diagnostic(
                project.config_path.name,
                1,
                1,
                f"no site files found in `{project.config.sites_dir}/` (expected `{project.config.sites_dir}/<slug>.yaml`)",
                code="no-sites",
            )
        )
        return [], diagnostics
    wanted = set(only) if only else None
    if wanted is not None:
        # Cheap pre-filter by file name; a slug set inside a file is matched after loading.
        by_stem = [p for p in files if p.stem in wanted]
        candidates = by_stem if len(by_stem) == len(wanted) else files
    else:
        candidates = files
    jobs = jobs or (os.cpu_count() or 1)
    if jobs > 1 and len(candidates) >= PARALLEL_THRESHOLD and not keep_loaded:
        size = max(8, len(candidates) // (jobs * 4))
        chunks = [
            (project.root, candidates[i : i + size], strict, stage, stage_arg) for i in range(0, len(candidates), size)
        ]
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            outcomes = [o for part in pool.map(_chunk, chunks) for o in part]
    else:
        outcomes = [_one(project, p, strict, keep_loaded, stage, stage_arg) for p in candidates]
    kept: list[SiteOutcome] = []
    owners: dict[str, SiteOutcome] = {}
    for outcome in outcomes:
        slug = outcome.slug or outcome.path.stem
        if wanted is not None and slug not in wanted:
            continue
        kept.append(outcome)
        diagnostics.extend(outcome.diagnostics)
        if outcome.slug is not None:
            first = owners.get(outcome.slug)
            if first is not None:
                file, line, col = outcome.slug_at
                diagnostics.append(
                    Diagnostic(
                        file or display_path(outcome.path),
                        line,
                        col,
                        f"slug `{outcome.slug}` is already used by {display_path(first.path)}",
                        code="duplicate-slug",
                    )
                )
                outcome.payload = None
            else:
                owners[outcome.slug] = outcome
    if wanted is not None:
        found = {o.slug or o.path.stem for o in kept}
        for missing in sorted(wanted - found):
            diagnostics.append(
                Diagnostic(
                    project.config.sites_dir,
                    1,
                    1,
                    f"no site `{missing}`{did_you_mean(missing, [p.stem for p in files])}",
                    code="unknown-site",
                )
            )
    diagnostics.sort(key=lambda d: (d.file, d.line, d.col, d.message))
    return kept, diagnostics


def check_project(
    project: Project,
    *,
    strict: bool = False,
    only: Iterable[str] | None = None,
    keep_loaded: bool = True,
    jobs: int | None = None,
) -> CheckResult:
    """Load and check every site of a project (or only the slugs in ``only``).

    With ``keep_loaded=False`` the loaded models are not kept (``result.sites`` is empty),
    which lets large projects be checked in parallel; ``result.slugs`` is always set.
    """
    outcomes, diagnostics = run_sites(project, strict=strict, only=only, keep_loaded=keep_loaded, jobs=jobs)
    return CheckResult(
        sites=[o.loaded for o in outcomes if o.loaded is not None],
        diagnostics=diagnostics,
        slugs=sorted({o.slug for o in outcomes if o.slug}),
        checked=len(outcomes),
    )
