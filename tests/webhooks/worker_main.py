"""A delivery worker process for tests: `python -m tests.webhooks.worker_main DATABASE_URL PROJECT_DIR`.

Reads the signing secret from HOOK_SECRET and runs until killed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from flipgen.store import open_store
from flipgen.webhooks.delivery import DeliveryWorker
from flipgen.webhooks.schedule import RetryPolicy


async def main(url: str, root: Path) -> None:
    store = open_store(url, root)
    worker = DeliveryWorker(store, environ=dict(os.environ), policy=RetryPolicy(scale=0.001), poll_interval=0.01)
    print("ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
