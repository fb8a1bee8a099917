"""HTTP to upstreams: httpx's request, response and error types, carried by
a transport (``httpx.AsyncBaseTransport``), so that the network
(``_network.py``), recording, replaying (``_cassette.py``) or an in-memory
app is only a matter of the transport.

``Client`` is only what the backends use of ``httpx.AsyncClient``, for speed
(measured in ``bench/``): the full client adds some 0.3 ms a request for
features an upstream call does not need (cookies, redirects, auth flows,
event hooks).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ._credentials import without_credentials
from ._network import NetworkTransport
from ._pool import Upstream

#: Makes the transport for one upstream's client; ``None``: the network.
TransportFactory = Callable[[], httpx.AsyncBaseTransport]


class Client:
    """Requests to one upstream: ``base_url`` plus a path, or an absolute URL."""

    def __init__(self, base_url: str, timeout: httpx.Timeout, transport: httpx.AsyncBaseTransport) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport
        self._urls: dict[str, httpx.URL] = {}

    def build_request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Request:
        parsed = self._urls.get(url)
        if parsed is None:  # parsing a URL costs more than the rest of the request: once per path
            absolute = url if url.startswith(("http://", "https://")) else self.base_url + url
            parsed = self._urls[url] = httpx.URL(absolute)
        request = httpx.Request(method, parsed, content=content, headers=headers)
        request.extensions["timeout"] = (timeout or self.timeout).as_dict()
        return request

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """The response; with ``stream``, its body still to be read (then close it).
        An error status's body is always read."""
        response = await self.transport.handle_async_request(request)
        response.request = request
        if response.status_code >= 400:
            # An error may quote the key it was sent: blanked out before any
            # backend passes its message on (to a client, a log, a batch result).
            return await without_credentials(response)
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    async def post(self, url: str, **options: object) -> httpx.Response:
        return await self.send(self.build_request("POST", url, **options))  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self.transport.aclose()


class Clients:
    """One client per upstream, made when first needed."""

    def __init__(self, transport: TransportFactory | None = None) -> None:
        self._transport = transport or NetworkTransport
        self._clients: dict[str, Client] = {}

    def get(self, upstream: Upstream) -> Client:
        client = self._clients.get(upstream.name)
        if client is None:
            timeout = httpx.Timeout(upstream.timeout, connect=upstream.connect_timeout)
            client = self._clients[upstream.name] = Client(upstream.base_url, timeout, self._transport())
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
