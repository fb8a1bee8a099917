"""Working through Message Batches in the background.

Every Dateline process runs one processor. It claims a handful of pending
requests at a time from the store (so several processes share the work
without doing any of it twice), answers each exactly as ``POST /v1/messages``
would — same validation, same checks, same backend — and writes the
results back in one transaction. A claim is a lease: if the process dies,
its requests are claimed again once the lease runs out, and the result of
a request is written only by the worker holding it, so none is lost and
none appears twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from . import errors, exchange, faults
from .ids import request_id
from .operation import Call, Operation, perform, plan_for
from .resources import messages
from .resources.limits import limited
from .schemas import MessageCreateParams
from .store import ERRORED, SUCCEEDED, Claimed, Outcome

if TYPE_CHECKING:
    from .keys import Key
    from .state import State

logger = logging.getLogger("dateline.batches")

_SWEEP_EVERY = 5.0
_CLAIM_FACTOR = 4
# What a batch request's Call shows of "its" HTTP request: there is none.
_SCOPE = {"type": "http", "method": "POST", "path": "/v1/messages", "headers": [], "query_string": b""}


class BatchProcessor:
    def __init__(self, state: State) -> None:
        self.state = state
        self.store = state.store
        settings = state.settings
        self.concurrency = settings.batch_concurrency
        self.poll_interval = settings.batch_poll_interval
        self.lease = settings.batch_lease
        #: This process's name on its claims.
        self.worker = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._origins: dict[str, tuple[str, str | None]] = {}  # batch id -> (version, key id)
        self._messages = messages_operation()
        self._task: asyncio.Task[None] | None = None
        self._swept = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="dateline batch processor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        """There is new work (a batch was just created here): look now, not at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                worked = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("batch processing failed; retrying")
                worked = False
            if not worked:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                self._wake.clear()

    async def step(self) -> bool:
        """Claim and answer one handful of requests; False when there was nothing to do."""
        now = time.time()
        # A few answers' worth more than run at once: fewer, larger transactions.
        claimed = await self.store.claim(self.worker, self.concurrency * _CLAIM_FACTOR, lease=self.lease, now=now)
        if not claimed or now - self._swept > _SWEEP_EVERY:
            # Expiry and stragglers: whenever idle, and now and then when busy.
            await self.store.sweep(now)
            self._swept = now
        if not claimed:
            return False
        missing = {c.batch_id for c in claimed} - self._origins.keys()
        if missing:
            self._origins.update(await self.store.origins(missing))
        renewal = asyncio.create_task(self._renew(claimed))
        try:
            slots = asyncio.Semaphore(self.concurrency)

            async def answer(claimed: Claimed) -> Outcome:
                async with slots:
                    return await self.answer(claimed)

            outcomes = await asyncio.gather(*(answer(c) for c in claimed))
        finally:
            renewal.cancel()
        await self.store.finish(self.worker, outcomes)
        await self.store.settle({c.batch_id for c in claimed}, time.time())
        return True

    async def _renew(self, claimed: list[Claimed]) -> None:
        """Hold the lease while a slow backend is still answering."""
        while True:
            await asyncio.sleep(self.lease / 3)
            await self.store.renew(self.worker, claimed, time.time() + self.lease)

    async def answer(self, claimed: Claimed) -> Outcome:
        version, key_id = self._origins.get(claimed.batch_id, ("2023-06-01", None))
        try:
            key = await self.state.keys.get(key_id) if key_id is not None else None
            while True:
                try:
                    message = await answer(self.state, version, claimed.params.encode(), self._messages, key)
                    break
                except errors.RateLimitError as exc:
                    # The key's batch limits slow its batches down; they fail no request.
                    wait = exc.headers.get("retry-after")
                    if wait is None:
                        raise  # the spend limit: no waiting lifts it this month
                    await asyncio.sleep(int(wait))
        except errors.APIError as exc:
            result = {"type": "errored", "error": exc.to_dict(None)}
            return Outcome(claimed.batch_id, claimed.idx, ERRORED, orjson.dumps(result).decode())
        except Exception:
            logger.exception("unexpected error answering batch request %s/%s", claimed.batch_id, claimed.custom_id)
            result = {"type": "errored", "error": errors.InternalServerError().to_dict(None)}
            return Outcome(claimed.batch_id, claimed.idx, ERRORED, orjson.dumps(result).decode())
        result = {"type": "succeeded", "message": message}
        return Outcome(claimed.batch_id, claimed.idx, SUCCEEDED, orjson.dumps(result).decode())


def _check(call: Call) -> None:
    if call.body.get("stream"):
        raise errors.InvalidRequestError("stream: Input should be False")
    messages.check_create(call)


def messages_operation() -> Operation:
    """``POST /v1/messages`` for batch requests: never streamed. One per processor, as
    the edge has one per app: what it found valid was checked against that app's state."""
    return Operation(limited(messages.create, batch=True), "messages", MessageCreateParams, check=_check, scripted=True)


async def answer(state: State, version: str, params: bytes, op: Operation, key: Key | None = None) -> dict[str, Any]:
    """One batch request (its ``params`` as stored: a JSON object, checked when the
    batch was created), answered under the version its batch was created with, for
    the ``key`` that created it."""
    call = Call(request_id(), state, _SCOPE, version=version, key=key)
    plan_for(call, op)
    call.exchange = exchange.Exchange(call.request_id, version)
    token = exchange.begin(call.exchange)
    try:
        message, _ = await perform(op, call, raw=params)
    except faults.DropConnection:
        raise errors.APIError("Connection dropped") from None
    finally:
        exchange.end(token)
    assert isinstance(message, dict)
    usage = message.get("usage")
    if isinstance(usage, dict) and "service_tier" in usage:
        # Copied: a backend may hand out the same dict again (the built-in model's memo).
        message = {**message, "usage": {**usage, "service_tier": "batch"}}
    return message
