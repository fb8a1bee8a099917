"""Running ``dateline serve`` as a real process, for tests that need one
(the CLI, kill -9 and several processes sharing one database)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
from conftest import free_port


def dateline_command() -> str:
    path = shutil.which("dateline")
    assert path is not None, "the `dateline` console script is not installed"
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without DATELINE_* / ANTHROPIC_* settings or forced-terminal
    switches (which make rich draw for a terminal that is not there), plus ``extra``."""
    dropped = ("DATELINE_", "ANTHROPIC_", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**env, **extra}


class Served:
    """``dateline serve`` in a subprocess, from start to terminate.

    Without ``port`` it picks a free one and passes ``--port``; with ``port`` it
    passes no port flag (the environment is to supply it).
    """

    env_port: int | None = None  #: a port named only by DATELINE_PORT, for flag-versus-env tests

    def __init__(self, log: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log
        self.log = log.open("wb")
        flags = ["--port", str(self.port)] if port is None else []
        self.proc = subprocess.Popen(
            [dateline_command(), "serve", *flags, *args], stdout=self.log, stderr=subprocess.STDOUT,
            env=env or clean_env(),
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> Served:
        deadline = time.monotonic() + timeout
        headers = {"x-api-key": "probe", "anthropic-version": "2023-06-01"}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dateline serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                # Any answer from the app (200, or 401 on a server with keys) means it is up.
                if httpx.get(f"{self.base_url}/v1/models", headers=headers, timeout=2).status_code in (200, 401):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"dateline serve not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


