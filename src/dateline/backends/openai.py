"""The ``openai`` backend: the Messages API in front of any server that speaks
OpenAI's chat completions (llama.cpp, llama-cpp-python, vLLM, OpenAI…).

Requests are translated (``_openai_request``), answers translated back
(``_openai_reply`` for whole answers, ``_openai_stream`` for streams); the
client sees its own model id, never the upstream's.

Failures, always as the API's own errors:

- An upstream that cannot be reached, does not answer in time, or answers
  429 or 5xx sits out the pool's cool-down and the request goes on to the next
  one (``upstream.send`` with ``resend``: a local server is not billed twice);
  when none answers the client gets 529 ``overloaded_error`` (504
  ``timeout_error`` if one timed out), and the last one's error answer is the
  client's.
- The upstream's 4xx → 400 ``invalid_request_error`` with its message; 429 →
  429 with its ``retry-after``; 401/403 (Dateline's key for it is wrong) and
  5xx → 500 ``api_error``.
- After a stream has started (a reset, a pause longer than the upstream's
  timeout, a malformed chunk, an error chunk), the error ends the stream as an
  ``error`` event.

``count_tokens`` asks the upstream's tokenizer about a plain rendering of the
conversation, plus two tokens a message for the chat template's markers:
``POST /tokenize`` (llama.cpp, vLLM), then ``POST /extras/tokenize/count``
(llama-cpp-python), at the server's root (``base_url`` less ``/v1``). An
endpoint that answers 404 or 405 is not asked again; when none serves, or the
upstream fails, the local estimator counts. The same count stands in for an
answer's input tokens when the upstream reports none (llama-cpp-python's
streams, a stream read only up to a stop sequence).
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from typing import Any

import httpx
import orjson

from .. import errors, tokenizer
from ..exchange import exchange
from ..ids import new_id
from ..thinking import Signer
from ..types import EventStream
from ..upstream import Clients, NoRecordedExchange, Pool, Target, Upstream, json_object, read_answer, relayable, send
from ._base import Backend
from ._openai_reply import completion_turn
from ._openai_request import chat_messages, chat_request, prompt_text
from ._openai_stream import DONE, StreamTranslator, chunks
from ._turn import Turn, turn_events, turn_message

logger = logging.getLogger("dateline")

#: Tokenizer endpoints, at the server's root, and the body each takes.
_TOKENIZERS = (("/tokenize", ("content", "prompt")), ("/extras/tokenize/count", ("input",)))
_TOKENIZE_TIMEOUT = 10.0
#: Tokens a chat template adds around each message (begin and end markers).
_TEMPLATE_TOKENS = 2
_RETRY_HEADERS = ("retry-after", "retry-after-ms")


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, pool: Pool[Target], clients: Clients, signer: Signer) -> None:
        self.pool = pool
        self.clients = clients
        #: Signs the thinking blocks it makes: the app's, so they verify as the built-in model's do.
        self.signer = signer
        self._no_tokenizer: dict[str, set[str]] = {}  # upstream name -> endpoints it lacks
        self._no_stream_usage: set[str] = set()  # upstreams whose streams report no usage

    async def message(self, request: dict[str, Any]) -> dict[str, Any]:
        turn, message_id, input_tokens, cached = await self._complete(request)
        return {**turn_message(turn, request, input_tokens, cached=cached), "id": message_id}

    async def messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        if not stream or request["max_tokens"] == 0:
            async for event in _events(request, *await self._complete(request)):
                yield event
            return
        counted = None
        if self.pool.members[0].upstream.name in self._no_stream_usage:
            # Its streams carry no usage: count first, so message_start is exact
            # (asking a one-request-at-a-time server while it streams would wait).
            counted = await self._count(self.pool.members[0].upstream, request)
        target, response = await self._send(chat_request(request, stream=True, beside=exchange().beside))
        if response.headers.get("content-type", "").startswith("application/json"):
            # The upstream ignored `stream` (some do, e.g. for tool calls): its whole answer, as events.
            async for event in _events(request, *await self._whole(target, response, request)):
                yield event
            return
        estimate = counted if counted is not None else tokenizer.count_request(request)
        translator = StreamTranslator(request, self.signer, input_tokens=estimate)
        done = False
        try:
            async with aclosing(chunks(response, target.upstream)) as payloads:
                async for payload in payloads:
                    if payload is DONE:
                        done = True
                        break
                    if "error" in payload and not payload.get("choices"):
                        raise error_chunk(target.upstream, payload["error"])
                    for event in translator.feed(payload):
                        yield event
                    if translator.stopped:
                        break  # a stop sequence: the rest is not wanted
            if not translator.input_counted and counted is None:  # no usage in its streams (llama-cpp-python)
                if done:
                    self._no_stream_usage.add(target.upstream.name)
                translator.input_tokens = await self._count(target.upstream, request)
            for event in translator.finish(done=done):
                yield event
        finally:
            await response.aclose()

    async def _complete(self, request: dict[str, Any]) -> tuple[Turn, str, int, int]:
        """The whole answer, asked for without streaming: ``(turn, message id, input tokens, cached)``."""
        if request["max_tokens"] == 0:
            # OpenAI servers refuse max_tokens 0; the API answers it without generating.
            return Turn([], "max_tokens", None, 0), new_id("msg"), await self.count_tokens(request), 0
        target, response = await self._send(chat_request(request, stream=False, beside=exchange().beside))
        return await self._whole(target, response, request)

    async def _whole(
        self, target: Target, response: httpx.Response, request: dict[str, Any]
    ) -> tuple[Turn, str, int, int]:
        await read_answer(response, target.upstream)
        completion = json_object(response, target.upstream)
        turn, message_id, input_tokens, cached = completion_turn(request, completion, self.signer)
        if input_tokens is None:
            input_tokens = await self._count(target.upstream, request)
        return turn, message_id, input_tokens, cached

    async def _send(self, body: dict[str, Any]) -> tuple[Target, httpx.Response]:
        """The first target's successful response (body unread); an error status raised as the API's error."""
        target, response = await send(self.pool, self.clients, "/chat/completions", body, _headers, resend=True)
        if response.status_code >= 400:
            await read_answer(response, target.upstream)
            raise upstream_error(target.upstream, response.status_code, response.content, response.headers)
        return target, response

    async def count_tokens(self, request: dict[str, Any]) -> int:
        return await self._count(self.pool.order()[0].upstream, request)

    async def _count(self, upstream: Upstream, request: dict[str, Any]) -> int:
        messages = chat_messages(request)
        text = prompt_text(messages, request.get("tools"))
        lacking = self._no_tokenizer.setdefault(upstream.name, set())
        for path, fields in _TOKENIZERS:
            if path in lacking:
                continue
            found = await self._tokenize(upstream, path, dict.fromkeys(fields, text))
            if found == "missing":
                lacking.add(path)
                continue
            if isinstance(found, int):
                return found + _TEMPLATE_TOKENS * len(messages) + 1
            break
        return tokenizer.count_request(request)

    async def _tokenize(self, upstream: Upstream, path: str, body: dict[str, Any]) -> int | str | None:
        """The token count the upstream gives, ``"missing"`` if it lacks the endpoint, None if it failed."""
        client = self.clients.get(upstream)
        timeout = httpx.Timeout(min(upstream.timeout, _TOKENIZE_TIMEOUT), connect=upstream.connect_timeout)
        try:
            response = await client.post(
                _root(upstream.base_url) + path, content=orjson.dumps(body), headers=_headers(upstream), timeout=timeout
            )
        except (httpx.HTTPError, NoRecordedExchange) as exc:
            logger.warning("upstream %s could not count tokens: %r", upstream.name, exc)
            return None
        if response.status_code in (404, 405):
            return "missing"
        try:
            answer = response.json() if response.status_code == 200 else None
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            count = answer.get("count")
            if type(count) is int and count >= 0:
                return count
            if isinstance(answer.get("tokens"), list):
                return len(answer["tokens"])
        return None


async def _events(request: dict[str, Any], turn: Turn, message_id: str, input_tokens: int, cached: int) -> EventStream:
    """A whole answer as the event stream, one delta a block."""
    async for event in turn_events(turn, request, input_tokens, stream=False, cached=cached):
        if event.name == "message_start":
            event.data["message"]["id"] = message_id
        yield event


def _headers(upstream: Upstream) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if upstream.api_key:
        headers["authorization"] = f"Bearer {upstream.api_key}"
    return headers


def _root(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def upstream_error(upstream: Upstream, status: int, body: Any, headers: Any = None) -> errors.APIError:
    """The API error for an upstream's error status and body (OpenAI's envelope or another)."""
    message = _error_message(body) or f"HTTP {status}"
    if status in (401, 403):
        return errors.InternalServerError(f"The upstream {upstream.name} rejected Dateline's credentials: {message}")
    if status == 429:
        retry = relayable(headers, _RETRY_HEADERS.__contains__) if headers is not None else {}
        return errors.RateLimitError(message, headers=retry)
    if status == 408:
        return errors.TimeoutError(f"The upstream {upstream.name} timed out: {message}")
    if status >= 500:
        return errors.InternalServerError(f"The upstream {upstream.name} failed ({status}): {message}")
    return errors.InvalidRequestError(message)


def error_chunk(upstream: Upstream, error: Any) -> errors.APIError:
    """The API error for an error sent inside a stream."""
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    return upstream_error(upstream, status, {"error": error})


def _error_message(body: Any) -> str:
    if isinstance(body, bytes):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body.decode("utf-8", "replace").strip()[:500]
    if not isinstance(body, dict):
        return str(body)[:500] if body else ""
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    for found in (error, body.get("message"), body.get("detail")):  # a bare string; vLLM; FastAPI
        if isinstance(found, str):
            return found
    return ""
