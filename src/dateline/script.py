"""Scripted replies and faults: the rules a test gives Dateline.

A rules file (YAML or JSON) is a list of rules, tried in order. A rule
*matches* on parts of a request and answers with a reply, a sequence of
replies (one per successive match), or a fault. Unmatched requests fall
through to the backend. Rules are validated at load time, and a bad one is
reported by its position/name and field.
"""

from __future__ import annotations

import fnmatch
import threading
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import orjson
import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._content import block_text, blocks
from ._re2 import regex as _regex
from .web_corpus import Corpus, CorpusError
from .web_corpus import parse as parse_corpus

Endpoint = Literal["messages", "complete", "count_tokens"]
StopReason = Literal[
    "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded"
]
RefusalCategory = Literal["cyber", "bio", "frontier_llm", "reasoning_extraction", "general_harms"]


class _Strict(BaseModel):
    # No inf/nan: an endless delay hangs a client rather than failing its test.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Match(_Strict):
    """What a request must have for the rule to apply; every given field must hold."""

    endpoint: Endpoint | None = None
    model: str | None = None  #: exact id or glob (``claude-*``)
    last_user: str | None = None  #: regex searched in the last user turn's text and tool results
    tools: list[str] | None = None  #: tool names that must all be offered
    user_id: str | None = None  #: ``metadata.user_id``
    headers: dict[str, str] | None = None  #: header name -> regex searched in its value
    api_key: str | None = None

    @field_validator("last_user")
    @classmethod
    def _last_user_regex(cls, value: str | None) -> str | None:
        if value is not None:
            _regex(value)
        return value

    @field_validator("headers")
    @classmethod
    def _header_regexes(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            for name, pattern in value.items():
                try:
                    _regex(pattern)
                except ValueError as exc:
                    raise ValueError(f"header {name!r}: {exc}") from None
            return {k.lower(): v for k, v in value.items()}
        return value


class ToolCall(_Strict):
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None

    @field_validator("input")
    @classmethod
    def _json(cls, value: dict[str, Any]) -> dict[str, Any]:
        # YAML has values JSON lacks (binary, dates, huge integers): keep the
        # input as the client will read it, or refuse it now, not at request time.
        try:
            return orjson.loads(orjson.dumps(value))
        except TypeError as exc:
            raise ValueError(f"not JSON: {exc}") from None


_MAX_INT = 2**63 - 1  # the largest integer the JSON encoder writes


class Usage(_Strict):
    input_tokens: int | None = Field(default=None, ge=0, le=_MAX_INT)
    output_tokens: int | None = Field(default=None, ge=0, le=_MAX_INT)


class StopDetails(_Strict):
    """Why the model refused, as the API's ``stop_details`` says it (null fields: not named)."""

    type: Literal["refusal"] = "refusal"
    category: RefusalCategory | None = None
    explanation: str | None = None


class Reply(_Strict):
    """What the model says: any of thinking, text and tool calls, in that order."""

    text: str | None = None
    tool_use: list[ToolCall] = Field(default_factory=list)
    thinking: str | None = None
    #: default: refusal with stop_details, tool_use if tools are called, else end_turn
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    stop_details: StopDetails | None = None  #: a refusal's category and explanation
    usage: Usage | None = None

    @model_validator(mode="after")
    def _details_of_a_refusal(self) -> Reply:
        if self.stop_details is not None and self.stop_reason not in (None, "refusal"):
            raise ValueError("stop_details go with stop_reason refusal")
        return self


ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "conflict_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
]


class Fault(_Strict):
    """Something going wrong, on purpose."""

    error: ErrorType | None = None  #: answer with this API error
    message: str | None = None  #: its message (default: the API's usual one)
    retry_after: float | None = Field(default=None, ge=0)  #: seconds, sent as ``retry-after``
    #: Stream this many events, then the error (or drop the connection). A
    #: request that does not stream gets either at once.
    after_events: int | None = Field(default=None, ge=0)
    disconnect_after_events: int | None = Field(default=None, ge=0)
    first_token_delay: float | None = Field(default=None, ge=0)  #: seconds before the first event
    token_delay: float | None = Field(default=None, ge=0)  #: seconds before each delta

    @model_validator(mode="after")
    def _consistent(self) -> Fault:
        if self.after_events is not None and self.error is None:
            raise ValueError("after_events needs an error to fail with")
        return self


