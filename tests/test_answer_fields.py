"""Every field the official SDK declares for a Message, its usage and each
stream event is in every answer, under every version, streamed or not: the
SDK reads them all (the TypeScript SDK declares them always present), so one
left out is a field a client cannot tell from null.

The answers are read through the official client, with strict response
validation, from the app in process; a model's ``model_fields_set`` is the
keys its JSON had.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic._models import validate_type
from anthropic.types import (
    CacheCreation,
    Message,
    MessageDeltaUsage,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RefusalStopDetails,
    Usage,
)
from anthropic.types.raw_message_delta_event import Delta
from pydantic import BaseModel

from dateline import Settings, create_app, script

VERSIONS = ["2023-01-01", "2023-06-01", "2026-10-21"]
MODEL = "claude-sonnet-4-5"
WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
REFUSAL = {"category": "cyber", "explanation": "This asks for working malware."}
RULES = [
    {"match": {"last_user": "scripted refusal"}, "reply": {"text": "I can explain", "stop_details": REFUSAL}},
    {
        "match": {"last_user": "scripted tool"},
        "reply": {"thinking": "A tool helps.", "tool_use": [{"name": "get_weather", "input": {"city": "Oslo"}}]},
    },
]
#: Requests that reach each source of answers: the built-in model (text; thinking and a tool), scripted replies.
ASKS: dict[str, dict[str, Any]] = {
    "builtin": {"messages": [{"role": "user", "content": "Tell me about tide pools"}]},
    "builtin-tool": {
        "messages": [{"role": "user", "content": "Use get_weather for Oslo"}],
        "tools": [WEATHER],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "max_tokens": 2048,
    },
    "scripted-refusal": {"messages": [{"role": "user", "content": "A scripted refusal, please"}]},
    "scripted-tool": {"messages": [{"role": "user", "content": "A scripted tool call"}], "tools": [WEATHER]},
}
#: The models whose every field must be present, and where they sit in each answer.
EVENTS: dict[str, type[BaseModel]] = {
    "message_start": RawMessageStartEvent,
    "content_block_start": RawContentBlockStartEvent,
    "content_block_delta": RawContentBlockDeltaEvent,
    "content_block_stop": RawContentBlockStopEvent,
    "message_delta": RawMessageDeltaEvent,
    "message_stop": RawMessageStopEvent,
}


def missing(value: BaseModel, model: type[BaseModel], where: str) -> list[str]:
    """The fields ``model`` declares that ``value``'s JSON did not have, named by their path."""
    assert isinstance(value, model), f"{where} is a {type(value).__name__}, not a {model.__name__}"
    return [f"{where}.{name}" for name in model.model_fields if name not in value.model_fields_set]


def missing_in_message(message: Message, where: str) -> list[str]:
    gaps = missing(message, Message, where) + missing(message.usage, Usage, f"{where}.usage")
    if message.usage.cache_creation is not None:
        gaps += missing(message.usage.cache_creation, CacheCreation, f"{where}.usage.cache_creation")
    if message.stop_details is not None:
        gaps += missing(message.stop_details, RefusalStopDetails, f"{where}.stop_details")
    return gaps


def missing_in_event(event: BaseModel) -> list[str]:
    kind = event.type  # type: ignore[attr-defined]
    gaps = missing(event, EVENTS[kind], kind)
    if isinstance(event, RawMessageStartEvent):
        gaps += missing_in_message(event.message, "message_start.message")
    if isinstance(event, RawMessageDeltaEvent):
        gaps += missing(event.delta, Delta, "message_delta.delta") + missing(
            event.usage, MessageDeltaUsage, "message_delta.usage"
        )
        if event.delta.stop_details is not None:
            gaps += missing(event.delta.stop_details, RefusalStopDetails, "message_delta.delta.stop_details")
    return gaps


def test_a_field_left_out_is_found() -> None:
    """The check itself: a message_delta of the API's older shape lacks what today's SDK declares."""
    older = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 3},
    }
    gaps = missing_in_event(validate_type(type_=RawMessageDeltaEvent, value=older))
    assert "message_delta.delta.stop_details" in gaps and "message_delta.usage.server_tool_use" in gaps


async def answers(version: str, ask: dict[str, Any]) -> tuple[Message, list[BaseModel]]:
    """The non-streamed answer to ``ask`` and the streamed one's events, through the SDK under ``version``."""
    app = create_app(Settings(signing_key="test-key"))
    app.state.dateline.scripter.load(script.parse(RULES))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://dateline") as http:
        client = anthropic.AsyncAnthropic(
            base_url="http://dateline",
            api_key="sk-ant-test",
            http_client=http,
            max_retries=0,
            default_headers={"anthropic-version": version},
            _strict_response_validation=True,
        )
        request = {"model": MODEL, "max_tokens": 400, **ask}
        message = await client.messages.create(**request)
        events = [event async for event in await client.messages.create(**request, stream=True)]
    return message, events


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("source", sorted(ASKS))
def test_every_declared_field_is_sent(version: str, source: str) -> None:
    message, events = asyncio.run(answers(version, ASKS[source]))
    assert [e.type for e in events][:1] == ["message_start"] and events[-1].type == "message_stop"
    gaps = missing_in_message(message, "message")
    for event in events:
        gaps += missing_in_event(event)
    assert gaps == []
    # Null where the API sends null, as the API sends it: no container, no diagnostics, no server tools.
    assert (message.container, message.diagnostics, message.usage.server_tool_use) == (None, None, None)
    assert message.usage.service_tier == "standard" and message.usage.speed == "standard"
    assert message.usage.cache_creation == CacheCreation(ephemeral_5m_input_tokens=0, ephemeral_1h_input_tokens=0)
    assert message.usage.inference_geo == "global"


@pytest.mark.parametrize("source", sorted(ASKS))
def test_streamed_and_non_streamed_answers_agree(source: str) -> None:
    message, events = asyncio.run(answers("2026-10-21", ASKS[source]))
    start = events[0].message
    delta = next(e for e in events if e.type == "message_delta")
    # message_start: nothing said yet; message_delta: the running totals, input and cache fields repeated.
    assert (start.stop_reason, start.stop_details, start.usage.output_tokens_details) == (None, None, None)
    assert delta.usage.input_tokens == start.usage.input_tokens == message.usage.input_tokens
    assert delta.usage.cache_read_input_tokens == message.usage.cache_read_input_tokens == 0
    assert delta.usage.cache_creation_input_tokens == message.usage.cache_creation_input_tokens == 0
    assert delta.usage.output_tokens == message.usage.output_tokens
    assert delta.usage.output_tokens_details == message.usage.output_tokens_details
    assert delta.delta.stop_reason == message.stop_reason and delta.delta.stop_details == message.stop_details
    thinking = message.usage.output_tokens_details.thinking_tokens
    assert (thinking > 0) == any(block.type == "thinking" for block in message.content)
    assert thinking < message.usage.output_tokens
