"""The servers a benchmark starts: each a process group on a free loopback
port, waited for until it answers, always stopped again, and measured from
``/proc`` (memory, CPU) over its whole process tree."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NoReturn

import httpx
from progress import log

HERE = Path(__file__).resolve().parent
LITELLM_VENV = HERE / ".venv-litellm"
API_KEY = "sk-ant-bench-key"  # the key in the Lua scripts; LiteLLM's master key too

LITELLM_CONFIG = """\
model_list:
  - model_name: claude-sonnet-4-5
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: sk-ant-unused
      mock_response: "Tide pools fill at high tide."
"""

DATELINE_READY = ("/v1/models", {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a server: ours, without stray Dateline settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATELINE_")}
    env.update(extra)
    return env


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=child_env)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log(f"starting {self.name} on port {self.port}")
        with open(self.log_path, "wb") as out:
            # A session of its own, so the whole group (workers too) can be stopped.
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, start_new_session=True,
            )

    def wait_ready(self, path: str, headers: dict[str, str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
                try:
                    if client.get(self.url + path, headers=headers).status_code == 200:
                        log(f"{self.name} ready")
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left of the group (the leader or stray workers) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.process = None
        log(f"stopped {self.name}")

    def rss_mb(self) -> float:
        assert self.process is not None
        return sum(vm_rss_kb(pid) for pid in process_tree(self.process.pid)) / 1024

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server's process tree so far."""
        assert self.process is not None
        total = 0
        for pid in process_tree(self.process.pid):
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def running(server: Server, ready_path: str, ready_headers: dict[str, str], timeout: float) -> Iterator[Server]:
    """Start a server, wait until it answers, and always stop it afterwards."""
    try:
        server.start()
        server.wait_ready(ready_path, ready_headers, timeout)
        yield server
    finally:
        server.stop()


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- the servers


def dateline_server(tmp: Path, workers: int, token_delay: float = 0.0) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "dateline", "serve", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--token-delay", str(token_delay)]
    return Server("dateline", argv, port, tmp / f"dateline-{port}.log")


def app_server(name: str, tmp: Path, workers: int) -> Server:
    """One of the bench's own apps (``floor.py``, ``upstream.py``), on uvicorn like Dateline."""
    port = free_port()
    argv = [sys.executable, str(HERE / f"{name}.py"), "--port", str(port), "--workers", str(workers)]
    return Server(name, argv, port, tmp / f"{name}-{port}.log")


def litellm_server(tmp: Path, workers: int, config_text: str = LITELLM_CONFIG) -> Server:
    port = free_port()
    config = tmp / f"litellm-{port}.yaml"
    config.write_text(config_text)
    argv = [str(ensure_litellm()), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", str(workers)]
    env = child_env(LITELLM_MASTER_KEY=API_KEY, LITELLM_LOCAL_MODEL_COST_MAP="True")
    return Server("litellm", argv, port, tmp / f"litellm-{port}.log", env=env)


def ensure_litellm() -> Path:
    """The LiteLLM proxy in its own venv, installed on first use (a few minutes)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    log(f"installing litellm[proxy] into {LITELLM_VENV} (takes a few minutes, once)")
    subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "litellm[proxy]"],
                   check=True)
    return exe


def package_version(name: str, python: Path | None = None) -> str:
    if python is None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"
    code = f"import importlib.metadata as m; print(m.version({name!r}))"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def litellm_version() -> str | None:
    """LiteLLM's version in its venv; None while it is not installed."""
    python = LITELLM_VENV / "bin" / "python"
    return package_version("litellm", python) if python.exists() else None


# --------------------------------------------------------------------------- a script's life


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, stopping the servers


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s status; SIGINT, SIGTERM and SIGHUP first stop every server it started."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: everything this run started has been stopped")
        sys.exit(130)
