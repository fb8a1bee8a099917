"""Streaming clients that wrk cannot be: time to each stream's first event,
and many streams held open at once while the server's memory is sampled."""

from __future__ import annotations

import asyncio
import math
import resource
import time

import httpx
from load import Shape
from progress import log
from servers import API_KEY, Server

# Streams held open must stay open while all of them are opened and sampled.
MEMORY_TOKEN_DELAY = 1.0
MEMORY_BODY = (
    b'{"model":"claude-sonnet-4-5","max_tokens":200,"stream":true,'
    b'"messages":[{"role":"user","content":"Write a detailed essay about tide pools"}]}'
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


async def first_event_times(url: str, shape: Shape, seconds: float, concurrency: int) -> list[float]:
    """Seconds from sending each request to receiving its first whole event,
    with ``concurrency`` clients looping for ``seconds``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    times: list[float] = []
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                buffered, first = b"", None
                async with client.stream(shape.method, url, headers=shape.headers, content=shape.body) as response:
                    if response.status_code != 200:
                        raise RuntimeError(f"stream answered {response.status_code}")
                    async for chunk in response.aiter_raw():
                        if first is None:
                            buffered += chunk
                            if b"\n\n" in buffered:
                                first = time.perf_counter() - start
                if first is None:
                    raise RuntimeError("stream ended before its first event")
                times.append(first)

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return times


def raise_fd_limit(wanted: int) -> None:
    """Room for many open sockets, here and in the servers started from here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def hold_open_streams(server: Server, count: int, samples: int = 5) -> float:
    """Open ``count`` streams, read each to its first event, then sample the
    server's RSS (MB, the largest sample) while all of them are still open."""
    request = (
        f"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n"
        f"content-type: application/json\r\nx-api-key: {API_KEY}\r\nanthropic-version: 2023-06-01\r\n"
        f"content-length: {len(MEMORY_BODY)}\r\n\r\n"
    ).encode() + MEMORY_BODY
    opening = asyncio.Semaphore(100)
    writers: list[asyncio.StreamWriter] = []
    drains: list[asyncio.Task] = []

    async def open_one() -> None:
        async with opening:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writers.append(writer)
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"stream refused: {head.splitlines()[0].decode(errors='replace')}")
            buffered = b""
            while b"\n\n" not in buffered:
                chunk = await reader.read(65536)
                if not chunk:
                    raise RuntimeError("stream closed before its first event")
                buffered += chunk
        drains.append(asyncio.create_task(drain(reader)))

    try:
        await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(count))), timeout=120)
        log(f"{count} streams open")
        rss = []
        for _ in range(samples):
            if any(task.done() for task in drains):
                raise RuntimeError("a stream ended while sampling: raise the token delay")
            rss.append(server.rss_mb())
            await asyncio.sleep(0.2)
        return max(rss)
    finally:
        for task in drains:
            task.cancel()
        for writer in writers:
            writer.close()
        await asyncio.gather(*drains, return_exceptions=True)


async def drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass

