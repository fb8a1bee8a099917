"""Assembling the ASGI application: routes, state, and the errors that
happen outside any endpoint (unknown paths)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import errors
from .backends import Backend, BuiltinModel
from .backends.router import Router
from .batch_processor import BatchProcessor
from .catalog import Catalog, ModelInfo
from .config import Config
from .http import Endpoint, _probes, error_response
from .http._chat import ChatEndpoint
from .http._observe import ObservedClients, ObservedUsage
from .ids import request_id
from .inspector import routes as inspector_routes
from .keys import KeyChannel, KeyRing
from .operation import MB, Handler, Operation
from .prompt_cache import Clock, PromptCache, RedisCacheState
from .ratelimit import Limiter, MemoryLimiter, RedisLimiter
from .requestlog import RequestLog, SharedRequestLog
from .resources import admin, batches, completions, files, limits, messages, models
from .schemas import CompletionCreateParams, MessageCountTokensParams, MessageCreateParams
from .script import Scripter, SharedScripter, load
from .settings import Settings
from .state import State
from .store import LocalBlobs, Store
from .thinking import Signer
from .upstream import Clients, RecordingTransport, ReplayTransport, TransportFactory
from .usage import MemorySink, RedisSink

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Connections to Redis each process keeps at most.
REDIS_CONNECTIONS = 64
#: The stored secret that signs thinking blocks when no key is configured.
SIGNING_KEY = "thinking-signature-key"
#: The stored secret prompt-cache scopes are hashed with.
CACHE_SCOPE_KEY = "prompt-cache-scope-key"


def create_app(settings: Settings | None = None, *, backend: Backend | None = None) -> Starlette:
    settings = settings or Settings()
    signer = Signer(settings.signing_key)
    catalog = Catalog.default()
    clients = ObservedClients(_transport(settings))
    if backend is None:
        backend = BuiltinModel(signer, token_delay=settings.token_delay, catalog=catalog)
        config = settings.upstream_config()
        if config is not None:
            backend = Router.from_config(config, backend, clients)
            catalog.extend(_listed(config, catalog), replace=True)
    store = Store(settings.resolved_database_url())
    redis = _redis(settings)
    limiter: Limiter = RedisLimiter(redis) if redis is not None else MemoryLimiter()
    sink = RedisSink(redis) if redis is not None else MemorySink()
    usage = ObservedUsage(sink, catalog)
    usage.observe_metrics = clients.observe_metrics = settings.metrics
    state = State(
        settings=settings,
        backend=backend,
        catalog=catalog,
        signer=signer,
        scripter=_scripter(settings),
        log=(
            SharedRequestLog(settings.redis_url, settings.request_log_size, settings.request_log_bytes)
            if settings.redis_url
            else RequestLog(settings.request_log_size, settings.request_log_bytes)
        ),
        store=store,
        blobs=LocalBlobs(settings.resolved_data_dir() / "files"),
        clients=clients,
        prompt_cache=_prompt_cache(redis),
        keys=KeyRing(store),
        limiter=limiter,
        usage=usage,
        redis=redis,
        any_model=isinstance(backend, Router) and backend.any_model,
    )
    routes = [
        Route(
            "/v1/messages",
            Endpoint(
                state,
                post=Operation(
                    limits.limited(messages.create),
                    "messages",
                    MessageCreateParams,
                    check=messages.check_create,
                    lift=messages.lift,
                    scripted=True,
                ),
            ),
        ),
        Route(
            "/v1/messages/count_tokens",
            Endpoint(
                state,
                post=Operation(
                    limits.counted(messages.count_tokens),
                    "count_tokens",
                    MessageCountTokensParams,
                    check=messages.check_count,
                    lift=messages.lift,
                    scripted=True,
                ),
            ),
        ),
        Route("/v1/chat/completions", ChatEndpoint(state)),
        Route(
            "/v1/complete",
            Endpoint(state, post=Operation(completions.create, "complete", CompletionCreateParams, scripted=True)),
        ),
        Route(
            "/_dateline/rules",
            _admin(
                state,
                get=admin.get_rules,
                put=admin.put_rules,
                post=admin.put_rules,
                delete=admin.delete_rules,
            ),
        ),
        Route("/_dateline/requests", _admin(state, get=admin.get_requests, delete=admin.delete_requests)),
        Route("/_dateline/usage", _admin(state, get=admin.get_usage)),
        Route("/_dateline/keys", _admin(state, get=admin.list_keys, post=admin.create_key)),
        Route(
            "/_dateline/keys/{key_id}",
            _admin(state, get=admin.get_key, patch=admin.update_key, delete=admin.revoke_key),
        ),
        Route("/_dateline/workspaces", _admin(state, get=admin.list_workspaces)),
        Route(
            "/_dateline/workspaces/{workspace_id:path}",  # any id the keys may carry, a slash included
            _admin(state, get=admin.get_workspace, put=admin.put_workspace, delete=admin.delete_workspace),
        ),
        Route("/_dateline/openapi.json", _admin(state, get=admin.get_openapi)),
        Route(
            "/_dateline/prompt-cache",
            _admin(state, get=admin.get_prompt_cache, delete=admin.delete_prompt_cache),
        ),
        Route("/_dateline/prompt-cache/clock", _admin(state, post=admin.post_prompt_cache_clock)),
        Route(
            "/v1/messages/batches",
            Endpoint(
                state,
                post=Operation(batches.create, "batches", batches.BatchCreateParams, max_body=256 * MB),
                get=Operation(batches.list_batches, "batches"),
            ),
        ),
        Route(
            "/v1/messages/batches/{batch_id}",
            Endpoint(state, get=Operation(batches.retrieve, "batches"), delete=Operation(batches.delete, "batches")),
        ),
        Route("/v1/messages/batches/{batch_id}/cancel", Endpoint(state, post=Operation(batches.cancel, "batches"))),
        Route("/v1/messages/batches/{batch_id}/results", Endpoint(state, get=Operation(batches.results, "batches"))),
        Route(
            "/v1/files",
            Endpoint(state, post=Operation(files.upload, "files"), get=Operation(files.list_files, "files")),
        ),
        Route(
            "/v1/files/{file_id}",
            Endpoint(state, get=Operation(files.retrieve, "files"), delete=Operation(files.delete, "files")),
        ),
        Route("/v1/files/{file_id}/content", Endpoint(state, get=Operation(files.download, "files"))),
        Route("/v1/models", Endpoint(state, get=Operation(models.list_models, "models"))),
        Route("/v1/models/{model_id:path}", Endpoint(state, get=Operation(models.retrieve, "models"))),
        *inspector_routes(state),  # the web pages under /_dateline/
    ]
    # For load balancers and Prometheus (/metrics guarded like the admin API).
    routes += [Route("/health", _probes.health), Route("/ready", _probes.ready)]
    if settings.metrics:
        routes.append(Route("/metrics", _probes.scrape))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.store.open()
        if not state.signer.has_key:
            # No key configured: the database's own, so that replicas sharing it agree.
            state.signer.use_key(await state.store.secret(SIGNING_KEY))
        # Cache scopes are keyed hashes of API keys, alike in every process on this database.
        state.prompt_cache.use_key(await state.store.secret(CACHE_SCOPE_KEY))
        await state.keys.open()
        state.keys.start()
        # With Redis, the rules, the request log and key changes are every replica's.
        channel = KeyChannel(state.keys, state.redis) if state.redis is not None else None
        for shared in (state.scripter, state.log, channel):
            if shared is not None:
                await shared.open()
        state.usage.start()
        state.processor = BatchProcessor(state)
        state.processor.start()
        # Everything built so far lives as long as the server: keep it out of
        # the collector's full passes, which otherwise stall requests for tens of ms.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await state.processor.stop()
            state.processor = None
            await state.keys.stop()
            for shared in (channel, state.log, state.scripter):
                if shared is not None:
                    await shared.aclose()
            await state.usage.aclose()  # the last flush
            await state.limiter.aclose()
            await state.store.close()
            await state.clients.aclose()
            # A backend given ready-made may hold clients of its own.
            own = getattr(state.backend, "clients", None)
            if isinstance(own, Clients) and own is not state.clients:
                await own.aclose()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_exception, Exception: _unexpected},
    )
    # A trailing slash is an unknown path (404 with the envelope), not a bare redirect.
    app.router.redirect_slashes = False
    app.state.dateline = state
    return app


def _redis(settings: Settings) -> Redis | None:
    """The Redis client of ``redis_url`` (connecting on first use), if one is set."""
    if not settings.redis_url:
        return None
    from redis.asyncio import BlockingConnectionPool, Redis

    # A burst of requests waits for a connection rather than failing for want of one.
    pool = BlockingConnectionPool.from_url(settings.redis_url, max_connections=REDIS_CONNECTIONS, timeout=30)
    return Redis.from_pool(pool)


def _scripter(settings: Settings) -> Scripter:
    initial = load(settings.script) if settings.script else None
    return SharedScripter(settings.redis_url, initial) if settings.redis_url else Scripter(initial)


def _prompt_cache(redis: Redis | None) -> PromptCache:
    """Entries in Redis when there is one (the clock stays this process's), else in memory."""
    if redis is None:
        return PromptCache()
    clock = Clock()
    return PromptCache(RedisCacheState(redis, clock), clock)


def _transport(settings: Settings) -> TransportFactory | None:
    """Upstream traffic goes to the network, through a recorder, or to a cassette instead."""
    if settings.record is not None:
        path = settings.record
        return lambda: RecordingTransport(path)
    if settings.replay is not None:
        path = settings.replay
        return lambda: ReplayTransport(path)
    return None


def _listed(config: Config, catalog: Catalog) -> list[ModelInfo]:
    """Configured models the catalog does not know yet, for ``/v1/models``."""
    listed = []
    for model, route in config.models.items():
        known = catalog.get(model)
        kind = config.upstreams[route.upstreams[0]].kind
        if known is not None:
            listed.append(replace(known, backend=kind))
            continue
        listed.append(
            ModelInfo(
                id=model,
                display_name=route.display_name or model,
                max_tokens=route.max_tokens,
                max_input_tokens=route.max_input_tokens,
                backend=kind,
            )
        )
    return listed


def _admin(state: State, **handlers: Handler) -> Endpoint:
    """An endpoint of the admin API: no API version or key, the admin token instead."""
    return Endpoint(
        state,
        **{
            method: Operation(handler, "admin", versioned=False, authenticated=False, admin=True)
            for method, handler in handlers.items()
        },
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: errors.APIError = errors.NotFoundError("Not Found")
    elif exc.status_code == 405:
        error = errors.MethodNotAllowedError()
    else:
        error = errors.InvalidRequestError(str(exc.detail))
        error.status_code = exc.status_code
    return error_response(error, request_id())


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(errors.InternalServerError(), request_id())


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: settings come from ``DATELINE_*``."""
    return create_app(Settings())
