"""The prompt-cache engine on its own: positions and their tokens, breakpoints,
prefix hashes, the lookback, the mixed-TTL accounting, entries on a test clock,
scopes. Over HTTP and through the SDK: tests/resources/test_messages_caching.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dateline import tokenizer
from dateline.catalog import Catalog
from dateline.prompt_cache import Accounting, Clock, MemoryCacheState, PromptCache, account, marked, prompt

CATALOG = Catalog.default()
MODEL = "claude-sonnet-4-5"  # 1,024 tokens at least to cache
LONG = " ".join(f"Rule {i}: answer questions on kelp with care." for i in range(300))  # ~2,700 tokens
KEY = "sk-ant-one"


def text(value: str, ttl: str | None = None, **extra: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": value, **extra}
    if ttl is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": ttl}
    return block


def mark(block: dict[str, Any], ttl: str = "5m") -> dict[str, Any]:
    return {**block, "cache_control": {"type": "ephemeral", "ttl": ttl}}


def request(*messages: dict[str, Any], system: Any = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": MODEL, "max_tokens": 10, "messages": list(messages), **fields}
    if system is not None:
        out["system"] = system
    return out


def user(*content: Any) -> dict[str, Any]:
    """A user turn: one string as it is, else a list of blocks."""
    if len(content) == 1 and type(content[0]) is str:
        return {"role": "user", "content": content[0]}
    return {"role": "user", "content": list(content)}


def assistant(*content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(content)}


class Engine:
    """A PromptCache on a clock the test moves, answering synchronously."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.clock = Clock(lambda: 1_000_000.0)
        self.entries = MemoryCacheState(self.clock, max_entries)
        self.cache = PromptCache(self.entries, self.clock)

    def plan(self, body: dict[str, Any], key: str | None = KEY) -> Accounting | None:
        return asyncio.run(self.cache.plan(body, api_key=key, catalog=CATALOG))

    def send(self, body: dict[str, Any], key: str | None = KEY) -> Accounting:
        """Plan and answer at once, as a request that is answered."""
        found = self.plan(body, key)
        assert found is not None
        asyncio.run(self.cache.commit(found))
        return found


def figures(a: Accounting) -> tuple[int, int, int, int]:
    return a.read, a.creation_1h, a.creation_5m, a.input_tokens


def prefix(body: dict[str, Any], position: int) -> int:
    """Tokens of the prompt up to and including ``position``."""
    return sum(cost for *_, cost in list(tokenizer.positions(body))[: position + 1])


# --------------------------------------------------------------------------
# Positions: tokens that add up to count_request
# --------------------------------------------------------------------------

TOOL = {"name": "get_weather", "description": "Weather now.", "input_schema": {"type": "object", "properties": {}}}
REQUESTS = [
    request(user("Hello there")),
    request(user("Hi"), system="Be brief."),
    request(user("Hi"), system=[text("Be"), text(""), text("brief. "), text("\nNow.")]),
    request(
        user(text("a"), {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 4000}})
    ),
    request(
        user("Weather?"),
        assistant(text("Let me look."), {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        user({"type": "tool_result", "tool_use_id": "toolu_1", "content": [text("Sunny"), text("Warm")]}),
        tools=[TOOL, {"type": "web_search_20250305", "name": "web_search"}],
    ),
    request(user("Say hi"), {"role": "assistant", "content": []}),
    request(user("Hi"), {"role": "system", "content": "Now be terse."}, assistant(text("Ok"))),
]


@pytest.mark.parametrize("body", REQUESTS)
def test_positions_add_up_to_count_request(body: dict[str, Any]) -> None:
    costs = [cost for *_, cost in tokenizer.positions(body)]
    assert tokenizer.REQUEST_OVERHEAD + sum(costs) == tokenizer.count_request(body)
    assert all(cost >= 0 for cost in costs)


def test_positions_in_cache_order() -> None:
    body = REQUESTS[4]
    where = [(section, i, j) for section, i, j, _, _ in tokenizer.positions(body)]
    assert where == [
        ("tools", -1, 0),
        ("tools", -1, 1),
        ("messages", 0, 0),
        ("messages", 1, 0),
        ("messages", 1, 1),
        ("messages", 2, 0),
    ]
    empty = list(tokenizer.positions(REQUESTS[5]))[-1]
    assert empty[2:4] == (-1, None) and empty[4] == 4  # a message with no content: its framing alone


def test_system_blocks_each_counted_with_the_newline_between_texts() -> None:
    assert tokenizer.system_tokens([text("Be"), text(""), text("brief.")]) == [1, 0, 1 + 2]
    assert tokenizer.system_tokens("Be brief.") == [tokenizer.count("Be brief.")]


def test_long_texts_are_counted_once_within_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenizer, "_LONG_BUDGET", 3 * len(LONG))
    texts = [f"{n} {LONG}" for n in range(5)]
    for _ in range(2):
        assert [tokenizer.count(t) for t in texts] == [len(tokenizer.split(t)) for t in texts]
    kept = [t for t in tokenizer._LONG_COUNTS if t.endswith(LONG)]
    assert 0 < len(kept) <= 2 and kept[-1] == texts[-1]
    assert sum(map(len, tokenizer._LONG_COUNTS)) <= 3 * len(LONG)


