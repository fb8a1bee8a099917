"""Another client's view of a server under attack: while the attack runs, a
thread keeps asking ``GET /v1/models`` and notes how long each answer took.

    with LatencyProbe(base_url) as probe:
        attack()
    assert probe.worst <= 0.5, probe.report()

A stalled event loop shows as one long answer (or none: the probe's own
timeout counts as the time it waited), not as a slow attack.
"""

from __future__ import annotations

import threading
import time

import httpx

HEADERS = {"x-api-key": "sk-ant-probe", "anthropic-version": "2023-06-01"}


class LatencyProbe:
    def __init__(self, base_url: str, *, interval: float = 0.02, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.interval = interval
        self.timeout = timeout
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latency probe", daemon=True)

    def __enter__(self) -> LatencyProbe:
        self._thread.start()
        # One answer before the attack: the probe's own connection is up.
        deadline = time.monotonic() + 10
        while not self.latencies and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)

    @property
    def worst(self) -> float:
        """The longest wait for an answer, in seconds (a request still waiting at the end included)."""
        return max(self.latencies, default=float("inf"))

    def report(self) -> str:
        ordered = sorted(self.latencies)
        return (f"{len(ordered)} probes, worst {self.worst:.3f} s, median {ordered[len(ordered) // 2]:.3f} s"
                if ordered else "no probe answered") + (f"; failures: {self.failures[:3]}" if self.failures else "")

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=HEADERS, timeout=self.timeout) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.get("/v1/models")
                    if response.status_code != 200:
                        self.failures.append(f"status {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.latencies.append(time.monotonic() - started)
                self._stop.wait(self.interval)
