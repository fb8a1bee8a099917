"""The per-version OpenAPI documents: valid OpenAPI 3.1, the same from the command
and from the admin API, differing between versions exactly as the versions
declare, and true of the live server (schemathesis, from each version's document).

The schemathesis run generates a bounded number of cases per operation;
``DATELINE_SCHEMATHESIS_EXAMPLES=500`` runs that many instead, with
schemathesis's coverage phase (missing headers, unsupported methods, boundary
values) on top: about 90,000 cases and ten minutes per version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate as validate_openapi
from processes import clean_env, dateline_command
from schemathesis.core.failures import FailureGroup

from dateline.backends import Backend
from dateline.testing import DatelineServer
from dateline.types import Event, EventStream
from dateline.versions import VERSIONS, FieldExisted, RuleAdded

DATES = [version.date for version in VERSIONS]
HEAD = VERSIONS.head.date
KEY = "sk-ant-openapi"
DEEP = int(os.environ.get("DATELINE_SCHEMATHESIS_EXAMPLES", "0"))
EXAMPLES = DEEP or 25


@pytest.fixture(scope="module")
def served() -> Iterator[DatelineServer]:
    # With a key of its own, so a wrong key is refused (schemathesis checks that auth is not ignored).
    with DatelineServer(api_keys=[KEY], files_downloadable=True) as running:
        yield running


def fetch(served: DatelineServer, version: str | None = None) -> dict[str, Any]:
    query = {"version": version} if version else {}
    response = httpx.get(f"{served.base_url}/_dateline/openapi.json", params=query, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["request-id"].startswith("req_")
    return response.json()  # type: ignore[no-any-return]


# -- the documents ---------------------------------------------------------------------


@pytest.mark.parametrize("version", DATES)
def test_each_version_has_a_valid_openapi_document(served: DatelineServer, version: str) -> None:
    document = fetch(served, version)
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == version
    assert document["components"]["parameters"]["AnthropicVersion"]["schema"]["enum"] == [version]
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert ("POST", "/v1/messages") in operations
    assert ("GET", "/v1/models/{model_id}") in operations
    assert ("GET", "/v1/files/{file_id}/content") in operations
    assert not any(path.startswith("/_dateline") for _, path in operations)
    create = document["paths"]["/v1/messages"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessageCreateParams"
    }
    assert set(create["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    envelope = document["components"]["responses"]["NotFoundError"]
    assert envelope["headers"]["request-id"] == {"$ref": "#/components/headers/RequestId"}


@pytest.mark.parametrize("version", DATES)
def test_every_example_request_is_answered(served: DatelineServer, version: str) -> None:
    document = fetch(served, version)
    headers = {"x-api-key": KEY, "anthropic-version": version}
    sent = 0
    with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as http:
        for path, item in document["paths"].items():
            for method, operation in item.items():
                media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                for name, example in media.get("examples", {}).items():
                    response = http.request(method, path, json=example["value"])
                    assert response.status_code == 200, (path, name, response.text)
                    streamed = example["value"].get("stream", False)
                    assert response.headers["content-type"].startswith(
                        "text/event-stream" if streamed else "application/json"
                    )
                    sent += 1
    assert sent >= 8


def test_without_a_version_the_document_is_heads(served: DatelineServer) -> None:
    assert fetch(served) == fetch(served, HEAD)


def test_an_unknown_version_is_refused_with_the_envelope(served: DatelineServer) -> None:
    response = httpx.get(f"{served.base_url}/_dateline/openapi.json", params={"version": "2023-10-01"}, timeout=30)
    assert response.status_code == 400
    body = response.json()
    assert body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": 'version: "2023-10-01" is not a valid version'},
        "request_id": response.headers["request-id"],
    }


@pytest.mark.parametrize("version", [HEAD, "2023-01-01"])
def test_the_command_prints_the_served_document(served: DatelineServer, version: str) -> None:
    result = subprocess.run(
        [dateline_command(), "openapi", "--version", version],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == fetch(served, version)


def test_the_command_refuses_an_unknown_version() -> None:
    result = subprocess.run(
        [dateline_command(), "openapi", "--version", "2023-10-01"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert result.returncode == 2
    assert 'version: "2023-10-01" is not a valid version' in result.stderr
    assert result.stdout == ""


def differences(old: Any, new: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """(path, old value, new value) of every place two JSON documents differ, at the shallowest level."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            if key not in new or key not in old:
                yield path + (key,), old.get(key), new.get(key)
            else:
                yield from differences(old[key], new[key], path + (key,))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new)):
            yield from differences(a, b, path + (index,))
    elif old != new:
        yield path, old, new