# --------------------------------------------------------------------------
# Breakpoints and prefix hashes
# --------------------------------------------------------------------------


def test_breakpoints_on_every_kind_of_block() -> None:
    body = request(
        user(mark({"type": "tool_result", "tool_use_id": "t", "content": "x"})),
        assistant(mark({"type": "tool_use", "id": "t", "name": "get_weather", "input": {}}, "1h")),
        user({"type": "tool_result", "tool_use_id": "t", "content": [text("a"), text("b", "5m")]}),
        system=[text("s", "1h")],
        tools=[mark(TOOL, "1h")],
    )
    assert prompt(body, MODEL).breakpoints == [(0, 3600), (1, 3600), (2, 300), (3, 3600), (4, 300)]
    assert marked(body) and not marked(request(user("plain"), system="s", tools=[TOOL]))


def test_the_automatic_breakpoint_goes_on_the_last_block_that_can_carry_one() -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    body = request(user("Hi"), assistant(text("Hello"), thinking), cache_control={"type": "ephemeral"})
    assert prompt(body, MODEL).breakpoints == [(1, 300)]  # past the thinking block, onto the text
    assert marked(body)
    already = request(user(text("Hi", "1h")), cache_control={"type": "ephemeral", "ttl": "1h"})
    assert prompt(already, MODEL).breakpoints == [(0, 3600)]  # the same block: one breakpoint
    hour = request(user("a"), user("b"), cache_control={"type": "ephemeral", "ttl": "1h"})
    assert prompt(hour, MODEL).breakpoints == [(1, 3600)]
    nothing = request(assistant(thinking), cache_control={"type": "ephemeral"})
    assert prompt(nothing, MODEL).breakpoints == []


def test_a_prefix_hash_ignores_markers_and_shorthand() -> None:
    plain = prompt(request(user("Hello there"), system="Be brief."), MODEL)
    marked_ = prompt(request(user(text("Hello there", "1h")), system=[text("Be brief.", "5m")]), MODEL)
    assert plain.hashes == marked_.hashes


def test_what_a_change_invalidates() -> None:
    base = request(user("Hi"), assistant(text("Hello")), system="S", tools=[TOOL])
    hashes = prompt(base, MODEL).hashes

    def changed(**fields: Any) -> list[bool]:
        return [a == b for a, b in zip(hashes, prompt({**base, **fields}, MODEL).hashes)]

    assert changed(system="T") == [True, False, False, False]
    assert changed(tools=[{**TOOL, "description": "Other."}]) == [False, False, False, False]
    assert changed(tool_choice={"type": "auto"}) == [True, True, False, False]
    assert changed(thinking={"type": "enabled", "budget_tokens": 2000}) == [True, True, False, False]
    thinking = {"type": "enabled", "budget_tokens": 2000}
    shown = prompt({**base, "thinking": thinking}, MODEL).hashes
    # How thinking shows is not what it is.
    assert prompt({**base, "thinking": {**thinking, "display": "omitted"}}, MODEL).hashes == shown
    assert changed(speed="fast") == [True, False, False, False]
    assert changed(messages=[user("Hi"), assistant(text("Bye"))]) == [True, True, True, False]
    # The same blocks in other turns are another conversation.
    assert changed(messages=[user("Hi"), user("Hello")]) == [True, True, True, False]
    assert not set(hashes) & set(prompt(base, "claude-opus-4-1").hashes)


