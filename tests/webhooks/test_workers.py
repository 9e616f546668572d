"""Two worker processes on one database never deliver the same row twice (counted at the receiver)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from flipgen.schema import WebhookTarget
from flipgen.store import Store
from flipgen.store import applications as apps
from flipgen.webhooks.outbox import sync_endpoints
from flipgen.webhooks.signing import new_whsec
from flipgen.webhooks.tables import webhook_deliveries

from .receiver import Receiver

REPO = Path(__file__).resolve().parents[2]
EVENTS = 400


def test_two_workers_under_load_deliver_each_row_exactly_once(store: Store, db_url: str, tmp_path: Path) -> None:
    secret = new_whsec()
    with Receiver() as receiver:
        # Two endpoints, so one event is two rows sharing a webhook-id: count (path, id) pairs.
        second = receiver.url.replace("/hook", "/second")
        targets = [
            WebhookTarget(url=u, events=["all"], secret_env="HOOK_SECRET", allow_private=True)
            for u in (receiver.url, second)
        ]
        sync_endpoints(store, targets)
        env = {**os.environ, "HOOK_SECRET": secret, "PYTHONPATH": str(REPO)}
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.webhooks.worker_main", db_url, str(tmp_path)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            for w in workers:
                assert w.stdout is not None and w.stdout.readline().strip() == "ready"
            for i in range(EVENTS // 2):  # each application: started + submitted
                with store.write() as conn:
                    app = apps.create(conn, site="acme")
                    apps.submit(conn, app.id, answers={"n": i})
            receiver.wait_for(2 * EVENTS, timeout=120)
            time.sleep(0.5)  # anything delivered twice would arrive now
        finally:
            for w in workers:
                w.kill()
                w.wait()
        seen = [(r.path, r.headers["webhook-id"]) for r in receiver.requests]
    assert len(seen) == 2 * EVENTS and len(set(seen)) == 2 * EVENTS
    with store.read() as conn:
        statuses = dict(
            conn.execute(select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status)).all()
        )
    assert statuses == {"delivered": 2 * EVENTS}