def test_2023_06_01_and_2026_10_21_differ_exactly_in_the_declared_changes(served: DatelineServer) -> None:
    old, new = fetch(served, "2023-06-01"), fetch(served, "2026-10-21")
    # What 2026-10-21 declares: fields gone from a request model, rules added to some.
    (version,) = [v for v in VERSIONS if v.date == "2026-10-21"]
    gone = [i for change in version.changes for i in change.schema if isinstance(i, FieldExisted)]
    rules = [i for change in version.changes for i in change.schema if isinstance(i, RuleAdded)]
    assert {field.name for field in gone} == {"temperature", "top_p", "top_k"}
    assert len(rules) == 2
    expected: dict[tuple[Any, ...], tuple[Any, Any]] = {
        ("info", "version"): ("2023-06-01", "2026-10-21"),
        ("components", "parameters", "AnthropicVersion", "schema", "enum", 0): ("2023-06-01", "2026-10-21"),
    }
    for field in gone:
        expected["components", "schemas", field.model.__name__, "properties", field.name] = ("present", None)
    ruled = sorted({model.__name__ for rule in rules for model in rule.models})
    assert ruled == ["MessageCountTokensParams", "MessageCreateParams"]
    for name in ruled:
        expected["components", "schemas", name, "description"] = (None, "\n\n".join(r.description for r in rules))

    found = {path: (old_value, new_value) for path, old_value, new_value in differences(old, new)}
    assert found.keys() == expected.keys()
    for path, (old_value, new_value) in found.items():
        want_old, want_new = expected[path]
        if want_old == "present":
            assert new_value is None and old_value["anyOf"][0]["type"] in ("number", "integer"), path
        else:
            assert (old_value, new_value) == (want_old, want_new), path
    # And the sampling fields keep the ranges they are validated with under 2023-06-01.
    sampling = old["components"]["schemas"]["MessageCreateParams"]["properties"]
    assert sampling["temperature"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 1}
    assert sampling["top_k"]["anyOf"][0] == {"type": "integer", "minimum": 0}


def test_2023_01_01_documents_legacy_completion_streams(served: DatelineServer) -> None:
    def completion(document: dict[str, Any]) -> dict[str, Any]:
        return document["paths"]["/v1/complete"]["post"]["responses"]["200"]["content"]

    legacy, current = completion(fetch(served, "2023-01-01")), completion(fetch(served, "2023-06-01"))
    assert current["application/json"]["schema"] == {"$ref": "#/components/schemas/Completion"}
    assert legacy["application/json"]["schema"] == {"$ref": "#/components/schemas/LegacyCompletion"}

    def events(content: dict[str, Any]) -> set[tuple[str, str]]:
        out = set()
        for event in content["text/event-stream"]["schema"]["oneOf"]:
            data = event["properties"]["data"]
            out.add((event["properties"]["event"]["const"], data.get("const") or data["contentSchema"]["$ref"]))
        return out

    schemas = "#/components/schemas/"
    assert events(current) == {
        ("completion", schemas + "Completion"),
        ("ping", schemas + "PingEvent"),
        ("error", schemas + "ErrorResponse"),
    }
    # Data-only events (named "message" by SSE), pings still named, and a final [DONE].
    assert events(legacy) == {
        ("message", schemas + "LegacyCompletion"),
        ("ping", schemas + "PingEvent"),
        ("message", schemas + "ErrorResponse"),
        ("message", "[DONE]"),
    }


@pytest.mark.parametrize(
    ("documented", "sent"), [("2023-01-01", "2023-01-01"), ("2023-06-01", "2023-01-01"), ("2023-01-01", "2023-06-01")]
)
def test_a_completion_stream_fits_its_own_versions_document_only(
    served: DatelineServer, documented: str, sent: str
) -> None:
    schema = schemathesis.openapi.from_dict(fetch(served, documented))
    schema.config.max_stream_events = 100_000
    body = {
        "model": "claude-2.1",
        "max_tokens_to_sample": 64,
        "prompt": "\n\nHuman: Hello\n\nAssistant:",
        "stream": True,
    }
    case = schema["/v1/complete"]["POST"].Case(body=body, headers={"anthropic-version": sent})
    response = case.call(base_url=served.base_url, headers={"x-api-key": KEY})
    assert response.status_code == 200
    checks = [schemathesis.checks.response_schema_conformance]
    if documented == sent:
        assert response.content.endswith(b"data: [DONE]\n\n") == (sent == "2023-01-01")
        case.validate_response(response, checks=checks)
    else:
        with pytest.raises(FailureGroup, match="SSE event violates schema"):
            case.validate_response(response, checks=checks)


