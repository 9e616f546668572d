"""The token endpoint (SPEC §6), on Starlette: mints the Wink widget's short-lived user token.

* ``create_app(project, ...)`` builds the ASGI app from the project's manifest and credentials.
* ``app_from_env()`` is the same, configured by environment variables, for servers that
  import the app by name (``uvicorn --factory flipgen.server:app_from_env --workers N``).
* ``run_server(project, ...)`` serves it with uvicorn: the body of ``flipgen token-server``.

Modules: ``app`` (the app and its route groups), ``tokens`` (mint/refresh), ``origins``
(CORS), ``ratelimit``, ``config`` (credentials, environment), ``models`` (bodies and error
codes), ``openapi`` (the generated document), ``api`` (plumbing shared by the routes).
"""

from __future__ import annotations

from .app import ROUTE_GROUPS, TokenApp, create_app
from .config import configure_logging, load_credentials
from .models import ApiError, ErrorCode
from .run import app_from_env, run_server

__all__ = [
    "ROUTE_GROUPS",
    "ApiError",
    "ErrorCode",
    "TokenApp",
    "app_from_env",
    "configure_logging",
    "create_app",
    "load_credentials",
    "run_server",
]
