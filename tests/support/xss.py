"""The XSS corpus (tests/fixtures/xss.json) and a site that carries a payload in every text key.

Shared by the build test (the HTML must hold no script of theirs) and the browser test (no
dialog, no script, no CSP violation when the page runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS: list[str] = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "xss.json").read_text(encoding="utf-8")
)


def xss_site(text: str, markdown: str, options: list[str] | None = None) -> dict[str, Any]:
    """A valid site with ``text`` in every plain-text key and ``markdown`` in every Markdown key.

    ``options`` become the option values of the choice fields (default: ``text`` and another).
    """
    values = options or [text, "other"]
    return {
        "title": text,
        "description": text,
        "brand": {"name": text},
        "wink": {"template_id": "wtpl-xss"},
        "params": [{"name": "ref"}],
        "screens": [
            {
                "id": "one",
                "type": "form",
                "title": text,
                "intro": markdown + " ${ref}",
                "button": text,
                "fields": [
                    {
                        "id": "a",
                        "type": "text",
                        "label": text,
                        "help": markdown,
                        "placeholder": text,
                        "messages": {"required": text, "pattern": text},
                        "default": text,
                    },
                    {"id": "b", "type": "select", "label": text, "options": [{"value": v, "label": v} for v in values]},
                    {"id": "c", "type": "radio", "label": text, "options": values},
                    {"id": "d", "type": "checkboxes", "label": text, "options": values},
                    {"id": "e", "type": "consent", "label": markdown},
                    {"id": "f", "type": "textarea", "label": text, "placeholder": text},
                    {"id": "g", "type": "hidden", "value": text},
                ],
            },
            {
                "id": "two",
                "type": "wink",
                "title": text,
                "intro": markdown,
                "button": text,
                "skip_label": text,
                "min_accounts": 0,
            },
            {"id": "end", "type": "end", "title": text + " ${a}", "body": markdown + " ${a}"},
        ],
    }
