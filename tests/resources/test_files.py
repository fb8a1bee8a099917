"""The Files API (``/v1/files``) and messages that name uploaded files, over real HTTP.

Uploads, listing, retrieval, download and deletion go through the official
SDK (strict response validation) and raw httpx; messages name files with
``{"type": "file", "file_id"}`` sources, which the server reads in for the model.
"""

from __future__ import annotations

import base64
import random
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from dateline import Settings
from dateline.resources import files
from dateline.testing import DatelineServer

MODEL = "claude-haiku-4-5"
BETA = "files-api-2025-04-14"
HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01", "anthropic-beta": BETA}
FILE_ID = re.compile(r"^file_011C[0-9A-Za-z]{20}$")
REQUEST_ID = re.compile(r"^req_011C[0-9A-Za-z]{20}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
METADATA_KEYS = {"id", "type", "filename", "mime_type", "size_bytes", "created_at", "downloadable"}
NOTES = b"Kelp forests shelter sea otters, urchins and abalone along the rocky Pacific coast.\n" * 20
# A 1x1 PNG and a minimal one-page PDF.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4b60000000049454e44ae426082"
)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def sdk(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test", max_retries=0, timeout=60, _strict_response_validation=True
    )


@pytest.fixture(scope="module")
def downloadable() -> Iterator[DatelineServer]:
    """A server that lets uploaded files be downloaded (``files_downloadable``)."""
    with DatelineServer(Settings(files_downloadable=True)) as running:
        yield running


@pytest.fixture
def open_client(downloadable: DatelineServer) -> Iterator[anthropic.Anthropic]:
    with sdk(downloadable.base_url) as client:
        yield client


