"""Dateline: a faithful, version-aware Claude API server."""

from .app import create_app
from .backends import Backend, BuiltinModel
from .settings import Settings
from .versions import VERSIONS

__version__ = "0.1.0"

__all__ = ["VERSIONS", "Backend", "BuiltinModel", "Settings", "__version__", "create_app"]
