"""Error messages are bounded, however much of the request they echo."""

from __future__ import annotations

from dateline import errors


def test_short_messages_are_kept_whole() -> None:
    message = "x" * errors.MAX_MESSAGE
    assert errors.InvalidRequestError(message).message == message
    assert errors.envelope("api_error", message, "req_1")["error"]["message"] == message


def test_long_messages_are_cut_with_a_marker() -> None:
    exc = errors.NotFoundError("model: " + "m" * 1_000_000)
    assert len(exc.message) == errors.MAX_MESSAGE
    assert exc.message.startswith("model: mmm")
    assert exc.message.endswith("… [message truncated: 1000007 characters in all]")
    assert str(exc) == exc.message
    assert exc.to_dict("req_1")["error"]["message"] == exc.message  # cut once, not again


def test_the_envelope_bounds_a_message_given_to_it_directly() -> None:
    message = errors.envelope("api_error", "y" * 50_000, None)["error"]["message"]
    assert len(message) == errors.MAX_MESSAGE and message.endswith("[message truncated: 50000 characters in all]")
