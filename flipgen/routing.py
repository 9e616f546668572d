"""Routing checks (SPEC §3.5): every `goto` names a screen, every screen is reachable, every
journey can finish, nothing loops back, and conditions only name fields answered on every
path to where they are used. Also `effective_next`, the routing as explicit rules that the
build writes into the journey data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from . import conditions
from .errors import did_you_mean
from .schema import EndScreen, FormScreen, Rule, Site
from .yamlpos import Path_

__all__ = ["effective_next", "rules_of", "RoutingCheck"]


class Report(Protocol):
    """How a check reports an error at a data path (the site check's `error`)."""

    def __call__(self, path: Path_, message: str, code: str, *, at_key: bool = False) -> None: ...


def rules_of(screen: Any) -> list[Rule]:
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
    if rules_of(screen):
        return [{"if": rule.if_, "goto": rule.goto} for rule in rules_of(screen)]
    if index + 1 < len(site.screens):
        return [{"if": None, "goto": site.screens[index + 1].id}]
    return []


class RoutingCheck:
    """The routing checks of one site, reported through ``error``."""

    def __init__(self, site: Site, fields: set[str], params: set[str], error: Report) -> None:
        self.site = site
        self.fields = fields  # every field id of the site
        self.params = params
        self.error = error
        self.screen_index = {s.id: i for i, s in enumerate(site.screens)}
        self.broken_goto = False

    def run(self) -> None:
        site = self.site
        edges = self._edges()
        # With a mistyped `goto` the graph has a hole: "unreachable" and "can never finish"
        # would only echo it, so they wait until it is fixed.
        whole = not self.broken_goto
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

    def _edges(self) -> dict[str, list[str]]:
        """The routing graph (screen id -> screen ids it can go to), reporting each bad rule."""
        site = self.site
        edges: dict[str, list[str]] = {}
        for i, screen in enumerate(site.screens):
            rules = effective_next(site, i)
            written = bool(rules_of(screen))
            targets = []
            for r, rule in enumerate(rules):
                path = ("screens", i, "next", r, "goto") if written else ("screens", i)
                if rule["goto"] not in self.screen_index:
                    self.broken_goto = True
                    self.error(
                        path,
                        f"`goto: {rule['goto']}` names no screen{did_you_mean(rule['goto'], self.screen_index)}",
                        "unknown-goto",
                    )
                else:
                    targets.append(rule["goto"])
                if written and r == len(rules) - 1 and rule["if"] is not None:
                    self.error(
                        ("screens", i, "next", r),
                        "the last rule must have no `if`, so every visitor has somewhere to go",
                        "last-rule-if",
                    )
                if written and r < len(rules) - 1 and rule["if"] is None:
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
        return edges

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
                if rules_of(screen):
                    for r, rule in enumerate(rules_of(screen)):
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
            if rules_of(screen):
                for r, rule in enumerate(rules_of(screen)):
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
