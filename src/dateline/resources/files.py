"""Files (beta ``files-api-2025-04-14``): ``/v1/files``."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..http import Call


async def upload(call: Call) -> dict[str, Any]:
    raise errors.NotFoundError("Not Found")


async def list_files(call: Call) -> dict[str, Any]:
    raise errors.NotFoundError("Not Found")


async def retrieve(call: Call) -> dict[str, Any]:
    raise errors.NotFoundError("Not Found")


async def download(call: Call) -> dict[str, Any]:
    raise errors.NotFoundError("Not Found")


async def delete(call: Call) -> dict[str, Any]:
    raise errors.NotFoundError("Not Found")
