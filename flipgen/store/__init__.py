"""The application store: SQLAlchemy Core over SQLite (default) or PostgreSQL.

    from flipgen.store import open_store
    from flipgen.store import applications as apps

    store = open_store(None, project_root)          # upgraded to the latest schema
    with store.write() as conn:                      # BEGIN IMMEDIATE on SQLite
        app = apps.create(conn, site="acme", params={"ref": "x"})

See docs/internals.md ("The application store") for migrations and backend differences.
"""

from __future__ import annotations

from .engine import ENV_VAR, Store, default_url, open_store

__all__ = ["Store", "open_store", "default_url", "ENV_VAR"]
