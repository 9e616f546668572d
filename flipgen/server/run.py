"""Serving the endpoint: :func:`app_from_env` for import by name, :func:`run_server` for the CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from flipgen.errors import UserError

from .app import TokenApp, create_app
from .config import ENV_PREFIX, configure_logging, env_flag
from .tokens import DEFAULT_PATH

__all__ = ["app_from_env", "run_server"]


def app_from_env() -> TokenApp:
    """:func:`create_app` configured by ``FLIPGEN_TOKEN_*`` variables, for import-by-name.

    ``FLIPGEN_TOKEN_PROJECT`` (default: current directory), ``FLIPGEN_TOKEN_MANIFEST`` (a
    manifest JSON file instead of the project's build), ``FLIPGEN_TOKEN_SANDBOX``,
    ``FLIPGEN_TOKEN_RATE_LIMIT`` (default 30), ``FLIPGEN_TOKEN_TRUST_PROXY``,
    ``FLIPGEN_TOKEN_CONNECT_TIMEOUT`` (3 s), ``FLIPGEN_TOKEN_READ_TIMEOUT`` (10 s). Run with
    ``uvicorn --factory flipgen.server:app_from_env``.
    """
    env = os.environ
    configure_logging(env.get(ENV_PREFIX + "LOG_LEVEL", "info"))
    return create_app(
        env.get(ENV_PREFIX + "PROJECT") or None,
        manifest=env.get(ENV_PREFIX + "MANIFEST") or None,
        sandbox=env_flag(env, ENV_PREFIX + "SANDBOX"),
        rate_limit=int(env.get(ENV_PREFIX + "RATE_LIMIT") or 30),
        trust_proxy=env_flag(env, ENV_PREFIX + "TRUST_PROXY"),
        connect_timeout=float(env.get(ENV_PREFIX + "CONNECT_TIMEOUT") or 3.0),
        read_timeout=float(env.get(ENV_PREFIX + "READ_TIMEOUT") or 10.0),
    )


def run_server(
    project: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    sandbox: bool = False,
    rate_limit: int = 30,
    trust_proxy: bool = False,
    workers: int = 1,
    log_level: str = "info",
    manifest: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the token endpoint with uvicorn until interrupted (``flipgen token-server``).

    ``manifest`` is a manifest JSON file to serve instead of the project's build.
    Raises :class:`UserError` before binding when the project or credentials are unusable.
    With ``workers > 1`` each worker process builds its own app through
    :func:`app_from_env`, configured through ``FLIPGEN_TOKEN_*`` variables set here.
    """
    import uvicorn  # the server process only; the app itself runs under any ASGI server

    project_dir = Path(project).resolve() if project is not None else Path.cwd()
    if workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}.")
    # Built here even for several workers: configuration errors surface before binding.
    manifest_path = str(Path(manifest).resolve()) if manifest is not None else ""
    app = create_app(
        project_dir, manifest=manifest_path or None, sandbox=sandbox, rate_limit=rate_limit, trust_proxy=trust_proxy
    )
    configure_logging(log_level)
    print(
        f"flipgen token endpoint on http://{host}:{port}{DEFAULT_PATH} "
        f"(upstream: {app.upstream_name}, {len(app.sites)} site(s), {workers} worker(s))",
        file=sys.stderr,
        flush=True,
    )
    # The app reads X-Forwarded-For itself (only with --trust-proxy): uvicorn must not.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "lifespan": "on",
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    os.environ.update(
        {
            ENV_PREFIX + "PROJECT": str(project_dir),
            ENV_PREFIX + "MANIFEST": manifest_path,
            ENV_PREFIX + "SANDBOX": "1" if sandbox else "",
            ENV_PREFIX + "RATE_LIMIT": str(rate_limit),
            ENV_PREFIX + "TRUST_PROXY": "1" if trust_proxy else "",
            ENV_PREFIX + "LOG_LEVEL": log_level,
        }
    )
    uvicorn.run("flipgen.server:app_from_env", factory=True, workers=workers, **options)
