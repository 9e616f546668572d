"""Which browser pages may call the endpoint (CORS), and the preflight answer.

Requests without ``Origin`` are not from a browser page and are not checked. A page's
``Origin`` is allowed when, normalised (lower case, default port dropped), it equals one of
the project's ``allowed_origins`` (``"*"``: any) or one of the endpoint's own public origins
(``base_url``, ``--public-origin``). Only when none is configured does the request's own
scheme and ``Host`` stand in for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["OriginPolicy", "normalise_origin", "preflight_headers"]


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case without a default port; other text as given."""
    parts = urlsplit(origin.strip().lower().rstrip("/"))
    if not parts.scheme or not parts.netloc:
        return origin.strip().lower()
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return origin.strip().lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


class OriginPolicy:
    """The allowed origins of one build, plus the endpoint's own public origins."""

    def __init__(self, allowed: Iterable[str], public: Iterable[str] = ()) -> None:
        normalised = {normalise_origin(o) for o in allowed}
        self.any_origin = "*" in normalised
        self.allowed = frozenset(normalised - {"*"})
        self.public = frozenset(normalise_origin(o) for o in public)

    def allows(self, origin: str, own: str | None = None) -> bool:
        """Whether a page on ``origin`` may call; ``own`` is the request's own origin
        (scheme and ``Host``), the same-origin fallback when no public origin is configured."""
        if self.any_origin:
            return True
        normalised = normalise_origin(origin)
        if normalised in self.allowed or normalised in self.public:
            return True
        return not self.public and own is not None and normalised == normalise_origin(own)


def preflight_headers(allowed_methods: str, requested_headers: str | None) -> dict[str, str]:
    return {
        "allow": allowed_methods,
        "access-control-allow-methods": allowed_methods,
        "access-control-allow-headers": requested_headers or "content-type",
        "access-control-max-age": "600",
    }