class Rule(_Strict):
    name: str | None = None
    match: Match = Field(default_factory=Match)
    reply: Reply | None = None
    replies: list[Reply] | None = None  #: one per successive match; the last repeats
    fault: Fault | None = None
    times: int | None = Field(default=None, ge=1)  #: apply to the first N matches only

    @model_validator(mode="after")
    def _one_answer(self) -> Rule:
        if self.reply is not None and self.replies is not None:
            raise ValueError("give either reply or replies, not both")
        if self.replies is not None and not self.replies:
            raise ValueError("replies must not be empty")
        if self.reply is None and self.replies is None and self.fault is None:
            raise ValueError("a rule needs a reply, replies or a fault")
        return self


class Script(_Strict):
    rules: list[Rule] = Field(default_factory=list)
    #: What web search and web fetch find (``dateline.web_corpus``); None: the built-in corpus.
    web: Corpus | None = None


class ScriptError(ValueError):
    """A rules file that cannot be used; the message names the rule and field."""


def parse(data: Any) -> Script:
    """Validate rules given as data: ``{"rules": [...], "web": {...}}`` or a bare list of rules."""
    if isinstance(data, list):
        data = {"rules": data}
    if isinstance(data, dict) and data.get("web") is not None:
        try:
            data = {**data, "web": parse_corpus(data["web"])}
        except CorpusError as exc:
            raise ScriptError(str(exc)) from None
    try:
        return Script.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ScriptError(_describe(exc, data)) from None


def load(path: str | Path) -> Script:
    """Read a YAML or JSON rules file (``.json`` is JSON; anything else YAML, a superset)."""
    try:
        text = Path(path).read_bytes().decode()
    except UnicodeDecodeError as exc:
        raise ScriptError(f"rules file is not UTF-8 text: {exc}") from None
    return loads(text, yaml=Path(path).suffix.lower() != ".json")


def loads(text: str | bytes, *, yaml: bool = True) -> Script:
    try:
        data = _load_yaml(text) if yaml else orjson.loads(text)
    except ScriptError:
        raise
    except Exception as exc:  # the parsers raise several error types
        raise ScriptError(f"rules file is not valid {'YAML' if yaml else 'JSON'}: {exc}") from None
    return parse(data if data is not None else [])


#: How many nodes YAML aliases may add to a rules file, all repeats counted: a
#: few hundred bytes of nested aliases would otherwise stand for billions.
MAX_ALIASED_NODES = 10_000


