"""Serving the endpoint: :func:`app_from_env` for import by name, :func:`run_server` for the CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flipgen import manifest as manifest_module
from flipgen.errors import UserError

from .app import TokenApp, create_app
from .config import ENV_PREFIX, configure_logging, env_flag
from .guards import proxies_from
from .tokens import DEFAULT_PATH

__all__ = ["app_from_env", "run_server"]

REDIS_ENV = "FLIPGEN_REDIS_URL"


def _failure_mode(text: str) -> bool:
    """``open`` (the default) or ``closed``: True when the server fails open."""
    value = (text or "open").strip().lower()
    if value not in ("open", "closed"):
        raise UserError(f"--redis-failure takes `open` or `closed`, not {text[:40]!r}.")
    return value == "open"


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(ENV_PREFIX + name) or ""
    try:
        return float(text) if text else default
    except ValueError:
        raise UserError(f"{ENV_PREFIX}{name} must be a number, not {text[:40]!r}.") from None


def app_from_env() -> TokenApp:
    """:func:`create_app` configured by ``FLIPGEN_TOKEN_*`` variables, for import-by-name.

    ``FLIPGEN_TOKEN_PROJECT`` (default: current directory), ``FLIPGEN_TOKEN_MANIFEST`` (a
    manifest JSON file instead of the project's build), ``FLIPGEN_TOKEN_SANDBOX``,
    ``FLIPGEN_TOKEN_RATE_LIMIT`` (default 30), ``FLIPGEN_TOKEN_TRUST_PROXY`` (proxy CIDRs,
    comma-separated; ``1``: this host), ``FLIPGEN_TOKEN_PROXY_HOPS`` (1),
    ``FLIPGEN_TOKEN_PUBLIC_ORIGINS``, ``FLIPGEN_TOKEN_BODY_TIMEOUT`` (10 s),
    ``FLIPGEN_TOKEN_CONNECT_TIMEOUT`` (3 s), ``FLIPGEN_TOKEN_READ_TIMEOUT`` (10 s),
    ``FLIPGEN_REDIS_URL`` and ``FLIPGEN_REDIS_FAILURE`` (``open``/``closed``). Run with
    ``uvicorn --factory flipgen.server:app_from_env``.
    """
    env = os.environ
    configure_logging(env.get(ENV_PREFIX + "LOG_LEVEL", "info"))
    project = Path(env.get(ENV_PREFIX + "PROJECT") or ".")
    manifest_path = env.get(ENV_PREFIX + "MANIFEST")
    manifest = manifest_module.read(manifest_path) if manifest_path else manifest_module.load(project)
    trust = env.get(ENV_PREFIX + "TRUST_PROXY", "").strip()
    return create_app(
        project,
        manifest=manifest,
        sandbox=env_flag(env, ENV_PREFIX + "SANDBOX"),
        rate_limit=int(_number(env, "RATE_LIMIT", 30)),
        trust_proxy=True if trust.lower() in ("1", "true", "yes", "on") else trust,
        proxy_hops=int(_number(env, "PROXY_HOPS", 1)),
        public_origins=[o.strip() for o in env.get(ENV_PREFIX + "PUBLIC_ORIGINS", "").split(",") if o.strip()],
        redis_url=env.get(REDIS_ENV) or None,
        redis_fail_open=_failure_mode(env.get("FLIPGEN_REDIS_FAILURE", "")),
        redis_prefix=env.get("FLIPGEN_REDIS_PREFIX") or "flipgen:",
        body_timeout=_number(env, "BODY_TIMEOUT", 10.0),
        connect_timeout=_number(env, "CONNECT_TIMEOUT", 3.0),
        read_timeout=_number(env, "READ_TIMEOUT", 10.0),
    )


def run_server(
    project: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    sandbox: bool = False,
    rate_limit: int = 30,
    trust_proxy: bool | str | Sequence[str] = False,
    proxy_hops: int = 1,
    public_origins: Sequence[str] = (),
    redis_url: str | None = None,
    redis_failure: str = "open",
    body_timeout: float = 10.0,
    max_concurrency: int = 1000,
    workers: int = 1,
    log_level: str = "info",
    manifest: str | os.PathLike[str] | None = None,
    database: str | None = None,
) -> None:
    """Serve the token endpoint with uvicorn until interrupted (``flipgen token-server``).

    Every worker process builds its app through :func:`app_from_env`, configured through the
    ``FLIPGEN_*`` variables set here; the app is built once here first, so configuration
    errors (:class:`UserError`) surface before binding. ``max_concurrency`` bounds the
    connections and requests a worker holds at once (uvicorn answers 503 past it).
    """
    project_dir = Path(project).resolve() if project is not None else Path.cwd()
    if workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}.")
    trust = ",".join(proxies_from(trust_proxy))
    os.environ.update(
        {
            ENV_PREFIX + "PROJECT": str(project_dir),
            ENV_PREFIX + "MANIFEST": str(Path(manifest).resolve()) if manifest is not None else "",
            ENV_PREFIX + "SANDBOX": "1" if sandbox else "",
            ENV_PREFIX + "RATE_LIMIT": str(rate_limit),
            ENV_PREFIX + "TRUST_PROXY": trust,
            ENV_PREFIX + "PROXY_HOPS": str(proxy_hops),
            ENV_PREFIX + "PUBLIC_ORIGINS": ",".join(public_origins),
            ENV_PREFIX + "BODY_TIMEOUT": str(body_timeout),
            ENV_PREFIX + "LOG_LEVEL": log_level,
            "FLIPGEN_REDIS_FAILURE": redis_failure,
        }
    )
    if redis_url:
        os.environ[REDIS_ENV] = redis_url
    if database:
        # Every worker opens the same store: FLIPGEN_DATABASE_URL is how create_app finds it.
        os.environ["FLIPGEN_DATABASE_URL"] = database
    app = app_from_env()
    print(
        f"flipgen token endpoint on http://{host}:{port}{DEFAULT_PATH} "
        f"(upstream: {app.upstream_name}, {len(app.sites)} site(s), {workers} worker(s); "
        f"applications in {app.store.display_url})",
        file=sys.stderr,
        flush=True,
    )
    _run_uvicorn(app, workers, host=host, port=port, log_level=log_level, max_concurrency=max_concurrency)


def _run_uvicorn(app: TokenApp, workers: int, *, host: str, port: int, log_level: str, max_concurrency: int) -> None:
    """Serve ``app`` in this process, or start ``workers`` processes that each build their own."""
    import uvicorn  # the server process only; the app itself runs under any ASGI server

    # The app reads X-Forwarded-For itself (only from --trust-proxy addresses): uvicorn must not.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "lifespan": "on",
        "limit_concurrency": max_concurrency,
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    app.store.close()  # each worker opens its own
    uvicorn.run("flipgen.server:app_from_env", factory=True, workers=workers, **options)
