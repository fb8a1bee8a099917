"""Progress lines on stderr, timed from the start of the run."""

from __future__ import annotations

import sys
import time

T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", file=sys.stderr, flush=True)
