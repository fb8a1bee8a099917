"""What every handler shares: the configuration and the collaborators of one app.

Only a container: ``app.create_app`` builds it, handlers read it. Its fields are
typed for readers and checkers, but importing it loads none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .betas import KNOWN_BETAS

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .backends import Backend
    from .catalog import Catalog
    from .keys import KeyRing
    from .prompt_cache import PromptCache
    from .ratelimit import Limiter
    from .requestlog import RequestLog
    from .script import Scripter
    from .settings import Settings
    from .store import Blobs, Store
    from .thinking import Signer
    from .upstream import Clients
    from .usage import UsageMeter


class Worker(Protocol):
    """The batch processor, as handlers see it."""

    def wake(self) -> None: ...


@dataclass
class State:
    settings: Settings
    backend: Backend
    catalog: Catalog
    signer: Signer
    scripter: Scripter
    log: RequestLog
    store: Store
    blobs: Blobs
    #: HTTP clients of the upstream backends (closed at shutdown).
    clients: Clients
    #: Prompt caching, emulated for the built-in model and scripted replies.
    prompt_cache: PromptCache
    #: The store's API keys, held in memory.
    keys: KeyRing
    #: Rate limits per key (on Redis when ``redis_url`` is set, else this process's).
    limiter: Limiter
    #: Usage and spend per key, model and day, recorded in memory and flushed in the background.
    usage: UsageMeter
    #: The Redis client every replica shares, when ``redis_url`` is set (closed at shutdown).
    redis: Redis | None = None
    known_betas: frozenset[str] = KNOWN_BETAS
    #: Whether every model id is served, listed or not (a catch-all upstream).
    any_model: bool = False
    #: Set while the app runs (between start-up and shutdown).
    processor: Worker | None = None

    def __post_init__(self) -> None:
        self.accepted_keys = self.settings.accepted_keys
