"""Pydantic validation errors -> marketer-readable, positioned Diagnostics.

The plain data from `yamlpos` is validated by the schema's pydantic models; each error's
location is mapped back to the data path (dropping the tags pydantic inserts for unions) and
from there to the key or value's `file:line:col`. Messages name the YAML key, say what was
expected and suggest the closest valid word.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from .errors import Diagnostic, did_you_mean
from .yamlpos import Path_, Positions

__all__ = ["validate"]

_TYPE_WORDS = {
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "list_type": "a list (`- item` lines or `[a, b]`)",
    "dict_type": "a mapping (`key: value` lines)",
    "model_type": "a mapping (`key: value` lines)",
    "model_attributes_type": "a mapping (`key: value` lines)",
}

_PATTERN_HELP = {
    ("screen", "id"): "a screen id starts with a lowercase letter, then up to 49 lowercase letters, digits, `-` or `_`",
    ("rule", "goto"): "a screen id starts with a lowercase letter, then up to 49 lowercase letters, digits, `-` or `_`",
    (
        "screen",
        "next",
    ): "a screen id starts with a lowercase letter, then up to 49 lowercase letters, digits, `-` or `_`",
    ("field", "id"): "a field id starts with a lowercase letter, then up to 49 lowercase letters, digits or `_`",
    ("site", "slug"): "a slug is lowercase letters, digits and `-`, starting with a letter or digit (at most 63)",
    ("site", "lang"): "use a BCP 47 language tag such as `en`, `en-GB` or `es-419`",
    ("site", "theme"): "a theme is a folder name: letters, digits, `-` and `_`",
    ("colors", "*"): 'a colour is `#rgb` or `#rrggbb`, e.g. `#0b5fff` (quote it: `"#0b5fff"`)',
    ("param", "name"): "a param name starts with a letter, then up to 49 letters, digits or `_`",
    ("config", "base_url"): "use an absolute http(s) URL such as `https://apply.acme.example`",
    ("config", "allowed_origins"): "an origin is `scheme://host[:port]`, e.g. `https://www.acme.example`, with no path",
    ("webhook", "url"): "use an absolute https URL such as `https://hooks.example.com/flipgen`",
    ("webhook", "secret_env"): "give the NAME of an environment variable, such as `CRM_WEBHOOK_SECRET`",
    ("webhook", "*"): "a site slug is lowercase letters, digits and `-`",
}


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            lists = [a for a in args if typing.get_origin(_strip(a)) is list]
            if len(args) == 1:
                tp = args[0]
            else:
                return tuple(models) or tuple(lists) or tp
        else:
            return tp


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _member(union: tuple[Any, ...], cur: Any) -> Any:
    """The member of a union of models that the data's `type` names (else its list member)."""
    chosen = None
    for member in union:
        if isinstance(member, type) and issubclass(member, BaseModel):
            lit = member.model_fields.get("type")
            if lit is not None and isinstance(cur, dict) and typing.get_args(lit.annotation) == (cur.get("type"),):
                chosen = member
    if chosen is None and union and typing.get_origin(_strip(union[0])) is list:
        chosen = union[0]
    return chosen


