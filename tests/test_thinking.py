"""Thinking-block signatures: what the server signed comes back unchanged, or not at all."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dateline.thinking import Signer

SIGNER = Signer("key-one")
THOUGHT = "The user is asking about tide pools. I should keep it short."


def _flip(signature: str, at: int) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_sign_and_verify() -> None:
    signature = SIGNER.sign(THOUGHT)
    assert SIGNER.verify(THOUGHT, signature)
    assert base64.b64decode(signature, validate=True)
    assert SIGNER.sign(THOUGHT) == signature  # deterministic: same request, same reply


def test_signatures_differ_by_text() -> None:
    assert SIGNER.sign("a") != SIGNER.sign("b")


@pytest.mark.parametrize(
    "edited",
    [THOUGHT + " ", THOUGHT[:-1], THOUGHT.replace("tide", "tidal"), THOUGHT.upper(), "", " " + THOUGHT],
)
def test_edited_text_is_detected(edited: str) -> None:
    assert not SIGNER.verify(edited, SIGNER.sign(THOUGHT))


@pytest.mark.parametrize("at", [0, 1, 2, 10, 17, 18, 30, -1])
def test_edited_signature_is_detected(at: int) -> None:
    assert not SIGNER.verify(THOUGHT, _flip(SIGNER.sign(THOUGHT), at))


@pytest.mark.parametrize(
    "signature",
    ["", "not base64!", "AAAA", "====", base64.b64encode(b"\x01" * 10).decode(), base64.b64encode(b"\x01" * 60).decode()],
)
def test_malformed_signatures(signature: str) -> None:
    assert not SIGNER.verify(THOUGHT, signature)
    assert not SIGNER.verify("", signature)


def test_signature_needs_the_key() -> None:
    other = Signer("key-two")
    assert not other.verify(THOUGHT, SIGNER.sign(THOUGHT))
    assert Signer("key-one").verify(THOUGHT, SIGNER.sign(THOUGHT))  # replicas sharing a key agree


def test_truncated_or_padded_signature() -> None:
    signature = SIGNER.sign(THOUGHT)
    raw = base64.b64decode(signature)
    assert not SIGNER.verify(THOUGHT, base64.b64encode(raw[:-1]).decode())
    assert not SIGNER.verify(THOUGHT, base64.b64encode(raw + b"\x00").decode())


def test_omitted_thinking_vouches_for_empty_text() -> None:
    signature = SIGNER.sign(THOUGHT, omitted=True)
    assert SIGNER.verify("", signature)
    assert not SIGNER.verify(THOUGHT, signature)  # the hidden text may not be filled in
    assert signature != SIGNER.sign(THOUGHT)
    assert signature != SIGNER.sign("", omitted=False)


def test_shown_signature_of_empty_text_is_not_an_omitted_one() -> None:
    shown_empty = SIGNER.sign("")
    assert SIGNER.verify("", shown_empty)
    assert not SIGNER.verify("x", shown_empty)


def test_omitted_and_shown_markers_cannot_be_swapped() -> None:
    shown = bytearray(base64.b64decode(SIGNER.sign(THOUGHT)))
    shown[1] = ord("o")  # claim it was omitted: the MAC no longer matches
    assert not SIGNER.verify("", base64.b64encode(bytes(shown)).decode())


@settings(max_examples=100, deadline=None)
@given(st.text(), st.text())
def test_verify_only_what_was_signed(signed: str, presented: str) -> None:
    signature = SIGNER.sign(signed)
    assert SIGNER.verify(signed, signature)
    assert SIGNER.verify(presented, signature) == (presented == signed)


def test_a_signer_without_its_key_signs_nothing() -> None:
    signer = Signer()  # the app's, until the store gives it the key at start-up
    assert not signer.has_key
    with pytest.raises(RuntimeError):
        signer.sign(THOUGHT)
    signer.use_key("key-one")
    assert signer.has_key and signer.sign(THOUGHT) == SIGNER.sign(THOUGHT)
