"""The request log's handler (flipgen.server.config.TurnHandler): the lines of one event-loop
turn go out in one write, in order; warnings and lines logged outside a loop go out at once."""

from __future__ import annotations

import asyncio
import io
import logging
import weakref

from flipgen.server.config import TurnHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def make_logger(name: str) -> tuple[logging.Logger, CountingStream, TurnHandler]:
    stream = CountingStream()
    handler = TurnHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream, handler


def test_one_turns_lines_go_out_in_one_write_after_the_turn() -> None:
    logger, stream, _ = make_logger("test.turn.one")

    async def scenario() -> tuple[str, str]:
        for index in range(5):
            logger.info("line %d", index)
        during = stream.getvalue()
        await asyncio.sleep(0)  # the turn ends
        return during, stream.getvalue()

    during, after = asyncio.run(scenario())
    assert during == ""
    assert after == "".join(f"line {index}\n" for index in range(5))
    assert stream.writes == 1


def test_warnings_and_lines_outside_a_loop_are_written_at_once() -> None:
    logger, stream, _ = make_logger("test.turn.now")
    logger.info("no loop")
    assert stream.getvalue() == "no loop\n"

    async def scenario() -> str:
        logger.info("queued")
        logger.warning("urgent")  # also takes the queued line along, in order
        return stream.getvalue()

    assert asyncio.run(scenario()) == "no loop\nqueued\nurgent\n"


def test_a_flush_pending_on_a_stopped_loop_does_not_hold_later_lines() -> None:
    logger, stream, _ = make_logger("test.turn.stopped")
    first = asyncio.new_event_loop()

    async def log_and_stop() -> None:
        logger.info("first")
        first.stop()  # the loop stops before its flush runs

    first.create_task(log_and_stop())
    first.run_forever()
    first.close()

    async def later() -> None:
        logger.info("second")
        await asyncio.sleep(0)

    asyncio.run(later())
    assert stream.getvalue() == "first\nsecond\n"


def test_logging_shutdown_writes_what_is_pending() -> None:
    """A process that exits mid-turn (logging.shutdown runs at exit) loses no line."""
    logger, stream, handler = make_logger("test.turn.exit")

    async def scenario() -> None:
        logger.info("pending")
        logging.shutdown([weakref.ref(handler)])

    asyncio.run(scenario())
    assert stream.getvalue() == "pending\n"