def _walk(root: type[BaseModel], data: Any, loc: tuple[Any, ...]) -> tuple[Path_, Any, bool]:
    """Map a pydantic error location to a data path, and the model class found at its parent.

    Returns (data_path, model_at_parent_or_None, via_union): discriminator tags that pydantic
    inserts (`('screens', 0, 'form', …)`) and the member names of scalar unions
    (`('min', 'float')`) are dropped; via_union says the latter happened.
    """
    path: list[str | int] = []
    tp: Any = root
    cur = data
    parent_model: Any = root
    via_union = False
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, tuple):  # a union of models: pick the one the data's `type` names
            tp = _member(tp, cur)
            if isinstance(part, str) and isinstance(cur, dict) and cur.get("type") == part and part not in cur:
                continue
        if isinstance(part, int):
            if isinstance(cur, list) and 0 <= part < len(cur):
                cur = cur[part]
            else:
                cur = None
            path.append(part)
            origin = typing.get_origin(_strip(tp)) if tp is not None else None
            tp = typing.get_args(_strip(tp))[0] if origin is list else None
            continue
        key = str(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            parent_model = tp
            field = tp.model_fields.get(key)
            if field is None:
                for _name, f in tp.model_fields.items():
                    if f.alias == key:
                        field = f
                        break
            tp = field.annotation if field is not None else None
        elif typing.get_origin(_strip(tp) if tp is not None else None) is dict:
            parent_model = None
            tp = typing.get_args(_strip(tp))[1]
        elif not (isinstance(cur, dict) and key in cur):
            via_union = True  # `float`, `list[str]`…: pydantic names a member of a union, not a key
            continue
        else:
            parent_model = None
            tp = None
        path.append(key)
        cur = cur.get(key) if isinstance(cur, dict) else None
    return tuple(path), parent_model, via_union


def _keys_of(model: Any) -> list[str]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _kind(model: Any) -> str:
    name = getattr(model, "__name__", "")
    return {
        "Site": "site",
        "Config": "config",
        "FormScreen": "screen",
        "WinkScreen": "screen",
        "EndScreen": "screen",
        "FieldSpec": "field",
        "Rule": "rule",
        "Colors": "colors",
        "Param": "param",
        "Brand": "brand",
        "Wink": "wink",
        "WebhookTarget": "webhook",
    }.get(name, name.lower())


# How an unknown key's owner is named: "unknown key `x` in a field".
_OWNERS = {
    "site": "",
    "screen": "a screen",
    "field": "a field",
    "rule": "a routing rule",
    "param": "a param",
    "colors": "`brand.colors`",
    "brand": "`brand`",
    "wink": "`wink`",
    "option": "an option",
    "oncomplete": "`on_complete`",
    "seo": "`seo`",
    "config": "flipgen.yaml",
    "webhook": "a webhook",
}


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "…"


class _Err(typing.NamedTuple):
    """One pydantic error with what the message handlers need around it."""

    kind: str
    name: str  # the key the error is about ("" for a list item or the root)
    ctx: dict[str, Any]
    value: Any
    where: str  # the kind of block holding it: "screen", "field", "site"…
    parent: Any
    path: Path_
    data: Any


def _extra_forbidden(e: _Err) -> tuple[str, bool]:
    allowed = _keys_of(e.parent)
    if e.where == "screen" and e.name == "next" and isinstance(e.parent, type) and e.parent.__name__ == "EndScreen":
        return "an `end` screen is the last step and cannot have `next`; remove it", True
    hint = did_you_mean(e.name, allowed)
    if not hint and allowed:
        hint = f" (expected one of: {', '.join(f'`{k}`' for k in allowed)})"
    owner = _OWNERS.get(e.where, f"`{e.where}`" if e.where else "")
    return f"unknown key `{e.name}`{' in ' + owner if owner else ''}{hint}", True


_MISSING_OWNER = {
    "screen": "screen",
    "field": "field",
    "rule": "routing rule",
    "param": "param",
    "wink": "`wink` block",
    "site": "site",
}


def _missing(e: _Err) -> tuple[str, bool]:
    owner = _MISSING_OWNER.get(e.where, e.where or "mapping")
    return f"missing required key `{e.name}` in this {owner}", False


def _union_tag_invalid(e: _Err) -> tuple[str, bool]:
    tag = e.ctx.get("tag", "")
    return (
        f"unknown screen type `{tag}`{did_you_mean(str(tag), ['form', 'wink', 'end'])} (expected form, wink or end)",
        False,
    )


def _union_tag_not_found(e: _Err) -> tuple[str, bool]:
    node = e.data
    for part in e.path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    typo = [k for k in node if k != "type" and did_you_mean(str(k), ["type"])] if isinstance(node, dict) else []
    hint = f" (is `{typo[0]}` a misspelled `type`?)" if typo else ""
    return f"this screen needs a `type`: form, wink or end{hint}", False


def _literal_error(e: _Err) -> tuple[str, bool]:
    expected = str(e.ctx.get("expected", "")).replace("'", "`")
    choices = [c.strip(" `") for c in expected.replace(" or ", ",").split(",") if c.strip(" `")]
    what = {"type": f"{e.where} type", "sdk": "SDK version"}.get(e.name, f"value for `{e.name}`" if e.name else "value")
    return (
        f"`{_shown(e.value)}` is not a valid {what}{did_you_mean(str(e.value), choices)} (expected {expected})",
        False,
    )


def _type_error(e: _Err) -> tuple[str, bool]:
    kind, name, path, value = e.kind, e.name, e.path, e.value
    expected = _TYPE_WORDS[kind]
    if name == "next" and kind == "list_type":
        expected = "a screen id or a list of rules (`- if: …` / `goto: …`)"
    if len(path) >= 2 and path[-2] == "options" and isinstance(path[-1], int):
        expected = "text or a `{value, label}` mapping"
    extra = ""
    if value is None and kind in ("string_type", "model_type", "list_type", "dict_type", "model_attributes_type"):
        extra = " — it is empty"
        if e.where == "colors":
            extra += ': an unquoted `#` starts a YAML comment, so quote the colour (`"#0b5fff"`)'
    elif isinstance(value, bool) and (kind == "string_type" or "text" in expected.split(" ")[:1]):
        extra = (
            f" — YAML read `{str(value).lower()}` as a true/false value (unquoted yes/no/on/off are too); "
            "put it in quotes"
        )
    elif kind == "string_type" and isinstance(value, (int, float)):
        extra = f" — YAML read `{_shown(value)}` as a number; put it in quotes"
    if name:
        label = f"`{name}` expects"
    elif len(path) >= 2 and isinstance(path[-1], int):
        label = f"each item of `{path[-2]}` must be"
    else:
        label = "expected"
    return f"{label} {expected}{extra}", False


def _pattern_mismatch(e: _Err) -> tuple[str, bool]:
    where, name = e.where, e.name
    help_ = _PATTERN_HELP.get((where, name)) or _PATTERN_HELP.get((where, "*"))
    if where == "rule" or (where == "screen" and name == "next") or (where == "config" and not help_):
        help_ = help_ or f"does not match {e.ctx.get('pattern')}"
    shown = _shown(e.value)
    noun = f"{where} {name}" if where in ("screen", "field", "param") and name in ("id", "name") else (name or "value")
    if where == "colors":
        noun = f"colour for `{name}`"
    return f"`{shown}` is not a valid {noun}: {help_ or 'it does not match ' + str(e.ctx.get('pattern'))}", False


def _too_short(e: _Err) -> tuple[str, bool]:
    noun = {"screens": "one screen", "fields": "one field"}.get(e.name, "one item")
    return f"`{e.name}` needs at least {noun}", False


_BOUNDS = {
    "greater_than_equal": "at least",
    "greater_than": "more than",
    "less_than_equal": "at most",
    "less_than": "less than",
}


def _bound(e: _Err) -> tuple[str, bool]:
    limit = next(iter(e.ctx.values()), "")
    return f"`{e.name}` must be {_BOUNDS[e.kind]} {limit}", False


_HANDLERS: dict[str, Callable[[_Err], tuple[str, bool]]] = {
    "extra_forbidden": _extra_forbidden,
    "missing": _missing,
    "union_tag_invalid": _union_tag_invalid,
    "union_tag_not_found": _union_tag_not_found,
    "literal_error": _literal_error,
    **dict.fromkeys(_TYPE_WORDS, _type_error),
    "string_pattern_mismatch": _pattern_mismatch,
    "too_short": _too_short,
    "string_too_short": lambda e: (f"`{e.name}` must not be empty", False),
    "string_too_long": lambda e: (f"`{e.name}` is too long (at most {e.ctx.get('max_length')} characters)", False),
    **dict.fromkeys(_BOUNDS, _bound),
}


def _message(err: Any, path: Path_, parent: Any, data: Any) -> tuple[str, bool]:
    """A marketer-readable message for one pydantic error; bool = point at the key."""
    name = str(path[-1]) if path and isinstance(path[-1], str) else ""
    handler = _HANDLERS.get(err["type"])
    if handler is not None:
        e = _Err(err["type"], name, err.get("ctx") or {}, err.get("input"), _kind(parent), parent, path, data)
        return handler(e)
    msg = str(err.get("msg", "invalid value"))
    return (f"`{name}`: {msg}" if name else msg), False


def _key_message(err: Any, path: Path_) -> str:
    """A key of a free-form mapping (`messages`, `csp`) that is not one of the allowed ones."""
    name = str(path[-1]) if path else ""
    owner = f" in `{path[-2]}`" if len(path) >= 2 else ""
    expected = str((err.get("ctx") or {}).get("expected", "")).replace("'", "`")
    if not expected:
        return f"key `{name}`{owner}: {err.get('msg', 'not allowed')}"
    choices = [c.strip(" `") for c in expected.replace(" or ", ",").split(",") if c.strip(" `")]
    return f"unknown key `{name}`{owner}{did_you_mean(name, choices)} (expected {expected})"


def validate(model: type[BaseModel], data: Any, pos: Positions) -> tuple[Any, list[Diagnostic]]:
    """Validate plain data against a model; map every error back to its position."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        diags: list[Diagnostic] = []
        seen: set[tuple[Path_, str]] = set()
        union_paths: set[Path_] = set()
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            bad_key = bool(loc) and loc[-1] == "[key]"  # a dict key failed, e.g. `messages: {requird: …}`
            path, parent, via_union = _walk(model, data, loc[:-1] if bad_key else loc)
            if via_union:  # one error per union member: the first one says enough
                if path in union_paths:
                    continue
                union_paths.add(path)
            if bad_key:
                message, at_key = _key_message(err, path), True
            else:
                message, at_key = _message(err, path, parent, data)
            if (path, message) in seen:
                continue
            seen.add((path, message))
            if err["type"] == "missing":  # at the key that names the incomplete block (`wink:`)
                target = pos.key(path[:-1])
            elif err["type"] == "union_tag_invalid":  # at the unknown `type: …`, not the screen
                target = pos.value(path + ("type",))
            elif at_key:
                target = pos.key(path)
            else:
                target = pos.value(path)
            diags.append(Diagnostic(target[0], target[1], target[2], message, code=f"schema:{err['type']}"))
        return None, diags