def assert_error(response: httpx.Response, status: int, error_type: str, message: str | None = None) -> dict:
    """The API's error envelope, with the request id in body and header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    rid = response.headers["request-id"]
    assert REQUEST_ID.fullmatch(rid)
    body = response.json()
    assert body["type"] == "error" and body["request_id"] == rid, body
    assert body["error"]["type"] == error_type, body
    if message is not None:
        assert body["error"]["message"] == message
    assert "Traceback" not in response.text
    return body


def upload(base_url: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", HEADERS)
    return httpx.post(f"{base_url}/v1/files?beta=true", timeout=60, **kwargs)


def document(file_id: str) -> dict[str, Any]:
    return {"type": "document", "source": {"type": "file", "file_id": file_id}}


def ask(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "Summarize this for me."}, *blocks]}]


# --- upload and metadata ---------------------------------------------------------------------


def test_upload_answers_the_metadata_exactly(server: DatelineServer, client: anthropic.Anthropic):
    before = time.time()
    meta = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain"), betas=[BETA])
    assert FILE_ID.fullmatch(meta.id)
    assert (meta.type, meta.filename, meta.mime_type) == ("file", "notes.txt", "text/plain")
    assert (meta.size_bytes, meta.downloadable) == (len(NOTES), False)
    assert before - 1 <= meta.created_at.timestamp() <= time.time() + 1

    raw = httpx.get(f"{server.base_url}/v1/files/{meta.id}", headers=HEADERS)
    assert raw.status_code == 200 and REQUEST_ID.fullmatch(raw.headers["request-id"])
    body = raw.json()
    assert list(body) == ["id", "type", "filename", "mime_type", "size_bytes", "created_at", "downloadable"]
    assert RFC3339.fullmatch(body["created_at"])
    assert datetime.fromisoformat(body["created_at"]) == meta.created_at
    assert client.beta.files.retrieve_metadata(meta.id) == meta


def test_upload_by_raw_multipart_with_the_sdks_own_framing(server: DatelineServer):
    body = (
        b'--4b9f\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nabc\r\n--4b9f--\r\n"
    )
    headers = {**HEADERS, "content-type": "multipart/form-data; boundary=4b9f"}
    response = httpx.post(f"{server.base_url}/v1/files?beta=true", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == METADATA_KEYS
    assert (response.json()["filename"], response.json()["size_bytes"]) == ("a.txt", 3)


@pytest.mark.parametrize(
    ("part", "filename", "mime_type"),
    [
        (("report.pdf", PDF, "application/pdf"), "report.pdf", "application/pdf"),
        (("pixel.png", PNG, "image/png"), "pixel.png", "image/png"),
        # The part's type wins; without one (or a generic one) the name decides.
        (("data.json", b"{}", "text/plain"), "data.json", "text/plain"),
        (("guide.pdf", PDF, "application/octet-stream"), "guide.pdf", "application/pdf"),
        (("blob", b"\x00\x01", "application/octet-stream"), "blob", "application/octet-stream"),
        # Only the last path component of a name is kept; no name at all is "unnamed".
        (("some/dir/notes.txt", NOTES, "text/plain"), "notes.txt", "text/plain"),
        (("C:\\Users\\me\\notes.txt", NOTES, "text/plain"), "notes.txt", "text/plain"),
        (("", NOTES, "text/plain"), "unnamed.txt", "text/plain"),
        (("ünïcode naïve.txt", NOTES, "text/plain"), "ünïcode naïve.txt", "text/plain"),
    ],
)
def test_upload_names_and_types(server: DatelineServer, part: tuple, filename: str, mime_type: str):
    response = upload(server.base_url, files={"file": part})
    assert response.status_code == 200, response.text
    assert (response.json()["filename"], response.json()["mime_type"]) == (filename, mime_type)
    assert response.json()["size_bytes"] == len(part[1])


def test_upload_takes_a_valid_expires_in_seconds(server: DatelineServer):
    response = upload(server.base_url, data={"expires_in_seconds": "3600"}, files={"file": ("a.txt", b"a")})
    assert response.status_code == 200, response.text


# --- download -----------------------------------------------------------------------------------


def test_round_trip_of_binary_bytes(open_client: anthropic.Anthropic, downloadable: DatelineServer):
    # A few MB of every byte value, in no tidy order.
    payload = bytes(range(256)) + random.Random(7).randbytes(3 * 1024 * 1024)
    meta = open_client.beta.files.upload(file=("dump.bin", payload, "application/octet-stream"), betas=[BETA])
    assert meta.size_bytes == len(payload) and meta.mime_type == "application/octet-stream"
    assert open_client.beta.files.download(meta.id, betas=[BETA]).read() == payload

    raw = httpx.get(f"{downloadable.base_url}/v1/files/{meta.id}/content", headers=HEADERS, timeout=60)
    assert raw.status_code == 200 and raw.content == payload
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-length"] == str(len(payload))
    assert raw.headers["content-disposition"] == 'attachment; filename="dump.bin"'
    assert REQUEST_ID.fullmatch(raw.headers["request-id"])


def test_download_keeps_text_as_sent(open_client: anthropic.Anthropic, downloadable: DatelineServer):
    text = "naïve café\n".encode("latin-1")  # not UTF-8: no charset may be claimed for it
    meta = open_client.beta.files.upload(file=("ünï.txt", text, "text/plain"))
    raw = httpx.get(f"{downloadable.base_url}/v1/files/{meta.id}/content", headers=HEADERS)
    assert raw.content == text
    assert raw.headers["content-type"] == "text/plain"
    assert raw.headers["content-disposition"] == "attachment; filename=\"?n?.txt\"; filename*=UTF-8''%C3%BCn%C3%AF.txt"


def test_an_empty_file_round_trips(open_client: anthropic.Anthropic):
    meta = open_client.beta.files.upload(file=("empty.txt", b"", "text/plain"))
    assert meta.size_bytes == 0
    assert open_client.beta.files.download(meta.id).read() == b""


def test_uploaded_files_are_not_downloadable_by_default(server: DatelineServer, client: anthropic.Anthropic):
    meta = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain"), betas=[BETA])
    message = (
        f"File {meta.id} is not downloadable: only files that tools (such as code execution) create can be downloaded"
    )
    response = httpx.get(f"{server.base_url}/v1/files/{meta.id}/content", headers=HEADERS)
    body = assert_error(response, 400, "invalid_request_error", message)
    assert body["error"]["details"] == {"error_code": "file_not_downloadable"}
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.files.download(meta.id, betas=[BETA])
    assert info.value.error_code == "file_not_downloadable"
    assert isinstance(info.value, anthropic.types.FileNotDownloadableError)


# --- listing ------------------------------------------------------------------------------------


def test_list_pages_through_every_file():
    with DatelineServer() as running, sdk(running.base_url) as client:
        ids = [client.beta.files.upload(file=(f"f{i}.txt", b"x" * i, "text/plain")).id for i in range(7)]
        newest_first = ids[::-1]
        # The SDK's auto-paging follows the pages to the end.
        assert [f.id for f in client.beta.files.list(limit=3, betas=[BETA])] == newest_first
        assert [f.id for f in client.beta.files.list()] == newest_first

        def page(**query: Any) -> dict[str, Any]:
            response = httpx.get(f"{running.base_url}/v1/files", params=query, headers=HEADERS)
            assert response.status_code == 200, response.text
            return response.json()

        first = page(limit=3)
        assert [f["id"] for f in first["data"]] == newest_first[:3]
        assert (first["has_more"], first["first_id"], first["last_id"]) == (True, ids[6], ids[4])
        second = page(limit=3, after_id=first["last_id"])
        assert [f["id"] for f in second["data"]] == newest_first[3:6] and second["has_more"]
        last = page(limit=3, after_id=second["last_id"])
        assert ([f["id"] for f in last["data"]], last["has_more"], last["next_page"]) == ([ids[0]], False, None)
        back = page(limit=2, before_id=ids[2])
        assert [f["id"] for f in back["data"]] == [ids[4], ids[3]] and back["has_more"]
        newest = page(before_id=back["first_id"])
        assert [f["id"] for f in newest["data"]] == [ids[6], ids[5]] and not newest["has_more"]
        # The opaque cursor goes the same way as the paging that made it.
        assert [f["id"] for f in page(page=first["next_page"], limit=3)["data"]] == newest_first[3:6]
        assert [f["id"] for f in page(page=back["next_page"])["data"]] == [ids[6], ids[5]]
        assert page(limit=1000)["data"] == page()["data"]
        # ids: those files only (unknown ones left out), newest first, one page.
        some = page(**{"ids[]": [ids[1], "file_unknown", ids[5]]})
        assert [f["id"] for f in some["data"]] == [ids[5], ids[1]] and not some["has_more"]
        assert [f.id for f in client.beta.files.list(ids=[ids[0], ids[3]])] == [ids[3], ids[0]]
        empty = page(scope_id="sesn_nothing")
        assert empty == {"data": [], "has_more": False, "first_id": None, "last_id": None, "next_page": None}


def test_ids_with_a_limit_are_filtered_then_cut_to_the_page_size(server: DatelineServer):
    """``ids[]`` with ``limit`` (as current SDKs send them together): the files
    among the ids, newest first, then at most ``limit`` of them, in one page."""
    with sdk(server.base_url) as client:
        ids = [client.beta.files.upload(file=(f"g{i}.txt", b"g", "text/plain")).id for i in range(5)]
        wanted = [ids[0], ids[2], ids[3], "file_unknown", ids[4]]
        first = client.beta.files.list(ids=wanted, limit=2)
        assert [f.id for f in first.data] == [ids[4], ids[3]]
        assert first.has_more is True and first.next_page is None
        assert [f.id for f in client.beta.files.list(ids=wanted, limit=2)] == [ids[4], ids[3]]  # one page only

    def listed(**query: Any) -> dict[str, Any]:
        response = httpx.get(f"{server.base_url}/v1/files", params={"ids[]": wanted, **query}, headers=HEADERS)
        assert response.status_code == 200, response.text
        return response.json()

    cut = listed(limit=3)
    assert [f["id"] for f in cut["data"]] == [ids[4], ids[3], ids[2]]
    assert (cut["has_more"], cut["first_id"], cut["last_id"], cut["next_page"]) == (True, ids[4], ids[2], None)
    whole = listed(limit=4)
    assert [f["id"] for f in whole["data"]] == [ids[4], ids[3], ids[2], ids[0]] and whole["has_more"] is False
    assert listed()["data"] == whole["data"]  # without a limit: every file found
    after = listed(limit=2, after_id=ids[3])
    assert [f["id"] for f in after["data"]] == [ids[2], ids[0]] and after["has_more"] is False


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
        ({"limit": "1001"}, "limit: Input should be less than or equal to 1000"),
        ({"limit": "ten"}, "limit: Input should be a valid integer, unable to parse string as an integer"),
        ({"after_id": "file_nope"}, "after_id: no file with id file_nope"),
        ({"before_id": "file_nope"}, "before_id: no file with id file_nope"),
        ({"page": "nonsense"}, "page: invalid page cursor 'nonsense'"),
        ({"page": "page_!!"}, "page: invalid page cursor 'page_!!'"),
        ({"page": "page_YWZ0ZXI6ZmlsZV9ub3Bl"}, "page: no file with id file_nope"),
        (
            {"page": "page_YWZ0ZXI6ZmlsZV9ub3Bl", "after_id": "x"},
            "page: cannot be combined with `after_id` or `before_id`",
        ),
        ({"ids[]": ["a"], "limit": "0"}, "limit: Input should be greater than or equal to 1"),
        (
            {"ids[]": [f"file_{i}" for i in range(101)]},
            "ids: List should have at most 100 items after validation, not 101",
        ),
    ],
)
def test_list_refuses_bad_queries(server: DatelineServer, query: dict[str, Any], message: str):
    response = httpx.get(f"{server.base_url}/v1/files", params=query, headers=HEADERS)
    assert_error(response, 400, "invalid_request_error", message)


# --- deletion and unknown files -------------------------------------------------------------------


def test_delete_removes_metadata_and_bytes(open_client: anthropic.Anthropic, downloadable: DatelineServer):
    meta = open_client.beta.files.upload(file=("gone.txt", NOTES, "text/plain"))
    blob = Path(downloadable.settings.data_dir) / "files" / meta.id
    assert blob.read_bytes() == NOTES
    deleted = httpx.delete(f"{downloadable.base_url}/v1/files/{meta.id}", headers=HEADERS)
    assert deleted.status_code == 200 and deleted.json() == {"id": meta.id, "type": "file_deleted"}
    assert not blob.exists()
    gone = f"File not found: {meta.id}"
    for method, path in [("GET", ""), ("GET", "/content"), ("DELETE", "")]:
        response = httpx.request(method, f"{downloadable.base_url}/v1/files/{meta.id}{path}", headers=HEADERS)
        assert_error(response, 404, "not_found_error", gone)
    with pytest.raises(anthropic.NotFoundError):
        open_client.beta.files.retrieve_metadata(meta.id)
    with pytest.raises(anthropic.NotFoundError):
        open_client.beta.files.download(meta.id)
    assert meta.id not in [f.id for f in open_client.beta.files.list(limit=1000)]


def test_the_generally_available_sdk_surface(open_client: anthropic.Anthropic):
    # Current SDKs also offer files outside beta, without the beta header.
    meta = open_client.files.upload(file=("ga.txt", NOTES, "text/plain"))
    assert open_client.files.retrieve_metadata(meta.id).id == meta.id
    assert open_client.files.download(meta.id).read() == NOTES
    assert meta.id in [f.id for f in open_client.files.list(limit=1000)]
    assert open_client.files.delete(meta.id).id == meta.id


def test_the_sdk_deletes(client: anthropic.Anthropic):
    meta = client.beta.files.upload(file=("a.txt", b"a", "text/plain"))
    deleted = client.beta.files.delete(meta.id, betas=[BETA])
    assert (deleted.id, deleted.type) == (meta.id, "file_deleted")


@pytest.mark.parametrize("file_id", ["file_011CNha8iCJcU1wXNR6q4V8w", ".file_x.partial", "file_%00", "file_%2F.."])
def test_unknown_files_are_not_found(server: DatelineServer, file_id: str):
    for method, path in [("GET", ""), ("GET", "/content"), ("DELETE", "")]:
        response = httpx.request(method, f"{server.base_url}/v1/files/{file_id}{path}", headers=HEADERS)
        assert_error(response, 404, "not_found_error")


def test_files_survive_a_restart(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, files_downloadable=True)
    with DatelineServer(settings) as first, sdk(first.base_url) as client:
        meta = client.beta.files.upload(file=("kept.bin", bytes(range(256)) * 40, "application/octet-stream"))
    with DatelineServer(settings) as second, sdk(second.base_url) as client:
        assert client.beta.files.retrieve_metadata(meta.id) == meta
        assert client.beta.files.download(meta.id).read() == bytes(range(256)) * 40
        assert [f.id for f in client.beta.files.list()] == [meta.id]
    assert (tmp_path / "files" / meta.id).is_file()


# --- upload errors ----------------------------------------------------------------------------------


def _multipart(*parts: bytes, boundary: bytes = b"xyz") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + boundary + b"--\r\n"


FILE_PART = b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nabc'
MULTIPART = "multipart/form-data; boundary=xyz"
NOT_MULTIPART = "The request body must be multipart/form-data, with the file in a part named `file`"
MALFORMED = "The request body is not valid multipart/form-data"
BAD_NAME = (
    'file: Invalid filename: it must be 1-255 characters and may not contain <, >, :, ", |, ?, *, \\, / '
    "or control characters"
)


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b'{"file": "abc"}', NOT_MULTIPART),
        (None, b"abc", NOT_MULTIPART),
        ("multipart/form-data", _multipart(FILE_PART), "The multipart/form-data content-type header has no boundary"),
        (
            MULTIPART,
            _multipart(b'Content-Disposition: form-data; name="expires_in_seconds"\r\n\r\n3600'),
            "file: Field required",
        ),
        (MULTIPART, b"--xyz--\r\n", "file: Field required"),
        (MULTIPART, _multipart(FILE_PART)[:-9], f"{MALFORMED}: it ends before its closing boundary"),
        (MULTIPART, b"garbage without boundaries", MALFORMED),
        (MULTIPART, _multipart(FILE_PART, FILE_PART), "file: only one file may be uploaded per request"),
        (
            MULTIPART,
            _multipart(FILE_PART, b'Content-Disposition: form-data; name="purpose"\r\n\r\nx'),
            "purpose: Extra inputs are not permitted",
        ),
        (MULTIPART, _multipart(b"Content-Disposition: form-data\r\n\r\nx"), f"{MALFORMED}: a part has no name"),
        (MULTIPART, _multipart(FILE_PART.replace(b"a.txt", b"a<b>.txt")), BAD_NAME),
        (MULTIPART, _multipart(FILE_PART.replace(b"a.txt", b"x" * 256)), BAD_NAME),
        (
            MULTIPART,
            _multipart(FILE_PART, b'Content-Disposition: form-data; name="expires_in_seconds"\r\n\r\nsoon'),
            "expires_in_seconds: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            MULTIPART,
            _multipart(FILE_PART, b'Content-Disposition: form-data; name="expires_in_seconds"\r\n\r\n7776001'),
            "expires_in_seconds: Input should be less than or equal to 7776000",
        ),
    ],
)
def test_upload_errors(server: DatelineServer, content_type: str | None, body: bytes, message: str):
    headers = dict(HEADERS)
    if content_type is not None:
        headers["content-type"] = content_type
    before = _stored(server)
    response = httpx.post(f"{server.base_url}/v1/files", content=body, headers=headers)
    assert_error(response, 400, "invalid_request_error", message)
    assert _stored(server) == before  # neither metadata nor bytes (nor partial files) left behind


def test_upload_over_the_size_limit(server: DatelineServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(files, "MAX_FILE_SIZE", 1000)
    before = _stored(server)
    # Found while streaming: the announced size fits, or none is announced (chunked).
    response = upload(server.base_url, files={"file": ("big.bin", b"x" * 1001)})
    assert_error(response, 413, "request_too_large")
    head, tail = _multipart(FILE_PART).split(b"abc")
    chunked = iter([head, b"x" * 600, b"x" * 600, tail])
    response = upload(server.base_url, content=chunked, headers={**HEADERS, "content-type": MULTIPART})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "request_too_large")
    # Announced: refused before the body is read.
    response = upload(server.base_url, files={"file": ("big.bin", b"x" * 200_000)})
    assert_error(response, 413, "request_too_large")
    assert upload(server.base_url, files={"file": ("fits.bin", b"x" * 1000)}).status_code == 200
    with sdk(server.base_url) as client, pytest.raises(anthropic.APIStatusError) as info:
        client.beta.files.upload(file=("big.bin", b"x" * 5000))
    assert info.value.status_code == 413 and info.value.type == "request_too_large"
    assert len(_stored(server)[1]) == len(before[1]) + 1


def test_upload_needs_an_api_key(server: DatelineServer):
    response = httpx.post(f"{server.base_url}/v1/files", files={"file": ("a.txt", b"a")})
    assert_error(response, 401, "authentication_error")


def _stored(server: DatelineServer) -> tuple[list[str], list[str]]:
    """Every file listed, and every name in the blob directory."""
    listed = httpx.get(f"{server.base_url}/v1/files", params={"limit": 1000}, headers=HEADERS).json()
    blobs = Path(server.settings.data_dir) / "files"
    return [f["id"] for f in listed["data"]], sorted(p.name for p in blobs.iterdir()) if blobs.exists() else []


# --- messages naming files ------------------------------------------------------------------------------


def test_a_message_reads_an_uploaded_text_document(server: DatelineServer, client: anthropic.Anthropic):
    meta = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain"), betas=[BETA])
    plain = client.beta.messages.create(model=MODEL, max_tokens=200, messages=ask(), betas=[BETA])
    reply = client.beta.messages.create(model=MODEL, max_tokens=200, messages=ask(document(meta.id)), betas=[BETA])
    assert reply.stop_reason == "end_turn"
    assert reply.content[0].text != plain.content[0].text
    # The document's words are read: about 14 tokens a line, 20 lines.
    assert reply.usage.input_tokens > plain.usage.input_tokens + 200
    # The same as sending the text itself.
    inline = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": NOTES.decode()}}
    same = client.beta.messages.create(model=MODEL, max_tokens=200, messages=ask(inline), betas=[BETA])
    assert same.usage.input_tokens == reply.usage.input_tokens
    # The request as logged is the request as sent: resolving the file changed nothing in it.
    logged = server.requests("/v1/messages")[-2]["body"]["messages"][0]["content"][1]
    assert logged == document(meta.id)


def test_count_tokens_counts_the_document(client: anthropic.Anthropic):
    meta = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain"), betas=[BETA])
    counted = client.beta.messages.count_tokens(model=MODEL, messages=ask(document(meta.id)), betas=[BETA])
    without = client.beta.messages.count_tokens(model=MODEL, messages=ask(), betas=[BETA])
    assert counted.input_tokens > without.input_tokens + 200
    reply = client.beta.messages.create(model=MODEL, max_tokens=50, messages=ask(document(meta.id)), betas=[BETA])
    assert reply.usage.input_tokens == counted.input_tokens


def test_a_streamed_message_with_a_document(client: anthropic.Anthropic):
    meta = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain"), betas=[BETA])
    messages = ask(document(meta.id))
    with client.beta.messages.stream(model=MODEL, max_tokens=200, messages=messages, betas=[BETA]) as stream:
        text = "".join(stream.text_stream)
        streamed = stream.get_final_message()
    plain = client.beta.messages.create(model=MODEL, max_tokens=200, messages=messages, betas=[BETA])
    assert text == plain.content[0].text
    assert streamed.usage.input_tokens == plain.usage.input_tokens


def test_images_pdfs_and_documents_in_tool_results(client: anthropic.Anthropic):
    png = client.beta.files.upload(file=("pixel.png", PNG, "image/png")).id
    pdf = client.beta.files.upload(file=("report.pdf", PDF, "application/pdf")).id
    notes = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain")).id
    image = {"type": "image", "source": {"type": "file", "file_id": png}}
    for blocks in [(image,), (document(pdf),), (image, document(pdf), document(notes), document(notes))]:
        reply = client.beta.messages.create(model=MODEL, max_tokens=50, messages=ask(*blocks), betas=[BETA])
        assert reply.usage.input_tokens > 0
    # The same bytes inline cost the same tokens.
    inline = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()},
    }
    counts = [
        client.beta.messages.count_tokens(model=MODEL, messages=ask(block)).input_tokens for block in (image, inline)
    ]
    assert counts[0] == counts[1]
    conversation = [
        {"role": "user", "content": "Read my notes"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [document(notes)]}]},
    ]
    tools = [{"name": "read", "description": "Read the notes.", "input_schema": {"type": "object"}}]
    with_notes = client.beta.messages.count_tokens(model=MODEL, messages=conversation, tools=tools)
    conversation[2]["content"][0]["content"] = [{"type": "text", "text": "nothing"}]
    assert (
        with_notes.input_tokens
        > client.beta.messages.count_tokens(model=MODEL, messages=conversation, tools=tools).input_tokens + 200
    )


def test_a_message_naming_an_unknown_file(server: DatelineServer, client: anthropic.Anthropic):
    missing = "file_011CNha8iCJcU1wXNR6q4V8w"
    body = {"model": MODEL, "max_tokens": 50, "messages": ask(document(missing))}
    for path in ("/v1/messages", "/v1/messages/count_tokens", "/v1/messages?beta=true"):
        request = body if "count" not in path else {k: v for k, v in body.items() if k != "max_tokens"}
        response = httpx.post(f"{server.base_url}{path}", json=request, headers=HEADERS)
        assert_error(response, 404, "not_found_error", f"File not found: {missing}")
    with pytest.raises(anthropic.NotFoundError):
        client.beta.messages.create(model=MODEL, max_tokens=50, messages=ask(document(missing)), betas=[BETA])
    with pytest.raises(anthropic.NotFoundError):
        with client.beta.messages.stream(model=MODEL, max_tokens=50, messages=ask(document(missing))) as stream:
            stream.get_final_message()


def test_a_deleted_file_is_not_found_in_a_message(client: anthropic.Anthropic):
    meta = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain"))
    client.beta.files.delete(meta.id)
    with pytest.raises(anthropic.NotFoundError) as info:
        client.beta.messages.create(model=MODEL, max_tokens=50, messages=ask(document(meta.id)))
    assert info.value.body["error"]["message"] == f"File not found: {meta.id}"


def test_a_file_of_the_wrong_kind_for_its_block(server: DatelineServer, client: anthropic.Anthropic):
    notes = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain")).id
    png = client.beta.files.upload(file=("pixel.png", PNG, "image/png")).id
    blob = client.beta.files.upload(file=("blob.bin", b"\x00", "application/octet-stream")).id
    cases = [
        (
            {"type": "image", "source": {"type": "file", "file_id": notes}},
            f"messages.0.content.1.source: file {notes} is text/plain; an image block takes image/jpeg, image/png, "
            "image/gif or image/webp",
        ),
        (
            document(png),
            f"messages.0.content.1.source: file {png} is image/png; a document block takes PDF or plain-text files",
        ),
        (
            document(blob),
            f"messages.0.content.1.source: file {blob} is application/octet-stream; a document block "
            "takes PDF or plain-text files",
        ),
    ]
    for block, message in cases:
        response = httpx.post(
            f"{server.base_url}/v1/messages",
            json={"model": MODEL, "max_tokens": 50, "messages": ask(block)},
            headers=HEADERS,
        )
        assert_error(response, 400, "invalid_request_error", message)


def test_a_batch_request_reads_its_files(client: anthropic.Anthropic):
    meta = client.beta.files.upload(file=("notes.txt", NOTES, "text/plain"))
    params = {"model": MODEL, "max_tokens": 50}
    batch = client.messages.batches.create(
        requests=[
            {"custom_id": "known", "params": {**params, "messages": ask(document(meta.id))}},
            {"custom_id": "unknown", "params": {**params, "messages": ask(document("file_missing"))}},
        ]
    )
    deadline = time.monotonic() + 30
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    expected = client.messages.count_tokens(model=MODEL, messages=ask(document(meta.id))).input_tokens
    assert results["known"].type == "succeeded" and results["known"].message.usage.input_tokens == expected
    assert results["unknown"].type == "errored"
    assert results["unknown"].error.error.message == "File not found: file_missing"
