"""File bytes, kept apart from their metadata: local disk here; an
S3-compatible store would implement the same four methods."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

_CHUNK = 1024 * 1024


class Blobs(Protocol):
    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store the bytes under ``key``; returns their size."""

    def get(self, key: str) -> AsyncIterator[bytes]:
        """The bytes under ``key``, in chunks."""

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...


class LocalBlobs:
    """One file per key under ``root``, written to a temporary name and
    renamed, so a crash never leaves half a file under the real name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"bad blob key {key!r}")
        return self.root / key

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        path = self._path(key)
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        temp = path.with_name(f".{key}.partial")
        size = 0
        handle = await asyncio.to_thread(open, temp, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.flush)
            await asyncio.to_thread(os.fsync, handle.fileno())
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise
        handle.close()
        await asyncio.to_thread(os.replace, temp, path)
        return size

    async def get(self, key: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).exists)
