"""Compatibility name for :mod:`flipgen.server` (``uvicorn --factory flipgen.token:app_from_env``)."""

from __future__ import annotations

from flipgen.server import TokenApp, app_from_env, create_app, load_credentials, run_server

__all__ = ["TokenApp", "app_from_env", "create_app", "load_credentials", "run_server"]
