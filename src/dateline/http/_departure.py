"""A client leaving while its answer is made: the work stops with it.

Once the edge has read the whole body, nothing else is listening to the
connection until the answer starts, so a client that gave up (a timeout, a
cancelled request) would leave its answer being made regardless: a fault's
delay slept out, an upstream waited on. ``Departure`` listens meanwhile and
cancels the task making the answer when the client disconnects.

Most answers are made quickly, so the listener is only started once the
answer has taken a while (``LISTEN_AFTER``): a fast answer, even one that
waits a moment on Redis, costs one timer, not a task.
"""

from __future__ import annotations

import asyncio

from ..types import Receive

#: Seconds an answer is made before anyone listens for its client leaving.
LISTEN_AFTER = 0.02


class Departure:
    __slots__ = ("_receive", "_task", "_start", "_listener", "_stopped", "left")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task = asyncio.current_task()
        self._listener: asyncio.Task[None] | None = None
        self._stopped = False
        #: Whether the client left, and the task was cancelled for it.
        self.left = False
        self._start: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(LISTEN_AFTER, self._listen)

    def _listen(self) -> None:
        self._start = None
        self._listener = asyncio.get_running_loop().create_task(self._until_disconnect())

    async def _until_disconnect(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if not self._stopped and self._task is not None:
            self.left = True
            self._task.cancel()

    def stop(self) -> None:
        """The answer is made (or failed): stop listening; the response takes over from here."""
        self._stopped = True
        if self._start is not None:
            self._start.cancel()
        if self._listener is not None:
            self._listener.cancel()
