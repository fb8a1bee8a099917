"""HTTP clients for upstreams: one pooled ``httpx.AsyncClient`` per upstream,
all over one transport, so recording and replaying (``cassette.py``) or an
in-memory app in tests is a matter of the transport given here."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ._pool import Upstream

#: Makes the transport every upstream client uses; ``None``: the network.
TransportFactory = Callable[[], httpx.AsyncBaseTransport]


class Clients:
    def __init__(self, transport: TransportFactory | None = None) -> None:
        self._transport = transport
        self._clients: dict[str, httpx.AsyncClient] = {}

    def get(self, upstream: Upstream) -> httpx.AsyncClient:
        client = self._clients.get(upstream.name)
        if client is None:
            timeout = httpx.Timeout(upstream.timeout, connect=upstream.connect_timeout)
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
            transport = self._transport() if self._transport is not None else None
            client = httpx.AsyncClient(
                base_url=upstream.base_url.rstrip("/"), timeout=timeout, limits=limits, transport=transport
            )
            self._clients[upstream.name] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
