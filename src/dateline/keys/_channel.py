"""Changes to keys told to every replica at once, over Redis pub/sub.

Without it a replica sees a key revoked elsewhere at its next poll (half a
second); with it, the process that changed the key publishes its id (the
ring's ``on_change`` hook) and every subscriber reads the keys again at once
(``recheck``: a read begun after the message, never an older one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ._ring import KeyRing

logger = logging.getLogger("dateline")

CHANNEL = "dateline:keys"


class KeyChannel:
    """Publishes this process's key changes and follows everyone's."""

    def __init__(self, ring: KeyRing, redis: Redis, *, channel: str = CHANNEL) -> None:
        self.ring = ring
        self.redis = redis
        self.channel = channel
        self._task: asyncio.Task[None] | None = None
        self._pubsub: Any = None

    async def open(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(self.channel)
        self.ring.on_change.append(self.publish)
        self._task = asyncio.create_task(self._listen(), name="dateline key changes")

    async def publish(self, key_id: str) -> None:
        await self.redis.publish(self.channel, key_id)

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        await self._recheck()
            except Exception:
                # Redis gone for a moment: subscribe again, and read what may have been missed.
                logger.warning("keys: lost Redis; following it again", exc_info=True)
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    await self._pubsub.subscribe(self.channel)
                    await self._recheck()

    async def _recheck(self) -> None:
        try:
            await self.ring.recheck()
        except Exception:
            logger.warning("keys: cannot read them after a change was announced", exc_info=True)

    async def aclose(self) -> None:
        with contextlib.suppress(ValueError):
            self.ring.on_change.remove(self.publish)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
