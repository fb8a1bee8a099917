"""Legacy Text Completions: ``POST /v1/complete``.

The head shape is the 2023-06-01 one; older shapes come from the version
changes. A prompt in the ``\\n\\nHuman: … \\n\\nAssistant:`` format is read into
a Messages request, so the same backend answers both APIs.
"""

from __future__ import annotations

import re
from typing import Any

from .. import errors
from ..ids import new_id
from ..operation import Call, Stream
from ..types import Event, EventStream
from .messages import check_model, check_range

HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"
_TURN = re.compile(r"\n\n(Human|Assistant):")
_START_ERROR = 'prompt must start with "\\n\\nHuman:" turn'
_END_ERROR = 'prompt must end with "\\n\\nAssistant:" turn'


async def create(call: Call) -> dict[str, Any] | Stream:
    params = call.body
    model = params["model"]
    check_model(call, model)
    info = call.state.catalog.get(model)
    if info is not None and not info.supports_completions:
        # Claude 3 and later answer only on /v1/messages; the API says so rather than 404.
        raise errors.InvalidRequestError(
            f'"{model}" is not supported on this API. Please use the Messages API instead.'
        )
    if params["max_tokens_to_sample"] < 1:
        raise errors.InvalidRequestError("max_tokens_to_sample: Input should be greater than or equal to 1")
    # The same sampling ranges as the Messages API.
    check_range("temperature", params.get("temperature"), 0, 1)
    check_range("top_p", params.get("top_p"), 0, 1)
    check_range("top_k", params.get("top_k"), 0)
    request = to_messages_request(params)
    if call.exchange is not None:
        # Messages requests at head have no place for them: beside it, for an upstream that samples.
        call.exchange.beside.update({k: params[k] for k in ("temperature", "top_p", "top_k") if k in params})
    events = call.backend.messages(request, stream=bool(params.get("stream")))
    completion_id = new_id("compl")
    completion_events = _completion_events(events, completion_id, model, request)
    if params.get("stream"):
        return Stream(completion_events)
    text, stop_reason, stop = "", None, None
    async for event in completion_events:
        if event.name == "completion":
            text += event.data["completion"]
            stop_reason, stop = event.data["stop_reason"], event.data["stop"]
    return _completion(completion_id, model, text, stop_reason, stop)


def _completion(cid: str, model: str, text: str, stop_reason: str | None, stop: str | None) -> dict[str, Any]:
    return {
        "type": "completion",
        "id": cid,
        "completion": text,
        "stop_reason": stop_reason,
        "model": model,
        "stop": stop,
        "log_id": cid,
    }


def sanitize(prompt: str) -> str:
    """What the API does before validating: trim trailing spaces, restore a lost leading blank line."""
    prompt = prompt.rstrip(" ")
    if prompt.startswith("Human:"):
        prompt = "\n\n" + prompt
    return prompt


def to_messages_request(params: dict[str, Any]) -> dict[str, Any]:
    prompt = sanitize(params["prompt"])
    turns = list(_TURN.finditer(prompt))
    if not turns or turns[0].group(1) != "Human":
        raise errors.InvalidRequestError(_START_ERROR)
    if turns[-1].group(1) != "Assistant":
        raise errors.InvalidRequestError(_END_ERROR)
    system = prompt[: turns[0].start()].strip()
    messages: list[dict[str, Any]] = []
    for turn, following in zip(turns, turns[1:] + [None]):
        text = prompt[turn.end() : following.start() if following else len(prompt)].strip()
        role = "user" if turn.group(1) == "Human" else "assistant"
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + text
        elif text or role == "user":
            # An empty "Assistant:" turn is where the answer goes; text after it is a prefill.
            messages.append({"role": role, "content": text})
    request: dict[str, Any] = {
        "model": params["model"],
        "max_tokens": params["max_tokens_to_sample"],
        "messages": messages,
        "stop_sequences": [*(params.get("stop_sequences") or ()), HUMAN],
    }
    if system:
        request["system"] = system
    return request


def _lead(request: dict[str, Any]) -> str:
    # A completion continues "Assistant:", so it opens with a space; after a
    # prefill the backend already continues the assistant's own words verbatim.
    return "" if request["messages"][-1]["role"] == "assistant" else " "


async def _completion_events(events: EventStream, cid: str, model: str, request: dict[str, Any]) -> EventStream:
    """Messages events in, head completion events out."""
    # The lead space is ours, so the backend cannot see a stop sequence that
    # starts in it (" Good" in " Good question"): hold the text back while one
    # still could, as the API matches stops on the whole completion.
    held: str | None = _lead(request) or None
    stops = [seq for seq in request["stop_sequences"] if seq]
    async for name, data in events:
        if name == "content_block_delta" and data["delta"]["type"] == "text_delta":
            text = data["delta"]["text"]
            if held is not None:
                held, text = None, held + text
                hit = next((seq for seq in stops if text.startswith(seq)), None)
                if hit is not None:
                    yield Event("completion", _completion(cid, model, "", "stop_sequence", hit))
                    close = getattr(events, "aclose", None)  # stop the backend generating
                    if close is not None:
                        await close()
                    return
                if any(len(seq) > len(text) and seq.startswith(text) for seq in stops):
                    held, text = text, ""
            if text:
                yield Event("completion", _completion(cid, model, text, None, None))
        elif name == "ping":
            yield Event("ping", {"type": "ping"})
        elif name == "message_delta":
            if held:
                # The backend stopped before (or without) saying a word.
                yield Event("completion", _completion(cid, model, held, None, None))
            delta = data["delta"]
            if delta["stop_reason"] == "max_tokens":
                stop_reason, stop = "max_tokens", None
            else:
                # A natural end is the model reaching the built-in "\n\nHuman:" stop.
                stop_reason, stop = "stop_sequence", delta.get("stop_sequence") or HUMAN
            yield Event("completion", _completion(cid, model, "", stop_reason, stop))