# -- the response schemas, from the SDK --------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
RESPONSES = ROOT / "src" / "dateline" / "schemas" / "_responses.json"


def gen_responses(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/gen_responses.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_response_schemas_are_what_the_installed_sdk_gives() -> None:
    run = gen_responses("--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.endswith("matches what the installed SDK gives\n")


def test_the_check_shows_the_diff_of_altered_response_schemas(tmp_path: Path) -> None:
    altered = tmp_path / "_responses.json"
    altered.write_text(RESPONSES.read_text().replace('"title": "MessageTokensCount"', '"title": "TokensCount"', 1))
    run = gen_responses("--check", "--out", str(altered))
    assert run.returncode == 1
    changed = [line.replace(" ", "") for line in run.stdout.splitlines() if line[:1] in "-+" and "title" in line]
    assert changed == ['-"title":"TokensCount",', '+"title":"MessageTokensCount",']
    assert "regenerate with: python scripts/gen_responses.py" in run.stderr
    assert '"title": "TokensCount"' in altered.read_text()  # --check writes nothing


def test_building_a_document_does_not_import_the_sdk(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from dateline.app import create_app\n"
        "from dateline.openapi import document\n"
        "from dateline.settings import Settings\n"
        f"document(create_app(Settings(data_dir={str(tmp_path)!r})))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'anthropic'))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=clean_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[]\n"


# -- the live server, from each document ---------------------------------------------------------


class Target:
    """What exists on the server for one version's run, so that generated cases also reach it."""

    def __init__(self, served: DatelineServer, version: str) -> None:
        self.version = version
        headers = {"x-api-key": KEY, "anthropic-version": version}
        with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as http:
            # One of each to keep, one to be deleted, so the other operations still find theirs.
            self.kept = {"file_id": self._file(http), "batch_id": self._batch(http), "model_id": "claude-sonnet-4-5"}
            self.doomed = {"file_id": self._file(http), "batch_id": self._batch(http)}
            for batch_id in (self.kept["batch_id"], self.doomed["batch_id"]):
                self._wait(http, batch_id)
        self.statuses: Counter[tuple[str, int]] = Counter()

    @staticmethod
    def _file(http: httpx.Client) -> str:
        upload = http.post("/v1/files", files={"file": ("notes.txt", b"tide pools", "text/plain")})
        assert upload.status_code == 200, upload.text
        return upload.json()["id"]  # type: ignore[no-any-return]

    @staticmethod
    def _batch(http: httpx.Client) -> str:
        params = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
        batch = http.post("/v1/messages/batches", json={"requests": [{"custom_id": "a", "params": params}]})
        assert batch.status_code == 200, batch.text
        return batch.json()["id"]  # type: ignore[no-any-return]

    @staticmethod
    def _wait(http: httpx.Client, batch_id: str) -> None:
        deadline = time.monotonic() + 30
        while http.get(f"/v1/messages/batches/{batch_id}").json()["processing_status"] != "ended":
            assert time.monotonic() < deadline, f"batch {batch_id} did not end"
            time.sleep(0.05)

    def aim(self, case: schemathesis.Case) -> None:
        """Point generated cases at models, and most at objects, that exist.

        Only values of a type the schema allows and with no constraint of their
        own are replaced, so a case generated to be invalid stays invalid.
        """
        ids = self.doomed if case.method.upper() == "DELETE" else self.kept
        for name, value in (case.path_parameters or {}).items():
            if name in ids and isinstance(value, str) and len(value) % 4:
                case.path_parameters[name] = ids[name]
        body = case.body
        if not isinstance(body, dict):
            return
        if isinstance(body.get("model"), str):
            body["model"] = "claude-2.1" if case.operation.path == "/v1/complete" else "claude-sonnet-4-5"
        prompt = body.get("prompt")
        if isinstance(prompt, str) and len(prompt) % 4:
            body["prompt"] = f"\n\nHuman: {prompt}\n\nAssistant:"
        for key in ("max_tokens", "max_tokens_to_sample"):
            value = body.get(key)
            if type(value) is int and value > 1024:
                body[key] = 1 + value % 1024


def error_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every answer has a request-id; every error is the API's envelope, naming the same id."""
    (request_id,) = response.headers.get("request-id") or [None]
    assert request_id and request_id.startswith("req_"), f"no request-id header: {response.headers}"
    if response.status_code < 400:
        return
    body = json.loads(response.content)
    assert set(body) == {"type", "error", "request_id"}, body
    assert body["type"] == "error", body
    assert isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str), body
    assert body["request_id"] == request_id, (body, request_id)


@pytest.fixture(scope="module", params=DATES)
def target(request: pytest.FixtureRequest, served: DatelineServer) -> Iterator[Target]:
    running = Target(served, request.param)
    yield running
    # The number of cases each version's run made, shown with the results (outside pytest's capture).
    cases = sum(running.statuses.values())
    by_status = Counter(status for _, status in running.statuses.elements())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            statuses = dict(sorted(by_status.items()))
            reporter.write_line(f"schemathesis, {running.version}: {cases} cases; by status {statuses}")


@pytest.fixture(scope="module")
def api(target: Target, served: DatelineServer) -> schemathesis.BaseSchema:
    # The document as the server serves it; its paths are relative to where it was fetched from.
    schema = schemathesis.openapi.from_url(f"{served.base_url}/_dateline/openapi.json?version={target.version}")
    schema.config.update(base_url=served.base_url)
    schema.config.max_stream_events = 100_000  # whole streams, to their last event ([DONE] under 2023-01-01)
    # The coverage phase walks every combination of the request schemas, which are large: deep runs only.
    schema.config.phases.coverage.enabled = bool(DEEP)
    return schema


live = schemathesis.pytest.from_fixture("api")


@live.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not DEEP,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_answers_as_its_document_says(case: schemathesis.Case, target: Target) -> None:
    target.aim(case)
    response = case.call(headers={"x-api-key": KEY}, timeout=60)
    target.statuses[case.operation.label, response.status_code] += 1
    case.validate_response(
        response,
        headers={"x-api-key": KEY},
        # A schema-valid body may still break the API's rules beyond the schema
        # (an unknown model, max_tokens over the model's limit, …): refused, rightly.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
        additional_checks=[error_envelope],
    )


class OffItsDocument(Backend):
    """Answers with a ``stop_reason`` the API never sends: what the run must catch."""

    name = "off-its-document"

    async def messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        usage = {"input_tokens": 3, "output_tokens": 0}
        message = {"id": "msg_01", "type": "message", "role": "assistant", "model": request["model"], "content": []}
        message |= {"stop_reason": None, "stop_sequence": None, "usage": usage}
        yield Event("message_start", {"type": "message_start", "message": message})
        block = {"type": "text", "text": ""}
        yield Event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        delta = {"type": "text_delta", "text": "Hi"}
        yield Event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        yield Event("content_block_stop", {"type": "content_block_stop", "index": 0})
        end = {"stop_reason": "finished", "stop_sequence": None}
        yield Event("message_delta", {"type": "message_delta", "delta": end, "usage": {"output_tokens": 1}})
        yield Event("message_stop", {"type": "message_stop"})

    async def count_tokens(self, request: dict[str, Any]) -> int:
        return 3


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_off_its_document_is_caught(stream: bool) -> None:
    with DatelineServer(api_keys=[KEY], backend=OffItsDocument()) as off:
        schema = schemathesis.openapi.from_url(f"{off.base_url}/_dateline/openapi.json")
        body = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
        case = schema["/v1/messages"]["POST"].Case(body={**body, "stream": stream}, headers={"anthropic-version": HEAD})
        response = case.call(base_url=off.base_url, headers={"x-api-key": KEY})
        assert response.status_code == 200
        with pytest.raises(FailureGroup) as caught:
            case.validate_response(response, headers={"x-api-key": KEY}, additional_checks=[error_envelope])
        found = str(caught.value)
        if stream:
            assert "SSE event violates schema" in found and '"event": "message_delta"' in found, found
        else:
            assert "Response violates schema" in found and "/components/schemas/Message/properties/stop_reason" in found
