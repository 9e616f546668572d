"""The site model: every key of SPEC §3 with its defaults, and the JSON Schema editors use.

Attribute names are the YAML keys. Models forbid unknown keys so a typo becomes a positioned
error with a suggestion instead of being silently ignored.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

__all__ = [
    "Config",
    "Site",
    "Brand",
    "Colors",
    "Wink",
    "Param",
    "Option",
    "FieldSpec",
    "Rule",
    "FormScreen",
    "WinkScreen",
    "EndScreen",
    "Screen",
    "OnComplete",
    "Seo",
    "WebhookTarget",
    "WEBHOOK_EVENTS",
    "Locales",
    "FIELD_TYPES",
    "TEXT_TYPES",
    "CHOICE_TYPES",
    "MESSAGE_RULES",
    "json_schema",
]

SCREEN_ID = r"^[a-z][a-z0-9_-]{0,49}$"
FIELD_ID = r"^[a-z][a-z0-9_]{0,49}$"
PARAM_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,49}$"
SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
HEX_COLOR = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
LANG = r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$"
THEME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"

FieldType = Literal[
    "text",
    "email",
    "tel",
    "number",
    "date",
    "textarea",
    "select",
    "radio",
    "checkbox",
    "checkboxes",
    "consent",
    "hidden",
]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
TEXT_TYPES = frozenset({"text", "email", "tel", "textarea"})
CHOICE_TYPES = frozenset({"select", "radio", "checkboxes"})
# Keys of `messages`: one per validation rule the runtime applies.
MESSAGE_RULES = ("required", "min_length", "max_length", "pattern", "min", "max", "step", "format", "options")

DEFAULT_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

# A condition is plain data (SPEC §3.7); its shape is checked by flipgen.conditions.validate
# so the errors can name the exact operator and position.
Condition = Annotated[
    dict[str, Any],
    Field(
        description="All entries must hold. `name: value` (equals), `name: [a, b]` (one of), "
        "`name: {op: value}` with op in eq, ne, in, not_in, gt, gte, lt, lte, contains, filled; "
        "`any: [cond, ...]`, `not: cond`.",
        json_schema_extra={"minProperties": 1},
    ),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)


class Colors(Model):
    primary: Annotated[str, Field(pattern=HEX_COLOR)] = "#1f4fd1"
    on_primary: Annotated[str, Field(pattern=HEX_COLOR)] = "#ffffff"
    background: Annotated[str, Field(pattern=HEX_COLOR)] = "#f5f6f8"
    surface: Annotated[str, Field(pattern=HEX_COLOR)] = "#ffffff"
    text: Annotated[str, Field(pattern=HEX_COLOR)] = "#1a1d23"
    error: Annotated[str, Field(pattern=HEX_COLOR)] = "#b42318"


class Brand(Model):
    name: str | None = None
    logo: str | None = Field(default=None, description="Path relative to the site file.")
    favicon: str | None = Field(default=None, description="Path relative to the site file.")
    colors: Colors = Field(default_factory=Colors)
    font: str = Field(default=DEFAULT_FONT, description="CSS font stack; no remote fonts.")
    radius: Annotated[int, Field(ge=0, le=48)] = 10
    custom_css: str | None = Field(default=None, description="Path to a stylesheet, relative to the site file.")


class Wink(Model):
    template_id: Annotated[str, Field(min_length=1, max_length=64)]
    sdk: Literal["v2", "v1"] = "v2"
    sdk_url: str | None = None
    token_endpoint: str | None = None
    providers: list[str] = Field(default_factory=list)
    top_providers: list[str] = Field(default_factory=list)
    enable_upload: bool = False


class Param(Model):
    name: Annotated[str, Field(pattern=PARAM_NAME)]
    required: bool = False
    pattern: str | None = None
    metadata: bool = False


def _option(value: Any) -> Any:
    # Plain strings are shorthand for {value: s, label: s}; numbers are written as text.
    if isinstance(value, str):
        return {"value": value, "label": value}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"value": str(value), "label": str(value)}
    return value


class Option(Model):
    value: str
    label: str


Scalar = str | int | float | bool


class FieldSpec(Model):
    id: Annotated[str, Field(pattern=FIELD_ID)]
    type: FieldType
    label: str | None = None
    help: str | None = None
    placeholder: str | None = None
    autocomplete: str | None = None
    default: Scalar | list[str] | None = None
    required: bool = False
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(ge=1)] | None = None
    pattern: str | None = None
    min: float | int | str | None = None
    max: float | int | str | None = None
    step: Annotated[float, Field(gt=0)] | Literal["any"] | None = None
    options: list[Annotated[Option, BeforeValidator(_option, json_schema_input_type=str | float | Option)]] | None = (
        None
    )
    messages: dict[
        Literal["required", "min_length", "max_length", "pattern", "min", "max", "step", "format", "options"], str
    ] = Field(default_factory=dict)
    show_if: Condition | None = None
    metadata: bool = False
    value: str | None = None


class Rule(Model):
    if_: Condition | None = Field(None, alias="if")
    goto: Annotated[str, Field(pattern=SCREEN_ID)]


def _next(value: Any) -> Any:
    # `next: done` is shorthand for one unconditional rule; one shape keeps errors precise.
    return [{"goto": value}] if isinstance(value, str) else value


Next = Annotated[
    list[Rule] | None,
    BeforeValidator(_next),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": SCREEN_ID, "description": "the id of the next screen"},
                {
                    "type": "array",
                    "minItems": 1,
                    "description": "rules tried in order; the last has no `if`",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["goto"],
                        "properties": {
                            "if": {"type": "object", "minProperties": 1},
                            "goto": {"type": "string", "pattern": SCREEN_ID},
                        },
                    },
                },
                {"type": "null"},
            ]
        }
    ),
]


class ScreenBase(Model):
    id: Annotated[str, Field(pattern=SCREEN_ID)]
    title: str | None = None
    intro: str | None = None


class FormScreen(ScreenBase):
    type: Literal["form"]
    fields: Annotated[list[FieldSpec], Field(min_length=1)]
    button: str | None = Field(default=None, description="Default: the language's `continue` text.")
    next: Next = None


class WinkScreen(ScreenBase):
    type: Literal["wink"]
    button: str | None = Field(default=None, description="Default: the language's `connect` text.")
    providers: list[str] | None = None
    top_providers: list[str] | None = None
    enable_upload: bool | None = None
    template_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    min_accounts: Annotated[int, Field(ge=0, le=50)] = 1
    skip_label: str | None = Field(default=None, description="Default: the language's `skip` text.")
    next: Next = None


class EndScreen(ScreenBase):
    type: Literal["end"]
    body: str | None = None


Screen = Annotated[FormScreen | WinkScreen | EndScreen, Field(discriminator="type")]


class OnComplete(Model):
    redirect: str | None = None
    post_message: bool = True


class Seo(Model):
    noindex: bool = True
    og_image: str | None = None


class Locales(Model):
    """The languages a site is published in (docs/translations.md)."""

    default: Annotated[str, Field(pattern=LANG, description="The language of the site file and of `dist/<slug>/`.")]
    languages: Annotated[
        list[Annotated[str, Field(pattern=LANG)]],
        Field(
            min_length=1, description="Every language, the default included; each other one has `<slug>.<lang>.yaml`."
        ),
    ]


class TokenLimits(Model):
    """`token:` in a site or flipgen.yaml: what the token endpoint may spend on the site."""

    max_users_per_day: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="New Smile users (mints) a UTC day before the endpoint answers budget_exhausted"
    )


class BotProtection(Model):
    """A bot check before each new Smile user is minted (Cloudflare Turnstile)."""

    provider: Literal["turnstile"] = "turnstile"
    site_key: Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,100}$")] = Field(
        description="The widget's public site key; the endpoint verifies with TURNSTILE_SECRET"
    )


class Site(Model):
    title: Annotated[str, Field(min_length=1)]
    slug: Annotated[str, Field(pattern=SLUG)] | None = None
    lang: Annotated[str, Field(pattern=LANG)] = "en"
    locales: Locales | None = None
    description: str | None = None
    theme: Annotated[str, Field(pattern=THEME)] = "default"
    brand: Brand = Field(default_factory=Brand)
    wink: Wink | None = None
    params: list[Param] = Field(default_factory=list)
    screens: Annotated[list[Screen], Field(min_length=1)]
    on_complete: OnComplete = Field(default_factory=OnComplete)
    seo: Seo = Field(default_factory=Seo)
    token: TokenLimits | None = None
    bot_protection: BotProtection | None = None


# Outbound events (docs/webhooks.md); `all` in a subscription stands for every one of them.
WEBHOOK_EVENTS = (
    "application.started",
    "application.submitted",
    "application.completed",
    "account.connected",
    "account.failed",
    "data.revoked",
)


class WebhookTarget(Model):
    """One entry of `webhooks:` in flipgen.yaml: where to send which events, signed with which secret."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(?:[/?][^\s#]*)?$", max_length=2000)]
    events: Annotated[
        list[
            Literal[
                "all",
                "application.started",
                "application.submitted",
                "application.completed",
                "account.connected",
                "account.failed",
                "data.revoked",
            ]
        ],
        Field(min_length=1),
    ]
    secret_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")] = Field(
        description="Name of the environment variable holding the `whsec_…` signing secret (never the secret itself)."
    )
    sites: list[Annotated[str, Field(pattern=SLUG)]] | None = Field(
        default=None, description="Only events of these sites (default: every site)."
    )
    allow_private: bool = Field(
        default=False, description="Allow private, loopback and link-local addresses and plain http (local receivers)."
    )

    def wants(self, event: str, site: str | None) -> bool:
        """Whether this target subscribes to ``event`` of ``site``."""
        if "all" not in self.events and event not in self.events:
            return False
        return self.sites is None or site in self.sites