# --------------------------------------------------------------------------
# Reads and writes
# --------------------------------------------------------------------------


def test_a_write_then_a_read_then_the_next_turn() -> None:
    engine = Engine()
    turn1 = request(user(text("Tell me about kelp.", "5m")), system=LONG)
    first = engine.send(turn1)
    total = tokenizer.count_request(turn1)
    assert figures(first) == (0, 0, total - 3, 3)
    again = engine.send(turn1)
    assert figures(again) == (total - 3, 0, 0, 3)
    turn2 = request(
        user("Tell me about kelp."), assistant(text("Kelp is algae.")), user(text("More.", "5m")), system=LONG
    )
    second = engine.send(turn2)
    assert second.read == total - 3 and second.creation_5m > 0 and second.input_tokens == 3
    assert second.read + second.creation + second.input_tokens == tokenizer.count_request(turn2)
    changed = {**turn2, "system": LONG + " And be brief."}
    other = engine.send(changed)
    assert other.read == 0 and other.creation_5m == tokenizer.count_request(changed) - 3


def test_nothing_is_written_below_the_model_minimum() -> None:
    engine = Engine()
    short = request(user(text("Tell me about kelp.", "5m")), system="Be brief.")
    assert figures(engine.send(short)) == (0, 0, 0, tokenizer.count_request(short))
    assert figures(engine.send(short)) == (0, 0, 0, tokenizer.count_request(short))
    assert len(engine.entries) == 0
    # Haiku 4.5 needs 4,096: the same long prompt that Sonnet caches is too short for it.
    haiku = request(user(text("Tell me about kelp.", "5m")), system=LONG, model="claude-haiku-4-5")
    assert engine.send(haiku).creation == 0
    assert engine.send({**haiku, "model": MODEL}).creation > 0


def test_entries_expire_at_their_ttl_and_hits_refresh_them() -> None:
    engine = Engine()
    five = request(user(text("Five.", "5m")), system=LONG)
    hour = request(user(text("Hour.", "1h")), system=LONG)
    assert engine.send(five).creation_5m > 0
    assert engine.send(hour).creation_1h > 0 and engine.send(hour).read > 0
    engine.clock.advance(299)
    assert engine.send(five).read > 0  # and refreshed: it now lives until 299 + 300
    engine.clock.advance(299)
    assert engine.plan(five).read > 0  # only a plan: no refresh
    engine.clock.advance(1)
    assert engine.plan(five).read == 0  # 300 s after the hit: gone
    engine.clock.advance(3600 - 599 - 1)
    assert engine.plan(hour).read > 0  # written 3,599 s ago (hits at 0 s)
    engine.clock.advance(1)
    assert engine.plan(hour).read == 0


def test_the_lookback_reaches_20_blocks_from_each_breakpoint() -> None:
    """The spec's example: turn 1 writes at block 10; turn 2 (breakpoint on 15)
    reads 10 and writes 15; turn 3 (breakpoint on 35) looks at 35..16 and misses."""
    engine = Engine()
    words = [text(f"Fact {n} about kelp forests.") for n in range(40)]

    def turn(*marks: int) -> dict[str, Any]:
        content = [mark(b) if n in marks else b for n, b in enumerate(words[: max(marks) + 1])]
        return request(user(*content), system=LONG)

    # Positions: the system is 0, block n of the user turn is n + 1.
    first = engine.send(turn(10))
    assert first.read == 0 and first.creation == prefix(turn(10), 11)
    second = engine.send(turn(15))
    assert second.read == prefix(turn(15), 11) and second.creation == prefix(turn(15), 16) - second.read
    assert engine.plan(turn(35)).read == 0  # 35..16: not 15
    assert engine.plan(turn(34)).read == prefix(turn(34), 16)  # 34..15 reaches 15
    # A miss looks again from the next breakpoint back.
    assert engine.plan(turn(15, 35)).read == prefix(turn(15, 35), 16)


