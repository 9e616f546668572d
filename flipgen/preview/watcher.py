"""File watching for the preview: watchdog events in, debounced batches of paths out.

An editor's save is a burst of events (write, rename-on-save, swap files). The burst becomes
one batch once it has been quiet for ``DEBOUNCE`` seconds, or at the latest ``MAX_DELAY``
after its first event, so a never-ending burst cannot hold the rebuild back.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

__all__ = ["DEBOUNCE", "MAX_DELAY", "Watcher", "ignored_name"]

DEBOUNCE = 0.025
MAX_DELAY = 0.3
SWAP_SUFFIXES = (".swp", ".swx", ".swo", "~", ".tmp", ".part", ".crdownload")


def ignored_name(name: str) -> bool:
    """Editor droppings: vim swap files and its `4913` probe, Emacs `.#` locks, backups."""
    return (
        name.endswith(SWAP_SUFFIXES)
        or name == "4913"
        or name.startswith(".#")
        or (name.startswith("#") and name.endswith("#"))
        or name.startswith(".~")
    )


class Watcher:
    """Collects changed paths from watchdog and hands them to ``callback`` in debounced batches."""

    def __init__(self, callback: Callable[[set[Path]], None], *, poll: bool = False) -> None:
        self.callback = callback
        self.observer: Any = PollingObserver(timeout=0.25) if poll else Observer()
        self.pending: set[Path] = set()
        self.first = 0.0  # when the current burst began
        self.last = 0.0  # its latest event
        self.cond = threading.Condition()
        self.watches: dict[tuple[Path, bool], Any] = {}
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="flipgen-rebuild", daemon=True)

    def start(self, dirs: Iterable[tuple[Path, bool]]) -> None:
        self.update(dirs)
        self.observer.start()
        self.thread.start()

    def update(self, dirs: Iterable[tuple[Path, bool]]) -> None:
        """Watch exactly ``dirs`` (folders come and go: site_templates/ created later, …)."""
        wanted = {(d.resolve(), r) for d, r in dirs}
        for key in list(self.watches):
            if key not in wanted:
                self.observer.unschedule(self.watches.pop(key))
        for key in sorted(wanted - set(self.watches)):
            try:
                self.watches[key] = self.observer.schedule(_Handler(self), str(key[0]), recursive=key[1])
            except OSError:
                pass

    def add(self, path: str | bytes) -> None:
        text = os.fsdecode(path)
        if ignored_name(os.path.basename(text)):
            return
        with self.cond:
            now = time.monotonic()
            if not self.pending:
                self.first = now
            self.pending.add(Path(text))
            self.last = now
            self.cond.notify()

    def later(self, paths: set[Path], delay: float) -> None:
        """Queue paths again after ``delay`` (a file that vanished mid-save)."""

        def requeue() -> None:
            for p in paths:
                self.add(str(p))

        timer = threading.Timer(delay, requeue)
        timer.daemon = True
        timer.start()

    def _next_batch(self) -> set[Path] | None:
        """Block until a burst has ended; its paths, or None once stopped."""
        with self.cond:
            while not self.pending and not self.stopped:
                self.cond.wait()
            while not self.stopped:
                ends = min(self.last + DEBOUNCE, self.first + MAX_DELAY)
                remaining = ends - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
            if self.stopped:
                return None
            batch, self.pending = self.pending, set()
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self.callback(batch)
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any rebuild bug
                print(
                    f"error: rebuild crashed ({type(exc).__name__}: {exc}); still serving the last good build",
                    file=sys.stderr,
                    flush=True,
                )

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()
        if self.observer.is_alive():
            self.observer.stop()
            self.observer.join(timeout=2)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        super().__init__()
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if (
            event.event_type == "closed"
            or not event.is_directory
            or event.event_type in ("created", "deleted", "moved")
        ):
            self.watcher.add(event.src_path)
            dest = getattr(event, "dest_path", "")
            if dest:
                self.watcher.add(dest)
