"""Dateline: a faithful, version-aware Claude API server.

The public surface is imported lazily, so loading a submodule (the pytest
plugin in ``dateline.testing``, say) does not pay for the whole app.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "create_app": "dateline.app",
    "Backend": "dateline.backends",
    "BuiltinModel": "dateline.backends",
    "Settings": "dateline.settings",
    "VERSIONS": "dateline.versions",
}

__all__ = ["VERSIONS", "Backend", "BuiltinModel", "Settings", "__version__", "create_app"]

if TYPE_CHECKING:
    from .app import create_app
    from .backends import Backend, BuiltinModel
    from .settings import Settings
    from .versions import VERSIONS


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dateline' has no attribute {name!r}")