def test_writes_are_readable_only_once_answered() -> None:
    engine = Engine()
    body = request(user(text("Hello.", "5m")), system=LONG)
    one, two = engine.plan(body), engine.plan(body)  # two identical requests at once
    assert one is not None and two is not None
    asyncio.run(engine.cache.commit(one))
    asyncio.run(engine.cache.commit(two))
    assert one.read == two.read == 0 and one.creation == two.creation > 0
    assert engine.plan(body).read == one.creation


def test_scopes_keep_keys_and_models_apart() -> None:
    engine = Engine()
    body = request(user(text("Hello.", "5m")), system=LONG)
    engine.send(body)
    assert engine.plan(body, "sk-ant-two").read == 0
    assert engine.plan(body, None).read == 0
    assert engine.plan({**body, "model": "claude-opus-4-1"}).read == 0
    assert engine.plan({**body, "model": "claude-sonnet-4-5-20250929"}).read > 0  # an alias is its model
    scope = engine.cache.scope(KEY)
    assert KEY not in scope and scope == engine.cache.scope(KEY) != engine.cache.scope("sk-ant-two")
    other_secret = PromptCache()
    other_secret.use_key("another secret")
    assert other_secret.scope(KEY) != scope


def test_no_marker_no_caching() -> None:
    assert Engine().plan(request(user("Hello."), system=LONG)) is None


# --------------------------------------------------------------------------
# Mixed TTLs: A, B, C
# --------------------------------------------------------------------------


def test_mixed_ttls_split_as_the_api_bills_them() -> None:
    engine = Engine()
    s0, s1 = LONG, LONG.replace("kelp", "tide pools")
    ask = user(text("Hello.", "5m"))
    first = request(user("Hello."), system=[text(s0, "1h")])
    engine.send(first)  # writes the first system block, for an hour
    body = request(ask, system=[text(s0, "1h"), text(s1, "1h")])
    a, b, total = prefix(body, 0), prefix(body, 1), tokenizer.count_request(body)
    found = engine.send(body)
    # A: the hit at block 0; B: the last 1-hour write (block 1); C: the last write (the question).
    assert figures(found) == (a, b - a, total - 3 - b, 3)
    assert found.read + found.creation + found.input_tokens == total
    engine.clock.advance(301)  # the 5-minute entry is gone, the 1-hour ones live
    assert figures(engine.send(body)) == (b, 0, total - 3 - b, 3)


def test_account_alone() -> None:
    seen = prompt(request(user(text("a"), text("b"), text("c")), system="S"), MODEL)
    seen.prefix_tokens[:] = [100, 200, 300, 400]
    seen.breakpoints[:] = [(1, 3600), (2, 3600), (3, 300)]
    keys = [f"k{n}" for n in range(4)]
    assert figures(account(seen, {}, keys, 0)) == (0, 300, 100, 3)
    assert figures(account(seen, {1: 3600}, keys, 0)) == (200, 100, 100, 3)
    assert figures(account(seen, {3: 300, 1: 3600}, keys, 0)) == (400, 0, 0, 3)
    assert figures(account(seen, {}, keys, 250)) == (0, 300, 100, 3)  # block 1 (200) writes nothing, 2 does
    assert account(seen, {}, keys, 250).writes == [("k2", 3600), ("k3", 300)]
    assert figures(account(seen, {}, keys, 1000)) == (0, 0, 0, 403)


# --------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------


def test_memory_state_is_bounded_and_clears() -> None:
    clock = Clock(lambda: 0.0)
    entries = MemoryCacheState(clock, max_entries=2)

    async def run() -> None:
        await entries.put("a", 300)
        await entries.put("b", 3600)
        await entries.put("c", 300)
        assert await entries.get(["a", "b", "c"]) == [None, 3600, 300]
        await entries.refresh("a", 300)  # missing stays missing
        assert await entries.get(["a"]) == [None]
        clock.advance(300)
        assert await entries.get(["b", "c"]) == [3600, None]
        await entries.clear()
        assert await entries.get(["b"]) == [None] and len(entries) == 0

    asyncio.run(run())
