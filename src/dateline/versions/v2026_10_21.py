"""2026-10-21: three changes to what a Messages request may contain.

The sampling parameters are gone from the request schema; a ``document``
block may no longer sit directly in an ``assistant`` message; a ``text``
block in a ``user`` message may no longer carry citations. Responses,
stream events, headers and errors are unchanged. Each class below is one
line of the version history. The rules' wording is Dateline's own: the API's
is not public.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import Field

from .. import errors
from ..schemas import MessageCountTokensParams, MessageCreateParams
from ._change import VersionChange
from ._schema import FieldExisted, RuleAdded

#: Batches are named too: their requests are validated under the batch's version.
MESSAGES = frozenset({"messages", "count_tokens", "batches"})
SAMPLING = ("temperature", "top_p", "top_k")


class SamplingParametersRemoved(VersionChange):
    description = (
        "Messages: the sampling parameters `temperature`, `top_p` and `top_k` are removed; "
        "a request that sends any of them, even at its default value, is refused "
        "(`temperature: Extra inputs are not permitted`)."
    )
    endpoints = frozenset({"messages", "batches"})
    schema = (
        FieldExisted(MessageCreateParams, "temperature", Optional[Annotated[float, Field(ge=0, le=1)]]),
        FieldExisted(MessageCreateParams, "top_p", Optional[Annotated[float, Field(ge=0, le=1)]]),
        FieldExisted(MessageCreateParams, "top_k", Optional[Annotated[int, Field(ge=0)]]),
    )
    #: An upstream that samples still gets an older client's values.
    beside = SAMPLING


def _assistant_documents(body: dict[str, Any]) -> None:
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        if message.get("role") != "assistant" or type(content) is not list:
            continue
        for j, block in enumerate(content):
            if block.get("type") == "document":
                raise errors.InvalidRequestError(
                    f"messages.{i}.content.{j}: `document` blocks are not allowed in `assistant` messages; "
                    "send documents in a `user` message"
                )


class AssistantMessagesTakeNoDocuments(VersionChange):
    description = (
        "Messages: a `document` block directly in an `assistant` message is refused; documents belong "
        "in `user` messages (one nested in another block, such as a web fetch result, is still accepted)."
    )
    endpoints = MESSAGES
    schema = (
        RuleAdded(
            (MessageCreateParams, MessageCountTokensParams),
            _assistant_documents,
            "An `assistant` message may not contain a `document` block directly.",
        ),
    )


def _cited(block: dict[str, Any], where: str) -> None:
    if block.get("type") == "text" and block.get("citations"):
        raise errors.InvalidRequestError(
            f"{where}.citations: citations are not allowed on `text` blocks in `user` messages; "
            "only the model's own `assistant` text carries citations"
        )


def _user_citations(body: dict[str, Any]) -> None:
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        if message.get("role") != "user" or type(content) is not list:
            continue
        for j, block in enumerate(content):
            kind = block.get("type")
            if kind == "text":
                _cited(block, f"messages.{i}.content.{j}")
            elif kind == "search_result":
                for k, inner in enumerate(block.get("content") or ()):
                    _cited(inner, f"messages.{i}.content.{j}.content.{k}")
            elif kind == "tool_result" and type(block.get("content")) is list:
                for k, inner in enumerate(block["content"]):
                    if inner.get("type") == "search_result":
                        for m, text in enumerate(inner.get("content") or ()):
                            _cited(text, f"messages.{i}.content.{j}.content.{k}.content.{m}")


class UserTextTakesNoCitations(VersionChange):
    description = (
        "Messages: a `text` block with non-empty `citations` in a `user` message, directly or inside a "
        "`search_result` block, is refused (assistant text citations, an empty array, and "
        "`citations: {\"enabled\": true}` on documents and search results are still accepted)."
    )
    endpoints = MESSAGES
    schema = (
        RuleAdded(
            (MessageCreateParams, MessageCountTokensParams),
            _user_citations,
            "A `text` block in a `user` message (directly or inside a `search_result` block) may not carry "
            "non-empty `citations`.",
        ),
    )


CHANGES = (SamplingParametersRemoved, AssistantMessagesTakeNoDocuments, UserTextTakesNoCitations)
