"""Model backends: where the answers come from."""

from ._base import Backend
from .builtin import BuiltinModel

__all__ = ["Backend", "BuiltinModel"]
