"""The safe Markdown subset of SPEC §3.6: emphasis, links, lists — no raw HTML, no script links.

markdown-it-py does the parsing (a CommonMark-compliant parser beats any regex); this module
only narrows it down and turns `${name}` into spans the runtime fills with text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from .limits import PLACEHOLDER_RE

__all__ = ["render_block", "render_inline", "render_text", "unsafe_links", "has_raw_html", "VAR_RE", "safe_url"]

VAR_RE = PLACEHOLDER_RE  # flipgen/limits.py: the runtime compiles the same pattern
SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_RULES = ["emphasis", "link", "list", "newline", "backticks", "strikethrough", "escape", "entity", "linkify"]


def safe_url(url: str) -> bool:
    """True for http(s)/mailto/tel links and relative links; false for javascript:, data: etc."""
    cleaned = "".join(ch for ch in url if ch > " " and ch != "\x7f")
    scheme = urlsplit(cleaned).scheme.lower() if ":" in cleaned.split("/", 1)[0] else ""
    return scheme == "" or scheme in SAFE_SCHEMES


def _vars(text: str) -> str:
    # <bdi>: an answer in another script (a Latin name in an Arabic sentence) keeps its own direction.
    return VAR_RE.sub(r'<bdi data-flip-var="\1"></bdi>', str(escape(text)))


def _text_rule(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return _vars(tokens[idx].content)


def _link_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    href = str(token.attrGet("href") or "")
    # External links open beside the journey so the visitor does not lose their place.
    external = href.startswith(("http://", "https://"))
    attrs = f' href="{escape(href)}"'
    title = token.attrGet("title")
    if title:
        attrs += f' title="{escape(title)}"'
    if external:
        attrs += ' target="_blank" rel="noopener noreferrer"'
    return f"<a{attrs}>"


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": False, "typographer": False})
    md.enable([r for r in _RULES if r != "linkify"])
    md.validateLink = lambda url: safe_url(url)  # type: ignore[method-assign]
    md.add_render_rule("text", _text_rule)
    md.add_render_rule("link_open", _link_open)
    return md


@lru_cache(maxsize=1)
def _inspector() -> MarkdownIt:
    # Accepts every link and raw HTML so the checker can see what the renderer would refuse.
    md = MarkdownIt("zero", {"html": True})
    md.enable([r for r in _RULES if r != "linkify"] + ["html_inline", "html_block"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


# Rendering is a pure function of the text, and a build renders the same texts many times: every
# language page of a site repeats its untranslated texts, and sites share `defaults` and themes.
@lru_cache(maxsize=4096, typed=True)
def render_block(text: str | None) -> Markup:
    """Paragraphs and lists; `${name}` becomes a runtime-filled span."""
    if not text:
        return Markup("")
    return Markup(_md().render(text))


@lru_cache(maxsize=4096, typed=True)
def render_inline(text: str | None) -> Markup:
    """One line: emphasis and links only, no paragraph wrapper (for labels and help)."""
    if not text:
        return Markup("")
    return Markup(_md().renderInline(text))


def render_text(text: str | None) -> Markup:
    """Plain escaped text; `${name}` becomes a runtime-filled span."""
    if not text:
        return Markup("")
    return Markup(_vars(text))


def _walk(tokens: Any) -> Any:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def unsafe_links(text: str) -> list[str]:
    """Link targets in ``text`` that would be refused (javascript:, data:, vbscript:, …)."""
    if "](" not in text and "<" not in text:
        return []
    found = []
    for token in _walk(_inspector().parse(text)):
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            if not safe_url(href):
                found.append(href)
    return found


def has_raw_html(text: str) -> bool:
    if "<" not in text:
        return False
    return any(t.type in ("html_inline", "html_block") for t in _walk(_inspector().parse(text)))