class Embed(Model):
    """Which pages may frame the journeys (embed.js) and hear their postMessage events."""

    allowed_origins: list[Annotated[str, Field(pattern=r"^https?://[^\s/?#]+$")]] = Field(
        default_factory=list,
        description="Origins that may frame the journeys; none (the default) means no framing, no postMessage",
    )


class Config(Model):
    """`flipgen.yaml`: project settings (SPEC §3.1)."""

    sites_dir: str = "sites"
    output: str = "dist"
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(?:/[^\s?#]*)?$")] | None = None
    token_endpoint: str = "/api/link-token"
    allowed_origins: list[Annotated[str, Field(pattern=r"^https?://[^\s/?#]+$")]] = Field(default_factory=list)
    defaults: dict[str, Any] = Field(default_factory=dict)
    embed: Embed = Field(default_factory=Embed)
    token: TokenLimits = Field(default_factory=TokenLimits)
    locales: Locales | None = Field(default=None, description="Languages of every site that sets none itself.")
    csp: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Extra sources per CSP directive, added to the defaults, e.g. {img-src: [https://cdn.example]}",
    )
    webhooks: list[WebhookTarget] = Field(
        default_factory=list, description="Signed outbound events (docs/webhooks.md)."
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a site file, for editors and CI."""
    schema = Site.model_json_schema(by_alias=True)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flipgen.dev/schema/site.json",
        **schema,
        "title": "flipgen site",  # after the model's own "Site"
    }
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
