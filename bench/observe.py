#!/usr/bin/env python
"""What metrics and logs cost: ``python bench/observe.py``.

The built-in model's non-streaming and streaming Messages (``lua/messages.lua``,
``lua/messages_stream.lua``) on two ``dateline serve`` processes started alike but
for this: one counting for ``/metrics`` and writing a JSON line per request
(``--log-format json --log-level info``, to a file), the other with neither
(``--no-metrics --log-level warning``). Each pair alternates A B B A in slices of
two seconds, fifteen times over (``--rounds``), and the median round's ratio is the
one reported: on a shared machine a burst of load from elsewhere sinks a slice or
two, not the median. Target: with them on, at least 0.9× the throughput with them off.

Also the ``observe`` section of ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

from load import MESSAGES, MESSAGES_STREAM, Load, Target, ensure_wrk
from load import rounds as load_rounds
from progress import log
from section import Config, Results
from servers import DATELINE_READY, dateline_server, run_script, running
from table import Row, check, load_row

TARGET = 0.9
ROWS = {
    "observe_off": "Dateline messages, metrics and request logs off (requests/s)",
    "observe_on": "Dateline messages, metrics and JSON request logs on (requests/s)",
    "observe_stream_off": "Dateline messages stream, metrics and request logs off (requests/s)",
    "observe_stream_on": "Dateline messages stream, metrics and JSON request logs on (requests/s)",
}


#: Each comparison is made this many times over (A B B A each time): the ratio reported is
#: the median round's, as a burst of load from elsewhere on a shared machine can sink one round.
ROUNDS = 15
#: Seconds per side in a round (two slices of half this): short, so that many rounds fit
#: (``run.py`` uses its own duration up to this).
DURATION = 4
#: Every round's on ÷ off, by comparison (``observe``, ``observe_stream``).
round_ratios: dict[str, list[float]] = {}


def measure(config: Config, tmp: Path, results: Results, rounds: int = ROUNDS) -> None:
    """Both servers up together, so that each pair alternates under the same background load."""
    on, off = dateline_server(tmp, config.workers), dateline_server(tmp, config.workers)
    on.argv += ["--data-dir", str(tmp / "observe-on"), "--log-level", "info", "--log-format", "json"]
    off.argv += ["--data-dir", str(tmp / "observe-off"), "--no-metrics", "--log-format", "json"]
    with contextlib.ExitStack() as servers:
        for server in (off, on):
            servers.enter_context(running(server, *DATELINE_READY, timeout=60))
        for name, shape in (("observe", MESSAGES), ("observe_stream", MESSAGES_STREAM)):
            median, round_ratios[name] = load_rounds(
                config, rounds, Target(f"{name}_off", off, shape), Target(f"{name}_on", on, shape)
            )
            results.loads.update(median)
        logged = sum(1 for _ in on.log_path.open(errors="replace"))
    log(f"observe: {logged:,} log lines written with them on")


def ratio(loads: dict[str, Load], name: str) -> float | None:
    on, off = loads.get(f"{name}_on"), loads.get(f"{name}_off")
    return on.rps / off.rps if on and off and off.rps else None


def rows(results: Results, floor: Load | None, failure: str | None) -> list[Row]:
    made = []
    for name in ("observe", "observe_stream"):
        made.append(load_row(ROWS[f"{name}_off"], results.loads.get(f"{name}_off"), floor, failure))
        row = load_row(ROWS[f"{name}_on"], results.loads.get(f"{name}_on"), floor, failure)
        found = ratio(results.loads, name)
        row.target = f"≥ {TARGET}× off"
        row.measured = f"{found:.2f}× off" if found is not None else ""
        row.result = check(None if found is None else found >= TARGET)
        made.append(row)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Throughput with metrics and JSON request logs on against off.")
    parser.add_argument(
        "--duration", type=int, default=DURATION, help=f"seconds per side in each round (default {DURATION})"
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"comparisons of each pair (default {ROUNDS})")
    args = parser.parse_args(argv)
    ensure_wrk()
    config = Config(duration=args.duration, workers=args.workers)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="dateline-bench-observe-") as name:
        measure(config, Path(name), results, max(1, args.rounds))
    print("| run | requests/s | on ÷ off |\n|---|---|---|")
    for name, title in (("observe", "messages"), ("observe_stream", "messages stream")):
        off, on = results.loads[f"{name}_off"], results.loads[f"{name}_on"]
        found = ratio(results.loads, name)
        print(
            f"| {title}, off | {off.rps:,.0f} | |\n| {title}, metrics and JSON logs on | {on.rps:,.0f} | {found:.2f}× |"
        )
    verdicts = {name: ratio(results.loads, name) for name in ("observe", "observe_stream")}
    for name, found in verdicts.items():
        each = ", ".join(f"{r:.2f}×" for r in round_ratios[name])
        print(f"{name}: {found:.2f}× (median round of {each}; target ≥ {TARGET}×: {'met' if found >= TARGET else 'missed'})")
    return 0


if __name__ == "__main__":
    run_script(main)
