"""The command line of the bench's own apps (``floor.py``, ``upstream.py``):
each runs on uvicorn as ``dateline serve`` does, loop and HTTP implementation
left to uvicorn's "auto" choice, without an access log."""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(app: str, port: int, description: str) -> None:
    """Serve ``app`` ("module:attribute" in bench/) with the flags the harness passes."""
    import uvicorn

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    uvicorn.run(
        app,
        app_dir=str(HERE),
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
    )
