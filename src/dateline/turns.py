"""Work put off to the end of the event loop's turn: the requests ending in one
turn (dozens of them under load) are counted and logged together, in one tight
loop whose code and data stay in the processor's caches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class AtTurnEnd:
    """Runs ``work`` once at the end of the turn in which ``soon()`` was first called;
    at once where no event loop runs (a command, a test outside a loop)."""

    __slots__ = ("loop", "work")

    def __init__(self, work: Callable[[], None]) -> None:
        self.work = work
        self.loop: asyncio.AbstractEventLoop | None = None  # where a run is waiting

    def soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.now()
            return
        if loop is self.loop:
            return
        if self.loop is not None:  # waiting on a loop that stopped before running it
            self.now()
        self.loop = loop
        loop.call_soon(self.now)

    def now(self) -> None:
        self.loop = None
        self.work()