def _load_yaml(text: str | bytes) -> Any:
    """``yaml.safe_load``, refusing aliases that repeat more than ``MAX_ALIASED_NODES`` nodes."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()  # the node graph: an alias is one shared node, however often used
        if node is None:
            return None
        _check_aliases(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_aliases(root: Any) -> None:
    """Refuse a node graph whose tree, aliases expanded, is too big (or endless)."""
    import yaml

    def children(node: Any) -> list[Any]:
        if isinstance(node, yaml.SequenceNode):
            return node.value
        if isinstance(node, yaml.MappingNode):
            return [part for pair in node.value for part in pair]
        return []

    distinct: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) not in distinct:
            distinct.add(id(node))
            pending.extend(children(node))
    limit = len(distinct) + MAX_ALIASED_NODES
    # Each node's size in the expanded tree, children first; a node met again
    # while it is still open is an alias inside its own anchor.
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            open_.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in children(node))
            if size[key] > limit:
                raise ScriptError(
                    f"rules file is not valid YAML: its aliases repeat more than {MAX_ALIASED_NODES} nodes"
                )
        elif key not in size:
            if key in open_:
                raise ScriptError("rules file is not valid YAML: an alias refers to a node that contains it")
            open_.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children(node) if id(child) not in size)


def _describe(exc: pydantic.ValidationError, data: Any) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    if not loc:
        return "a rules file is a list of rules, or a mapping with a 'rules' list"
    where = ""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        index = loc[1]
        rules = data.get("rules") if isinstance(data, dict) else None
        name = (
            rules[index].get("name")
            if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict)
            else None
        )
        where = f"rule {index + 1}" + (f" ({_short(str(name))!r})" if name else "")
        loc = loc[2:]
    field = ".".join(str(p) for p in loc)
    message = err["msg"].removeprefix("Value error, ")
    return ", ".join(p for p in (where, f"field {field!r}" if field else "") if p) + f": {message}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


_USER_TEXT = ("text", "tool_result")


class Request(BaseModel):
    """The parts of a request rules look at."""

    model_config = ConfigDict(frozen=True)

    endpoint: str
    model: str | None
    last_user: str
    tools: frozenset[str]
    user_id: str | None
    headers: dict[str, str]
    api_key: str | None

    @cached_property
    def last_user_utf8(self) -> bytes:
        # Searched by every rule's regex: encoded once (RE2 reads bytes; given str, it encodes each time).
        return self.last_user.encode(errors="surrogatepass")

    @classmethod
    def of(cls, endpoint: str, body: dict[str, Any], headers: dict[str, str], api_key: str | None) -> Request:
        if endpoint == "complete":
            prompt = body.get("prompt") or ""
            last = prompt.rsplit("\n\nHuman:", 1)[-1].split("\n\nAssistant:", 1)[0].strip()
        else:
            last = ""
            for message in reversed(body.get("messages") or ()):
                if message.get("role") == "user":
                    # Tool results count: after a tool call they are all the user turn says.
                    parts = (block_text(b) for b in blocks(message.get("content")) if b.get("type") in _USER_TEXT)
                    last = "\n".join(p for p in parts if p)
                    break
        return cls(
            endpoint=endpoint,
            model=body.get("model"),
            last_user=last,
            tools=frozenset(t.get("name") for t in body.get("tools") or () if t.get("name")),
            user_id=(body.get("metadata") or {}).get("user_id"),
            headers=headers,
            api_key=api_key,
        )


_Regexes = tuple[Any, dict[str, Any]]


def _compile(match: Match) -> _Regexes:
    last_user = _regex(match.last_user) if match.last_user is not None else None
    return last_user, {name: _regex(pattern) for name, pattern in (match.headers or {}).items()}


def matches(match: Match, request: Request, regexes: _Regexes | None = None) -> bool:
    """Whether ``request`` has all ``match`` asks for (``regexes``: its regexes, compiled already)."""
    if match.endpoint is not None and match.endpoint != request.endpoint:
        return False
    if match.model is not None and not fnmatch.fnmatchcase(request.model or "", match.model):
        return False
    last_user, headers = regexes if regexes is not None else _compile(match)
    if last_user is not None and not last_user.search(request.last_user_utf8):
        return False
    if match.tools is not None and not set(match.tools) <= request.tools:
        return False
    if match.user_id is not None and match.user_id != request.user_id:
        return False
    if match.api_key is not None and match.api_key != request.api_key:
        return False
    for name, regex in headers.items():
        if not regex.search(request.headers.get(name, "")):
            return False
    return True


class Decision(BaseModel):
    """The rule that answered, and with what."""

    model_config = ConfigDict(frozen=True)

    rule: int
    name: str | None
    reply: Reply | None
    fault: Fault | None


class Scripter:
    """Holds the loaded rules and how often each has matched (thread-safe)."""

    def __init__(self, script: Script | None = None) -> None:
        self._lock = threading.Lock()
        self.load(script or Script())

    def load(self, script: Script) -> None:
        regexes = [_compile(rule.match) for rule in script.rules]  # once, not per request
        with self._lock:
            self.script = script
            self._hits = [0] * len(script.rules)
            self._regexes = regexes
            self.active = bool(script.rules)

    def prepend(self, rule: Rule) -> None:
        """Put ``rule`` first, keeping how often the others have matched
        (``load`` would start them over, and a spent ``times`` rule would fire again)."""
        regexes = _compile(rule.match)
        with self._lock:
            self.script = Script(rules=[rule, *self.script.rules], web=self.script.web)
            self._hits = [0, *self._hits]
            self._regexes = [regexes, *self._regexes]
            self.active = True

    def reset(self) -> None:
        self.load(Script())

    async def open(self) -> None:
        """Nothing to do in one process (``SharedScripter`` follows Redis from here)."""

    async def aclose(self) -> None:
        pass

    def decide(self, request: Request) -> Decision | None:
        with self._lock:
            for i, rule in enumerate(self.script.rules):
                if rule.times is not None and self._hits[i] >= rule.times:
                    continue
                if not matches(rule.match, request, self._regexes[i]):
                    continue
                hit = self._hits[i]
                self._hits[i] += 1
                reply = rule.reply
                if rule.replies is not None:
                    reply = rule.replies[min(hit, len(rule.replies) - 1)]
                return Decision(rule=i, name=rule.name, reply=reply, fault=rule.fault)
        return None

    async def adecide(self, request: Request) -> Decision | None:
        """``decide``, for callers on the event loop (``SharedScripter`` awaits Redis here)."""
        return self.decide(request)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            described: dict[str, Any] = {
                "rules": [
                    {**rule.model_dump(exclude_none=True), "hits": hits}
                    for rule, hits in zip(self.script.rules, self._hits)
                ]
            }
            if self.script.web is not None:
                described["web"] = self.script.web.model_dump(exclude_none=True)
            return described


class SharedScripter(Scripter):
    """The rules and their hit counts in Redis, shared by every replica.

    The rules live under ``{prefix}`` (JSON) with a version; a change is
    published on ``{prefix}`` with the rules in the message, and every replica
    swaps its local copy as it arrives: deciding costs no round trip until a
    rule matches. A match then counts in one ``HINCRBY`` (``{prefix}:hits``,
    fields ``version:index``), awaited only when the count decides (``times``,
    ``replies``) so that ``times: N`` holds across replicas; otherwise counted
    in the background, for ``describe``.

    Loading, prepending and describing are rare and use a blocking client;
    the subscriber and background counts an asyncio one.
    """

    def __init__(self, redis_url: str, script: Script | None = None, *, prefix: str = "dateline:rules") -> None:
        import redis
        import redis.asyncio

        super().__init__()
        self.prefix = prefix
        self.version = 0
        self._spent: set[tuple[int, int]] = set()
        self._tasks: set[Any] = set()
        self._listener: Any = None
        self._initial = script
        self._sync = redis.Redis.from_url(redis_url)
        self._async = redis.asyncio.Redis.from_url(redis_url)

    # -- life cycle -----------------------------------------------------------

    async def open(self) -> None:
        """Adopt the rules Redis holds (a server's own ``--script`` only when it holds none),
        then follow every change."""
        import asyncio

        pubsub = self._async.pubsub()
        await pubsub.subscribe(self.prefix)
        if self._initial is not None:
            await asyncio.to_thread(self._write, self._initial, only_if_none=True)
        await self._read()
        self._listener = asyncio.create_task(self._listen(pubsub), name="dateline rules")

    async def _read(self) -> None:
        stored = await self._async.mget(self.prefix, f"{self.prefix}:version")
        if stored[0] is not None:
            self._apply(int(stored[1] or 0), stored[0])

    async def aclose(self) -> None:
        import asyncio
        import contextlib

        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._async.aclose()
        self._sync.close()

    async def _listen(self, pubsub: Any) -> None:
        import asyncio
        import logging

        while True:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        version, _, data = message["data"].partition(b"|")
                        self._apply(int(version), data)
            except Exception:
                # Redis gone for a moment: subscribe again, then read what was missed.
                logging.getLogger("dateline").warning("rules: lost Redis; following it again", exc_info=True)
                await asyncio.sleep(0.5)
                try:
                    await pubsub.subscribe(self.prefix)
                    await self._read()
                except Exception:
                    pass

    def _apply(self, version: int, data: bytes) -> None:
        if version <= self.version:
            return
        script = Script.model_validate_json(data)
        regexes = [_compile(rule.match) for rule in script.rules]
        with self._lock:
            self.version = version
            self.script = script
            self._hits = [0] * len(script.rules)
            self._regexes = regexes
            self._spent = set()
            self.active = bool(script.rules)

    # -- changes --------------------------------------------------------------

    def load(self, script: Script) -> None:
        if not hasattr(self, "_sync"):  # Scripter.__init__: nothing to share yet
            super().load(script)
            return
        self._write(script)

    def prepend(self, rule: Rule) -> None:
        hits = self._hit_counts()
        self._write(Script(rules=[rule, *self.script.rules], web=self.script.web), hits=[0, *hits])

    _WRITE = """
    if ARGV[2] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    local version = redis.call('INCR', KEYS[2])
    redis.call('SET', KEYS[1], ARGV[1])
    redis.call('DEL', KEYS[3])
    for i = 3, #ARGV do
        if ARGV[i] ~= '0' then redis.call('HSET', KEYS[3], version .. ':' .. (i - 3), ARGV[i]) end
    end
    redis.call('PUBLISH', KEYS[1], version .. '|' .. ARGV[1])
    return version
    """

    def _write(self, script: Script, *, hits: list[int] | None = None, only_if_none: bool = False) -> None:
        data = script.model_dump_json()
        keys = [self.prefix, f"{self.prefix}:version", f"{self.prefix}:hits"]
        version = self._sync.eval(self._WRITE, 3, *keys, data, int(only_if_none), *(hits or ()))
        if version:
            self._apply(int(version), data.encode())

    # -- requests -------------------------------------------------------------

    def decide(self, request: Request) -> Decision | None:
        """As ``adecide``, with a blocking round trip when a count decides."""
        with self._lock:
            version, rules, regexes = self.version, self.script.rules, self._regexes
        for i, rule in enumerate(rules):
            if (version, i) in self._spent or not matches(rule.match, request, regexes[i]):
                continue
            hit = self._sync.hincrby(*self._hit(version, i), 1) - 1 if self._counted(rule) else self._count(version, i)
            decision = self._decision(version, i, rule, hit)
            if decision is not None:
                return decision
        return None

    async def adecide(self, request: Request) -> Decision | None:
        """The first rule that matches and is not spent: one ``HINCRBY`` awaited when
        its count decides (``times``, ``replies``), none otherwise."""
        with self._lock:
            version, rules, regexes = self.version, self.script.rules, self._regexes
        for i, rule in enumerate(rules):
            if (version, i) in self._spent or not matches(rule.match, request, regexes[i]):
                continue
            hit = (
                await self._async.hincrby(*self._hit(version, i), 1) - 1
                if self._counted(rule)
                else self._count(version, i)
            )
            decision = self._decision(version, i, rule, hit)
            if decision is not None:
                return decision
        return None

    @staticmethod
    def _counted(rule: Rule) -> bool:
        return rule.times is not None or rule.replies is not None

    def _hit(self, version: int, index: int) -> tuple[str, str]:
        return f"{self.prefix}:hits", f"{version}:{index}"

    def _decision(self, version: int, index: int, rule: Rule, hit: int) -> Decision | None:
        if rule.times is not None and hit >= rule.times:
            self._spent.add((version, index))  # no more round trips for it
            return None
        reply = rule.reply
        if rule.replies is not None:
            reply = rule.replies[min(hit, len(rule.replies) - 1)]
        return Decision(rule=index, name=rule.name, reply=reply, fault=rule.fault)

    def _count(self, version: int, index: int) -> int:
        """Count a match whose count decides nothing, in the background (for ``describe``)."""
        import asyncio

        task = asyncio.get_running_loop().create_task(self._async.hincrby(*self._hit(version, index), 1))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 0

    def _hit_counts(self) -> list[int]:
        with self._lock:
            version, rules = self.version, self.script.rules
        stored = self._sync.hgetall(f"{self.prefix}:hits")
        counts = [int(stored.get(f"{version}:{i}".encode(), 0)) for i in range(len(rules))]
        # A spent rule's count went one past ``times`` for each refused match.
        return [min(c, r.times) if r.times is not None else c for c, r in zip(counts, rules)]

    def describe(self) -> dict[str, Any]:
        hits = self._hit_counts()
        with self._lock:
            self._hits = hits
        return super().describe()
