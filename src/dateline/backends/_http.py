"""HTTP to upstreams: httpx's request, response and error types, carried by
a transport (``httpx.AsyncBaseTransport``), so that recording, replaying
(``cassette.py``) or an in-memory app is only a matter of the transport.

Two choices are about speed, measured in ``bench/``: the network transport
is aiohttp's client (httpcore's connection pool costs about 2 ms of CPU a
request under load, aiohttp's a tenth of that), and ``Client`` is only what
the backends use of ``httpx.AsyncClient`` (the full client adds some 0.3 ms a
request for features an upstream call does not need: cookies, redirects,
auth flows, event hooks).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import httpx

from .. import errors
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
        """The response; with ``stream``, its body still to be read (then close it)."""
        response = await self.transport.handle_async_request(request)
        response.request = request
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


async def read_answer(response: httpx.Response, upstream: Upstream) -> None:
    """Read a whole upstream answer; a failure while reading, as the API's error."""
    try:
        await response.aread()
    except httpx.TimeoutException:
        raise errors.TimeoutError(f"The upstream {upstream.name} did not finish its answer in time") from None
    except httpx.TransportError as exc:
        raise errors.InternalServerError(f"The upstream {upstream.name}'s connection failed: {exc!r}") from None
    finally:
        await response.aclose()


async def server_sent_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Each event of an SSE body as its fields (``data`` lines joined by newlines)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if fields:
                yield fields
                fields = {}
            continue
        name, _, value = line.partition(":")
        if not name:
            continue  # a comment line
        value = value[1:] if value.startswith(" ") else value
        fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value
    if fields:
        yield fields


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


class NetworkTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over aiohttp's client, with aiohttp's
    errors told apart as httpx tells them: could not connect, timed out
    connecting, timed out reading, or the connection broke."""

    def __init__(self, max_connections: int = 256) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections)
            # Bodies come back as sent (httpx decodes them), and no cookies are kept.
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        timeout = request.extensions.get("timeout", {})
        try:
            response = await self._session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request) from exc
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out waiting for the answer", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
        return httpx.Response(
            response.status, headers=list(response.raw_headers), stream=_Body(response, request), request=request
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading the answer", request=self._request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=self._request) from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # the connection goes back to the pool
        else:
            self._response.close()  # left unread (a stop sequence): the upstream stops too
