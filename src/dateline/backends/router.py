"""Which backend answers a request: chosen by the requested model."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..types import EventStream
from ..upstream import Clients, Pool, Target
from ._base import Backend
from .builtin import BuiltinModel

if TYPE_CHECKING:
    from ..config import Config, Route

_MAX_DEFAULT_ROUTES = 1024


class Router(Backend):
    """Configured models go to their backends; every other model to ``default``,
    which is either a backend or a way to make one per model id (an upstream
    serving whatever model is asked for)."""

    name = "router"

    def __init__(self, routes: dict[str, Backend], default: Backend | Callable[[str], Backend]) -> None:
        self.routes = routes
        self.default = default
        self._made: OrderedDict[str, Backend] = OrderedDict()

    @classmethod
    def from_config(cls, config: Config, builtin: BuiltinModel, clients: Clients) -> Router:
        def backend(route: Route, model: str) -> Backend:
            targets = [Target(config.upstream(name), route.model_at(name, model)) for name in route.upstreams]
            pool = Pool(targets, cooldown=config.cooldown)
            if targets[0].upstream.kind == "anthropic":
                from .anthropic import AnthropicBackend

                return AnthropicBackend(pool, clients)
            from .openai import OpenAIBackend

            # Thinking blocks it makes must verify as the built-in model's do: the app's signer.
            return OpenAIBackend(pool, clients, builtin.signer)

        routes = {model: backend(route, model) for model, route in config.models.items()}
        default_route = config.default
        default = builtin if default_route is None else (lambda model: backend(default_route, model))
        return cls(routes, default)

    @property
    def any_model(self) -> bool:
        """Whether every model id is served (an upstream takes the ones not configured)."""
        return not isinstance(self.default, Backend)

    def route(self, request: dict[str, Any]) -> Backend:
        model = request.get("model", "")
        found = self.routes.get(model)
        if found is not None:
            return found
        if isinstance(self.default, Backend):
            return self.default
        made = self._made.get(model)
        if made is None:
            made = self._made[model] = self.default(model)
            if len(self._made) > _MAX_DEFAULT_ROUTES:
                self._made.popitem(last=False)
        return made

    def messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        return self.route(request).messages(request, stream=stream)

    async def message(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.route(request).message(request)

    async def count_tokens(self, request: dict[str, Any]) -> int:
        return await self.route(request).count_tokens(request)
