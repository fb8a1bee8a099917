"""Upstream servers, as the backends that forward to them use them: who they
are (``Upstream``, a model's ``Pool`` of ``Target``s), HTTP to them over a
transport (the network, or a cassette recording or replaying), fail-over
across a pool, and reading their answers with failures as the API's errors.

Knows nothing of backends, configuration or the app: they import it.
"""

from ._answer import broken, json_object, malformed, read_answer, reading, relayable, server_sent_events
from ._cassette import NoRecordedExchange, RecordingTransport, ReplayTransport
from ._client import Client, Clients, TransportFactory
from ._failover import send, struggling
from ._network import NetworkTransport
from ._pool import Pool, Target, Upstream

__all__ = [
    "Client",
    "Clients",
    "NetworkTransport",
    "NoRecordedExchange",
    "Pool",
    "RecordingTransport",
    "ReplayTransport",
    "Target",
    "TransportFactory",
    "Upstream",
    "broken",
    "json_object",
    "malformed",
    "read_answer",
    "reading",
    "relayable",
    "send",
    "server_sent_events",
    "struggling",
]
