"""An OpenAI chat completion as a Messages turn, and what streamed and
non-streamed answers share: ids, stop reasons, stop sequences, usage.

- Ids are derived from the upstream's (``msg_``/``toolu_`` + a hash), so a
  replayed upstream answer gives the identical Message.
- ``reasoning_content`` (or ``reasoning``) becomes a signed thinking block, but
  only when the request enabled thinking: the API never sends thinking blocks
  unasked, and clients read ``content[0].text``.
- Stop sequences are found here (``_stop``), not upstream: the text is cut
  before the first one and ``stop_reason`` is ``stop_sequence`` with the
  sequence matched.
  Tool calls after that point are dropped; output tokens are then estimated,
  since the upstream counted what was cut.
- ``finish_reason``: ``length`` → ``max_tokens``; tool calls present →
  ``tool_use`` (some servers say ``stop``); ``content_filter`` → ``refusal``;
  anything else → ``end_turn``.
- Usage: ``prompt_tokens_details.cached_tokens`` is the part of the prompt read
  from the upstream's cache (``cache_read_input_tokens``; ``input_tokens`` is
  the rest), ``completion_tokens_details.reasoning_tokens`` the output spent
  thinking (``output_tokens_details.thinking_tokens``).
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

import orjson

from .. import errors, tokenizer
from ..ids import new_id
from ..thinking import Signer
from ._stop import find_stop
from ._turn import Block, Turn

CUT_OFF_JSON = "The upstream model's tool call arguments are not valid JSON (cut off at max_tokens?)"


def derived_id(prefix: str, *parts: object) -> str:
    """An id in the API's style, the same for the same ``parts``."""
    return new_id(prefix, random.Random("\x1f".join(map(str, parts))))


def message_id(upstream_id: Any) -> str:
    return derived_id("msg", "openai", upstream_id) if upstream_id else new_id("msg")


def tool_use_id(upstream_id: Any, position: int, call_id: Any) -> str:
    # The upstream's call ids are not always unique (some servers number them per answer).
    if not upstream_id and not call_id:
        return new_id("toolu")
    return derived_id("toolu", "openai", upstream_id, position, call_id)


def thinking_display(request: dict[str, Any]) -> str | None:
    """``"summarized"`` or ``"omitted"`` when the request asked for thinking, else None."""
    thinking = request.get("thinking") or {}
    if thinking.get("type") not in ("enabled", "adaptive"):
        return None
    return "omitted" if thinking.get("display") == "omitted" else "summarized"


def signature(signer: Signer, thinking: str, display: str) -> str:
    omitted = display == "omitted"
    return signer.sign("" if omitted else thinking, omitted=omitted)


def reasoning_of(message: dict[str, Any]) -> str:
    """The reasoning text of a message or delta (llama.cpp and DeepSeek name it
    ``reasoning_content``, vLLM and OpenRouter ``reasoning``)."""
    found = message.get("reasoning_content") or message.get("reasoning")
    return found if isinstance(found, str) else ""


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # a few servers answer with parts
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text" and _str(p, "text")
        )
    return ""


def _str(value: dict[str, Any], key: str) -> bool:
    return isinstance(value.get(key), str)


def malformed(what: str) -> errors.APIError:
    """The API error for a part of an answer no OpenAI-compatible server should send."""
    return errors.InternalServerError(f"The upstream's answer is malformed: {what}")


def listed(value: Any, what: str) -> list[Any]:
    """``value`` as a list (None: empty); anything else is malformed."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise malformed(f"{what} is not a list")
    return value


def function_of(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call's ``function``: an object whose ``name``, when present, is a string."""
    function = call.get("function")
    if function is None:
        return {}
    if not isinstance(function, dict) or function.get("name") is not None and not _str(function, "name"):
        raise malformed("a tool call's function is not an object with a string name")
    return function


def stop_reason(finish_reason: Any, *, called_tools: bool) -> str:
    if finish_reason == "length":
        return "max_tokens"
    if called_tools:
        return "tool_use"
    if finish_reason == "content_filter":
        return "refusal"
    return "end_turn"


class Counts(NamedTuple):
    """An OpenAI ``usage``, None where absent."""

    prompt: int | None  #: the whole prompt
    completion: int | None
    cached: int | None  #: of the prompt, read from the upstream's cache
    reasoning: int | None  #: of the completion, spent reasoning


def counts(usage: Any) -> Counts:
    if not isinstance(usage, dict):
        return Counts(None, None, None, None)
    prompt, completion = usage.get("prompt_tokens_details"), usage.get("completion_tokens_details")
    return Counts(
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        _count(prompt.get("cached_tokens")) if isinstance(prompt, dict) else None,
        _count(completion.get("reasoning_tokens")) if isinstance(completion, dict) else None,
    )


def _count(value: Any) -> int | None:
    # Not a bool, never negative: what else a server sends is no count.
    return value if type(value) is int and value >= 0 else None


def tool_input_json(arguments: Any) -> str:
    """A whole tool call's arguments as the JSON of an object, or an ``api_error``."""
    if isinstance(arguments, dict):
        return orjson.dumps(arguments).decode()
    if not isinstance(arguments, str) or not arguments.strip():
        return "{}"  # no arguments: some servers send "" for a call without parameters
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise errors.InternalServerError(CUT_OFF_JSON) from None
    if not isinstance(value, dict):
        raise errors.InternalServerError("The upstream model's tool call arguments are not a JSON object")
    return arguments


def completion_turn(
    request: dict[str, Any], completion: dict[str, Any], signer: Signer
) -> tuple[Turn, str, int | None, int]:
    """A non-streamed chat completion as ``(turn, message id, input tokens, cached input tokens)``;
    the input tokens (the whole prompt) are None when the upstream did not count them."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if choice is None:
        raise errors.InternalServerError("The upstream's answer has no choices")
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise malformed("its message is not an object")
    upstream_id = completion.get("id")
    out: list[Block] = []
    reasoning, display = reasoning_of(message), thinking_display(request)
    if reasoning and display:
        shown = "" if display == "omitted" else reasoning
        out.append(Block("thinking", shown, signature(signer, reasoning, display)))
    text = text_of(message.get("content"))
    calls = [c for c in listed(message.get("tool_calls"), "tool_calls") if isinstance(c, dict)]
    cut = find_stop(text, request.get("stop_sequences") or ())
    if cut is not None:
        text, calls = text[: cut[0]], []
    if text:
        out.append(Block("text", text))
    for position, call in enumerate(calls):
        function = function_of(call)
        tool_id = tool_use_id(upstream_id, position, call.get("id"))
        arguments = tool_input_json(function.get("arguments"))
        out.append(Block("tool_use", tool_id=tool_id, name=function.get("name") or "", input_json=arguments))
    input_tokens, output_tokens, cached, reasoning = counts(completion.get("usage"))
    if output_tokens is None or cut is not None:
        output_tokens = estimate_output(reasoning, text, "".join(b.input_json for b in out if b.type == "tool_use"))
    if cut is not None:
        reason, sequence = "stop_sequence", cut[1]
    else:
        reason, sequence = stop_reason(choice.get("finish_reason"), called_tools=bool(calls)), None
    turn = Turn(out, reason, sequence, output_tokens, thinking_tokens=reasoning)
    return turn, message_id(upstream_id), input_tokens, cached or 0


def estimate_output(*texts: str) -> int:
    return sum(tokenizer.count(text) for text in texts)
