"""Invite templates as code: `invites/<name>.yaml` → a checked model → Smile's InviteTemplate.

A template file is read with the project's positioned YAML loader, so every problem is a
``file:line:col`` diagnostic. On top of the model's shape and Smile's length limits (from
``InviteTemplatePostRequest``), the only template variables accepted are the two Smile
confirms, ``${companyName}`` and ``${firstName}``; the other spellings seen in Smile's own
examples (``{{firstName}}``, ``{$companyName}``, ``${fullName}``) are refused with the fix.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import Diagnostic
from ..loader import Positions, did_you_mean, display_path, parse_yaml, read_text, validate

__all__ = [
    "VARIABLES",
    "InviteTemplate",
    "LoadedTemplate",
    "load_template",
    "template_files",
    "load_templates",
    "check_invites",
    "to_smile",
    "json_schema_text",
    "INVITES_DIR",
]

INVITES_DIR = "invites"
VARIABLES = ("companyName", "firstName")
# Fields where Smile substitutes variables; the rest (names, addresses, the logo) are literal.
TEMPLATED = frozenset({"subject", "body", "header", "description", "button"})

Name = Annotated[str, Field(min_length=1, max_length=64, description="Smile's template name (1–64 characters).")]
Short = Annotated[str, Field(min_length=1, max_length=200)]
Long = Annotated[str, Field(min_length=1, max_length=5000)]
DataPath = tuple[str | int, ...]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Company(_Model):
    name: Short
    logo_url: Short = Field(description="Absolute http(s) URL of the logo shown in the email and on the landing page.")


class Email(_Model):
    sender_name: Short
    reply_address: Short = Field(description="Reply-to address of the invitation email.")
    subject: Short
    body: Long = Field(description="Plain text (no HTML). `${firstName}` and `${companyName}` are replaced.")


class Page(_Model):
    header: Short
    description: Long
    button: Short


class InviteTemplate(_Model):
    """One invite template file (Smile's ``InviteTemplatePostRequest``, keys in snake_case)."""

    name: Name | None = None
    company: Company
    email: Email
    landing_page: Page
    success_page: Page


@dataclass
class LoadedTemplate:
    path: Path
    positions: Positions
    template: InviteTemplate | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Smile's name for it: `name:` in the file, else the file name without `.yaml`."""
        if self.template is not None and self.template.name:
            return self.template.name
        return self.path.stem

    @property
    def ok(self) -> bool:
        return self.template is not None and not any(d.severity == "error" for d in self.diagnostics)


def json_schema_text() -> str:
    """The JSON Schema (draft 2020-12) of an invite template file."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flipgen.dev/schema/invite.json",
        **InviteTemplate.model_json_schema(),
        "title": "flipgen invite template",
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def to_smile(loaded: LoadedTemplate) -> dict[str, Any]:
    """The ``InviteTemplatePostRequest`` body for a template that loaded cleanly."""
    t = loaded.template
    assert t is not None
    body = {
        "name": loaded.name,
        "company": {"name": t.company.name, "logoUrl": t.company.logo_url},
        "email": {
            "sendEmail": True,  # Smile requires it: email is the only channel it offers
            "senderName": t.email.sender_name,
            "replyAddress": t.email.reply_address,
            "subject": t.email.subject,
            "body": t.email.body,
        },
        "landingPage": t.landing_page.model_dump(),
        "successPage": t.success_page.model_dump(),
    }
    trimmed: dict[str, Any] = _trimmed(body)
    return trimmed


def _trimmed(value: Any) -> Any:
    """Texts without the trailing newline a YAML block scalar (`|`, `>`) leaves on them."""
    if isinstance(value, dict):
        return {key: _trimmed(sub) for key, sub in value.items()}
    return value.rstrip() if isinstance(value, str) else value


# --------------------------------------------------------------------------- variables

# `${x}`, and the look-alikes in Smile's examples: `{{x}}`, `{$x}`. Group 1/2/3 is the name.
_VARIABLE = re.compile(r"\$\{([^{}\n]*)\}|\{\{([^{}\n]*)\}\}|\{\$([^{}\n]*)\}")
_ALIASES = {"company.name": "companyName", "company": "companyName", "fullName": "firstName", "name": "firstName"}
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")


def _variable_problems(text: str, templated: bool) -> Iterator[tuple[str, str]]:
    """(the text written, the message) for each variable Smile would not replace."""
    for match in _VARIABLE.finditer(text):
        written = match.group(0)
        name = next(g for g in match.groups() if g is not None).strip()
        if not templated:
            yield (
                written,
                f"`{written}` is not replaced here: Smile substitutes variables only in texts, not in names or addresses",
            )
            continue
        if match.group(1) is not None and name in VARIABLES:
            continue
        known = _ALIASES.get(name, name if name in VARIABLES else "")
        if name == "fullName":
            yield (
                written,
                "`${fullName}` is not confirmed by Smile: use `${firstName}` (it falls back to the full name)",
            )
            continue
        if known:
            yield written, f"write `${{{known}}}` instead of `{written}`: it is the only spelling Smile replaces"
            continue
        hint = did_you_mean(written, [f"${{{v}}}" for v in VARIABLES])
        yield (
            written,
            f"unknown template variable `{written}`{hint} (Smile replaces only `${{companyName}}` and `${{firstName}}`)",
        )


def _offset(lines: list[str], line: int, col: int) -> int:
    return sum(len(x) + 1 for x in lines[: line - 1]) + col - 1


def _locate(source: str, start: tuple[str, int, int], needle: str, nth: int) -> tuple[int, int]:
    """Line and column of the ``nth`` ``needle`` written at or after ``start`` (else ``start``)."""
    lines = source.split("\n")
    at = _offset(lines, start[1], start[2]) - 1
    for _ in range(nth + 1):
        at = source.find(needle, at + 1)
        if at < 0:
            return start[1], start[2]
    line = source.count("\n", 0, at) + 1
    return line, at - (source.rfind("\n", 0, at) + 1) + 1


def _texts(data: Any, path: DataPath = ()) -> Iterator[tuple[DataPath, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _texts(value, path + (key,))
    elif isinstance(data, str):
        yield path, data


def _check_texts(data: dict[str, Any], pos: Positions, source: str) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for path, text in _texts(data):
        seen: dict[str, int] = {}
        for written, message in _variable_problems(text, str(path[-1]) in TEMPLATED):
            nth = seen.get(written, 0)
            seen[written] = nth + 1
            line, col = _locate(source, pos.value(path), written, nth)
            diags.append(Diagnostic(pos.file, line, col, message, code="invite-variable"))
    email = _mapping(data.get("email"))
    body = email.get("body")
    tag = _HTML_TAG.search(body) if isinstance(body, str) else None
    if tag is not None:
        line, col = _locate(source, pos.value(("email", "body")), tag.group(0), 0)
        message = "the email body is sent as plain text: HTML tags such as this one show as written"
        diags.append(Diagnostic(pos.file, line, col, message, "warning", "invite-html"))
    reply = email.get("reply_address")
    if isinstance(reply, str) and reply and not _is_email(reply):
        message = f"`{reply}` is not an email address (the reply-to address of the invitation)"
        diags.append(pos.diag(("email", "reply_address"), message, code="invite-email"))
    company = _mapping(data.get("company"))
    logo = company.get("logo_url")
    if isinstance(logo, str) and logo and not re.fullmatch(r"https?://[^\s/?#]+\S*", logo):
        message = "`logo_url` must be an absolute http(s) URL such as `https://acme.example/logo.png`"
        diags.append(pos.diag(("company", "logo_url"), message, code="invite-url"))
    return diags


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_email(text: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


# --------------------------------------------------------------------------- loading


def load_template(path: Path, *, file: str | None = None) -> LoadedTemplate:
    """Read, parse, validate and check one template file. Never raises on bad input."""
    file = file or display_path(path)
    loaded = LoadedTemplate(path=path, positions=Positions(file))
    text, problems = read_text(path, file)
    if text is None:
        loaded.diagnostics = problems
        return loaded
    data, pos, diags = parse_yaml(text, file)
    loaded.positions = pos
    loaded.diagnostics = diags
    if diags:
        return loaded
    if not isinstance(data, dict):
        what = "empty" if data is None else "not a mapping"
        loaded.diagnostics.append(
            pos.diag(
                (),
                f"the file is {what}: an invite template needs `company`, `email`, `landing_page` and `success_page`",
                code="not-mapping",
            )
        )
        return loaded
    template, errors = validate(InviteTemplate, data, pos)
    loaded.diagnostics.extend(errors)
    loaded.diagnostics.extend(_check_texts(data, pos, text))
    loaded.diagnostics.sort(key=lambda d: (d.line, d.col))
    if template is not None:
        loaded.template = template
        if template.name is None and not 1 <= len(path.stem) <= 64:
            loaded.diagnostics.append(
                pos.diag((), "Smile's template names are 1–64 characters: set a shorter `name:`", code="invite-name")
            )
    return loaded


def template_files(root: Path) -> list[Path]:
    """Every `*.yaml`/`*.yml` directly in ``<root>/invites``, sorted."""
    folder = root / INVITES_DIR
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file() and not p.name.startswith(".")
    )


def load_templates(root: Path) -> list[LoadedTemplate]:
    """Every template of the project, with duplicate names reported on the later file."""
    loaded = [load_template(p) for p in template_files(root)]
    owners: dict[str, LoadedTemplate] = {}
    for item in loaded:
        if item.template is None:
            continue
        first = owners.setdefault(item.name, item)
        if first is not item:
            where = ("name",) if item.template.name else ()
            item.diagnostics.append(
                item.positions.diag(
                    where,
                    f"invite template name `{item.name}` is already used by {display_path(first.path)}",
                    code="invite-duplicate",
                )
            )
    return loaded


def check_invites(root: Path, *, strict: bool = False) -> list[Diagnostic]:
    """Every diagnostic of every invite template in the project at ``root`` (``strict``: warnings are errors)."""
    found = [d for item in load_templates(root) for d in item.diagnostics]
    return [dataclasses.replace(d, severity="error") for d in found] if strict else found
