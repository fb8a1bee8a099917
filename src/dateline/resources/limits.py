"""A key's rate limits and spend limit around a head handler, and usage recorded for
every answered Messages request.

Wrapped around the handler, so a request is admitted only once its body is found
valid: a 400 uses up nothing. A limited key's response carries the
``anthropic-ratelimit-*`` headers as its admission left the buckets (through the
exchange's response headers, which the edge sends on JSON answers, streams and errors
alike). Output tokens are charged as produced: a JSON answer when it is ready, a stream
when it ends, however it ends (a client that leaves still pays for what was made). The
charges owed at one moment go to the limiter together, one per key, not one per answer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..keys import Key
from ..operation import Call, Stream
from ..ratelimit import INPUT, Admission, Limits, Quota, Subject, headers, spend_limit_error, uncached_input
from ..tokenizer import count_request
from ..types import Event
from ..usage import PICODOLLARS

logger = logging.getLogger("dateline")

Handler = Callable[[Call], Awaitable[Any]]

#: Whose usage a caller without a stored key (``--api-key``, or any key) is recorded under.
ANONYMOUS = "default"
#: The scope of batch requests: buckets of their own, as the API keeps batch limits apart.
BATCH = "batch"
#: The scope of token counting: requests only, apart from Messages.
COUNT_TOKENS = "count_tokens"

#: What an upstream's answer may carry about its own limits (the edge relays them).
RELAYED = "anthropic-ratelimit-"
RETRY_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry")

#: (key id, model, batch) -> (the key's settings, its subject); emptied when full.
_subjects: dict[tuple[str, str, bool], tuple[Any, Subject]] = {}
_SUBJECTS = 10_000
#: Charges not sent yet, per limiter and subject: (input tokens, output tokens, quota).
_owed: dict[Any, dict[Subject, tuple[int, int, int]]] = {}
# The tasks sending them, kept until done.
_pending: set[asyncio.Task[Any]] = set()


def limited(handler: Handler, *, batch: bool = False) -> Handler:
    """``POST /v1/messages`` (or a batch's request, ``batch``) held to its key's limits."""

    @functools.wraps(handler)
    async def wrapper(call: Call) -> Any:
        key, model = call.key, call.body["model"]
        subject = _subject(key, model, batch) if key is not None and key.limited else None
        estimate, shown = 0, None
        if subject is not None:
            await _check_spend(call, key)
            if INPUT in subject.kinds or subject.quota is not None:  # the key's or its workspace's
                estimate = count_request(call.body)
            shown = _show(call, await call.state.limiter.admit(subject, input_tokens=estimate))
        result = await handler(call)
        if shown is not None and call.exchange is not None and call.exchange.relayed:
            _put(call, shown)  # over an upstream's own (it relays them)
        owner = key.id if key is not None else ANONYMOUS
        if isinstance(result, Stream):
            return Stream(_settled(call, result.events, subject, owner, model, estimate, batch))
        usage = result.get("usage") if type(result) is dict else None
        if isinstance(usage, dict):
            call.state.usage.record(owner, model, usage, batch=batch)
            if subject is not None:
                _charge(call, subject, usage, estimate)
        return result

    return wrapper


def counted(handler: Handler) -> Handler:
    """``POST /v1/messages/count_tokens``: its own scope, requests per minute only."""

    @functools.wraps(handler)
    async def wrapper(call: Call) -> Any:
        key = call.key
        rpm = key.settings.rate_limits.requests_per_minute if key is not None else None
        if key is not None and rpm is not None:
            subject = Subject(key.id, Limits(requests=rpm), scope=COUNT_TOKENS)
            _show(call, await call.state.limiter.admit(subject))
        return await handler(call)

    return wrapper


def _subject(key: Key, model: str, batch: bool) -> Subject:
    """The key's subject for ``model``, made once per key object: the ring replaces a key's
    object when its settings or its workspace's limits change (its buckets are worked out once)."""
    cached = _subjects.get((key.id, model, batch))
    if cached is not None and cached[0] is key:
        return cached[1]
    if len(_subjects) >= _SUBJECTS:
        _subjects.clear()
    subject = _subjects[(key.id, model, batch)] = (key, _new_subject(key, model, batch))
    return subject[1]


def _new_subject(key: Key, model: str, batch: bool) -> Subject:
    """The key's buckets and its workspace's, when it has limits; a batch draws on the batch
    buckets of both (the same rates, apart, as the API keeps batch limits apart)."""
    settings = key.settings
    glob, rates = (None, settings.rate_limits) if batch else settings.limits_for(model)
    unified = settings.unified_limits
    space = key.workspace_limits
    return Subject(
        key.id,
        Limits(rates.requests_per_minute, rates.input_tokens_per_minute, rates.output_tokens_per_minute),
        workspace=key.workspace_id,
        workspace_limits=(
            Limits(space.requests_per_minute, space.input_tokens_per_minute, space.output_tokens_per_minute)
            if space is not None
            else None
        ),
        scope=BATCH if batch else glob or "default",
        workspace_scope=BATCH if batch else "default",
        quota=Quota(unified.five_hour, unified.seven_day) if unified is not None else None,
    )


async def _check_spend(call: Call, key: Key) -> None:
    limit = key.settings.spend_limit
    if limit is not None and await call.state.usage.spent(key.id) >= round(limit * PICODOLLARS):
        raise spend_limit_error(time.time())


def _show(call: Call, admission: Admission) -> dict[str, str]:
    """Let in: the headers go on the answer; refused: the 429, headers and all."""
    if not admission.allowed:
        raise admission.error(org=call.key.id if call.key else None, model=call.body.get("model"))
    shown = admission.headers()
    _put(call, shown)
    return shown


def _put(call: Call, values: dict[str, str]) -> None:
    """Dateline's own limit headers, in place of any an upstream relayed."""
    if call.exchange is None:
        return
    sent = call.exchange.response_headers
    if sent:
        for name in [n for n in sent if n.startswith(RELAYED) or n in RETRY_HEADERS]:
            del sent[name]
    sent.update(values)


def _charge(call: Call, subject: Subject, usage: dict[str, Any], estimate: int) -> None:
    """The output made, and the real uncached input in place of the estimate admitted:
    owed now, sent with whatever else is owed by then (one round trip for many answers)."""
    output = usage.get("output_tokens")
    output = output if type(output) is int and output > 0 else 0
    real = uncached_input(usage)
    if not _owed:
        task = asyncio.get_running_loop().create_task(_settle())
        _pending.add(task)
        task.add_done_callback(_pending.discard)
    owed = _owed.get(call.state.limiter)
    if owed is None:
        owed = _owed[call.state.limiter] = {}
    total = owed.get(subject)
    if total is None:
        owed[subject] = (real - estimate, output, real + output)
    else:
        owed[subject] = (total[0] + real - estimate, total[1] + output, total[2] + real + output)


async def _settle() -> None:
    """Send what is owed: one charge per subject, however many answers it sums."""
    await asyncio.sleep(0)  # let the answers finishing alongside add theirs
    while _owed:
        limiter, owed = _owed.popitem()
        for subject, (input_tokens, output_tokens, quota) in owed.items():
            try:
                await limiter.charge(subject, input_tokens=input_tokens, output_tokens=output_tokens, quota=quota)
            except Exception:
                logger.warning("rate limits: a charge failed (%s)", subject.key, exc_info=True)


async def _settled(
    call: Call,
    events: AsyncIterator[Event],
    subject: Subject | None,
    owner: str,
    model: str,
    estimate: int,
    batch: bool,
) -> AsyncIterator[Event]:
    """The stream as it is, its usage (message_start's, message_delta's) recorded and
    charged however it ends."""
    usage: dict[str, Any] = {}
    try:
        async for event in events:
            data = event.data
            if event.name == "message_start" and type(data) is dict:
                usage.update(data.get("message", {}).get("usage") or {})
            elif event.name == "message_delta" and type(data) is dict:
                usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            yield event
    finally:
        if usage:
            call.state.usage.record(owner, model, usage, batch=batch)
            if subject is not None:
                # Owed, not awaited: a stream closed by a departed client runs this cancelled.
                _charge(call, subject, usage, estimate)


async def standing(call: Call, endpoint: str) -> dict[str, str]:
    """A limited key's headers as its buckets stand, for an answer refused before it was
    admitted (a 400, a 404…): every response to such a key carries them."""
    key = call.key
    if key is None or not key.limited:
        return {}
    if endpoint == "count_tokens":
        rpm = key.settings.rate_limits.requests_per_minute
        subject = Subject(key.id, Limits(requests=rpm), scope=COUNT_TOKENS) if rpm is not None else None
    else:
        body = call.body if type(call.body) is dict else {}
        model = body.get("model")
        subject = _subject(key, model if type(model) is str else "", False)
    if subject is None:
        return {}
    try:
        return headers(await call.state.limiter.snapshot(subject))
    except Exception:  # a limiter out of reach does not turn the refusal into a 500
        logger.warning("rate limits: no snapshot for an error's headers", exc_info=True)
        return {}
