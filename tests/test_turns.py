"""``AtTurnEnd``: once at the end of the turn, however often asked; at once
outside an event loop; and not lost when a loop stops before its turn ends."""

from __future__ import annotations

import asyncio

from dateline.turns import AtTurnEnd


def test_asked_often_in_a_turn_it_runs_once_at_its_end() -> None:
    runs: list[int] = []
    later = AtTurnEnd(lambda: runs.append(len(runs)))

    async def turn() -> list[int]:
        for _ in range(5):
            later.soon()
        seen = list(runs)
        await asyncio.sleep(0)
        later.soon()  # a new turn: a new run
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(turn()) == [] and runs == [0, 1]


def test_outside_an_event_loop_it_runs_at_once() -> None:
    runs: list[str] = []
    later = AtTurnEnd(lambda: runs.append("ran"))
    later.soon()
    later.soon()
    assert runs == ["ran", "ran"]


def test_a_run_left_waiting_on_a_stopped_loop_happens_on_the_next_ask() -> None:
    runs: list[str] = []
    later = AtTurnEnd(lambda: runs.append("ran"))

    loop = asyncio.new_event_loop()
    loop.call_soon(later.soon)
    loop.call_soon(loop.stop)  # the loop stops at the end of this turn, the run still waiting
    loop.run_forever()
    loop.close()
    assert runs == []

    async def ask_again() -> None:
        later.soon()  # the stale run, made now; this one at the end of the turn
        assert runs == ["ran"]
        await asyncio.sleep(0)

    asyncio.run(ask_again())
    assert runs == ["ran", "ran"]
