"""API keys as objects: kept hashed in the store (SQLite and PostgreSQL),
held in memory by every process, and what the edge makes of them: which keys
are accepted, revoked keys refused within a second on every server sharing
the database, the models a key may use, and no database read per request."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import anthropic
import asyncpg
import httpx
import pytest
from conftest import ServerThread

from dateline.keys import KeyRing
from dateline.store import Store

MODEL = "claude-sonnet-4-5"
MESSAGE: dict[str, Any] = {"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": "Hello"}]}
VERSION = {"anthropic-version": "2023-06-01"}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def ring_on(url: str, **options: Any) -> KeyRing:
    store = Store(url)
    await store.open()
    ring = KeyRing(store, **options)
    await ring.open()
    return ring


def post(server: ServerThread, key: str | None, body: dict[str, Any] = MESSAGE, **headers: str) -> httpx.Response:
    sent = {**VERSION, **headers, **({"x-api-key": key} if key is not None else {})}
    return httpx.post(f"{server.base_url}/v1/messages", json=body, headers=sent, timeout=30)


def make_key(server: ServerThread, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.base_url}/_dateline/keys", json={"name": "test", **body}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


# --- the store and the ring ------------------------------------------------------------------


def test_a_key_is_kept_as_a_keyed_hash(database_url: str, tmp_path: Path):
    async def scenario() -> tuple[str, dict[str, Any]]:
        ring = await ring_on(database_url)
        key, secret = await ring.create({"name": "ci", "workspace_id": "wrkspc_team", "spend_limit": 5})
        row = await ring.store.get_key(key.id)
        await ring.store.close()
        return secret, row

    secret, row = run(scenario())
    assert secret.startswith("sk-ant-api03-") and secret.endswith("AA") and len(secret) == 108
    assert row["partial_key_hint"] == f"{secret[:16]}...{secret[-4:]}"
    assert len(row["secret_hash"]) == 64 and secret not in str(row)
    assert row["workspace_id"] == "wrkspc_team" and row["id"].startswith("apikey_011C")
    if database_url.startswith("sqlite"):
        # Every byte the database holds: the secret is nowhere, not even its hidden middle.
        data = b"".join(p.read_bytes() for p in tmp_path.glob("dateline.db*"))
        assert secret.encode() not in data and secret[16:-4].encode() not in data
        assert row["partial_key_hint"].encode() in data  # what is kept is there to find


def test_every_ring_on_the_database_finds_a_key_and_sees_it_revoked(database_url: str):
    async def scenario() -> None:
        one, other = await ring_on(database_url), await ring_on(database_url)
        assert not one.defined and not other.defined
        key, secret = await one.create({"name": "shared"})
        assert one.find(secret) == key  # its own change at once
        assert other.find(secret) is None  # not read yet
        await other.refresh()
        assert other.find(secret) is not None and other.find(secret).live and other.defined
        assert other.find(secret + "x") is None
        await one.revoke(key.id)
        await other.refresh()
        revoked = other.find(secret)
        assert revoked is not None and not revoked.live and other.defined  # revoked keys still count
        again = await one.revoke(key.id)
        assert again is not None and again.revoked_at == revoked.revoked_at  # revoking twice changes nothing
        for ring in (one, other):
            await ring.store.close()

    run(scenario())


class CountingStore(Store):
    """The store, counting the reads of the keys' revision (one per look at the keys)."""

    looks = 0

    async def key_revision(self) -> int:
        self.looks += 1
        return await super().key_revision()


def test_unknown_keys_make_few_reads_and_a_new_key_is_always_found(database_url: str):
    async def scenario() -> None:
        store = CountingStore(database_url)
        await store.open()
        ring, maker = KeyRing(store), await ring_on(database_url)
        await ring.open()
        await maker.create({"name": "first"})
        await ring.refresh()  # a read just now: a key made right after must still be found
        _, secret = await maker.create({"name": "second"})
        assert ring.find(secret) is None
        await ring.recheck()
        assert ring.find(secret) is not None
        store.looks = 0
        started = time.monotonic()
        for _ in range(10):  # a flood of unknown keys, 500 in 0.3 s
            await asyncio.gather(*(ring.recheck() for _ in range(50)))
            await asyncio.sleep(0.03)
        elapsed = time.monotonic() - started
        assert store.looks <= elapsed / 0.05 + 2, (store.looks, elapsed)
        for each in (ring, maker):
            await each.store.close()

    run(scenario())


def test_a_ring_reads_nothing_more_when_nothing_changed(database_url: str):
    async def scenario() -> None:
        ring = await ring_on(database_url)
        key, _ = await ring.create({"name": "a"})
        before = await ring.store.key_revision()
        ring.used(key)
        await ring.flush()  # when a key was last used is no change to read again
        assert await ring.store.key_revision() == before
        await ring.store.close()

    run(scenario())


def test_a_recheck_right_after_a_read_ends_reads_again(database_url: str):
    # A read just ended whose done-callback has not run yet: awaiting it does not yield, so the
    # recheck must begin a read of its own rather than wait on that one forever (a busy loop).
    async def scenario() -> None:
        ring = await ring_on(database_url)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        ring._reading, ring._started = done, 0.0
        await ring.recheck()
        assert ring._started > 0.0
        await ring.store.close()

    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(run(scenario())), daemon=True)
    worker.start()
    worker.join(10)
    assert outcome == [None], "the recheck never ended"


def test_concurrent_changes_to_one_key_are_all_kept(database_url: str):
    async def scenario() -> None:
        rings = [await ring_on(database_url) for _ in range(3)]
        key, _ = await rings[0].create({"name": "busy"})
        await asyncio.gather(
            rings[0].update(key.id, {"rate_limits": {"requests_per_minute": 50}}),
            rings[1].update(key.id, {"rate_limits": {"output_tokens_per_minute": 8000}}),
            rings[2].update(key.id, {"spend_limit": 12.5}),
        )
        final = await rings[0].get(key.id)
        assert final is not None
        limits = final.settings.rate_limits
        assert (limits.requests_per_minute, limits.output_tokens_per_minute) == (50, 8000)
        assert final.settings.spend_limit == 12.5
        for ring in rings:
            await ring.store.close()

    run(scenario())


def test_last_use_is_written_in_batches_and_a_later_time_wins(database_url: str):
    async def scenario() -> None:
        ring = await ring_on(database_url)
        key, secret = await ring.create({"name": "used"})
        assert (await ring.store.get_key(key.id))["last_used_at"] is None
        found = ring.find(secret)
        for _ in range(100):
            ring.used(found)
        assert (await ring.store.get_key(key.id))["last_used_at"] is None  # not written per request
        assert (await ring.get(key.id)).last_used_at is not None  # though this process knows it
        await ring.flush()
        written = (await ring.store.get_key(key.id))["last_used_at"]
        assert written is not None and abs(written - time.time()) < 5
        await ring.store.touch_keys({key.id: written - 100})  # an older time from a slower process
        assert (await ring.store.get_key(key.id))["last_used_at"] == written
        await ring.store.close()

    run(scenario())


def test_rate_limits_per_model_class_fall_back_to_the_keys(tmp_path: Path):
    async def scenario(url: str) -> None:
        ring = await ring_on(url)
        key, _ = await ring.create(
            {
                "name": "classes",
                "rate_limits": {"requests_per_minute": 50, "input_tokens_per_minute": 30000},
                "model_rate_limits": {
                    "claude-opus-*": {"requests_per_minute": 5},
                    "claude-*": {"output_tokens_per_minute": 1},
                },
            }
        )
        settings = key.settings
        bucket, limits = settings.limits_for("claude-opus-4-1")
        assert bucket == "claude-opus-*"  # the first glob that matches
        assert (limits.requests_per_minute, limits.input_tokens_per_minute, limits.output_tokens_per_minute) == (
            5,
            30000,
            None,
        )
        assert settings.limits_for("claude-sonnet-4-5")[0] == "claude-*"
        assert settings.limits_for("gpt-4o") == (None, settings.rate_limits)
        assert settings.limited
        await ring.store.close()

    run(scenario(f"sqlite:///{tmp_path}/d.db"))


# --- which keys the edge accepts -------------------------------------------------------------


def test_without_keys_any_key_is_accepted_until_one_is_made(tmp_path: Path):
    with ServerThread(data_dir=str(tmp_path)) as server:
        assert post(server, "anything").status_code == 200
        assert post(server, None).json()["error"]["message"] == "x-api-key header is required"
        made = make_key(server)
        refused = post(server, "anything")
        assert refused.status_code == 401
        assert refused.json()["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
        bearer = httpx.post(
            f"{server.base_url}/v1/messages",
            json=MESSAGE,
            headers={**VERSION, "authorization": "Bearer anything"},
            timeout=30,
        )
        assert bearer.status_code == 401 and bearer.json()["error"]["message"] == "Invalid bearer token"
        assert post(server, made["secret"]).status_code == 200
        with anthropic.Anthropic(
            base_url=server.base_url, auth_token=made["secret"], api_key=None, max_retries=0
        ) as sdk:
            assert sdk.messages.create(**MESSAGE).content  # as a Bearer token too
        # Revoking every key does not open the server again.
        httpx.delete(f"{server.base_url}/_dateline/keys/{made['id']}", timeout=30)
        assert post(server, made["secret"]).status_code == 401
        assert post(server, "anything").status_code == 401


def test_api_key_flag_keys_and_stored_keys_both_work(tmp_path: Path):
    with ServerThread(data_dir=str(tmp_path), api_keys=["sk-flag"]) as server:
        assert post(server, "sk-flag").status_code == 200
        assert post(server, "sk-other").status_code == 401

        async def made_elsewhere() -> str:  # the first key, by another process (as the CLI makes one)
            ring = await ring_on(f"sqlite:///{tmp_path}/dateline.db")
            _, secret = await ring.create({"name": "cli"})
            await ring.store.close()
            return secret

        assert post(server, run(made_elsewhere())).status_code == 200  # at once, not at the next poll
        made = make_key(server)
        assert post(server, made["secret"]).status_code == 200
        assert post(server, "sk-flag").status_code == 200
        assert post(server, "sk-other").status_code == 401


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[tuple[ServerThread, ServerThread]]:
    """Two servers, each with its own process state, on one database."""
    with (
        ServerThread(database_url=database_url, data_dir=str(tmp_path / "a")) as one,
        ServerThread(database_url=database_url, data_dir=str(tmp_path / "b")) as other,
    ):
        yield one, other


def test_a_key_made_on_one_server_works_at_once_on_the_other(two_servers):
    one, other = two_servers
    first = make_key(one)
    time.sleep(0.6)  # the other server has read the first key: any key no longer goes
    assert post(other, "anything").status_code == 401
    second = make_key(one)
    assert post(other, second["secret"]).status_code == 200
    assert post(other, first["secret"]).status_code == 200


def test_a_revoked_key_fails_within_a_second_on_every_server(two_servers):
    one, other = two_servers
    made = make_key(one)
    time.sleep(0.6)  # both servers have read it
    assert post(one, made["secret"]).status_code == 200 and post(other, made["secret"]).status_code == 200
    revoked = time.monotonic()
    response = httpx.delete(f"{one.base_url}/_dateline/keys/{made['id']}", timeout=30)
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert post(one, made["secret"]).status_code == 401  # at once where it was revoked
    while post(other, made["secret"]).status_code != 401:
        assert time.monotonic() - revoked < 1.0, "still accepted a second after it was revoked"
        time.sleep(0.02)


def test_last_use_reaches_every_server(two_servers):
    one, other = two_servers
    made = make_key(one)
    assert post(one, made["secret"]).status_code == 200
    deadline = time.monotonic() + 5
    while httpx.get(f"{other.base_url}/_dateline/keys/{made['id']}").json()["last_used_at"] is None:
        assert time.monotonic() < deadline, "last use never written"
        time.sleep(0.1)


def test_known_keys_need_no_database_read(postgres_url: str, tmp_path: Path):
    """With the keys' tables locked by another session, known keys are still
    answered at once: they are found in memory. An unknown key waits a second
    at most for the keys to be read again."""
    with ServerThread(database_url=postgres_url, data_dir=str(tmp_path)) as server:
        live, revoked = make_key(server), make_key(server)
        httpx.delete(f"{server.base_url}/_dateline/keys/{revoked['id']}", timeout=30)
        time.sleep(0.6)

        async def locked() -> list[int]:
            conn = await asyncpg.connect(postgres_url)
            try:
                async with conn.transaction():
                    await conn.execute("LOCK TABLE api_keys, api_key_revision IN ACCESS EXCLUSIVE MODE")
                    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
                        sent = [
                            client.post("/v1/messages", json=MESSAGE, headers={**VERSION, "x-api-key": key["secret"]})
                            for key in [live] * 20 + [revoked] * 5 + [{"secret": "unknown"}] * 5
                        ]
                        started = time.monotonic()
                        statuses = [response.status_code for response in await asyncio.gather(*sent)]
                        assert time.monotonic() - started < 3
                        return statuses
            finally:
                await conn.close()

        assert run(locked()) == [200] * 20 + [401] * 10


# --- the models a key may use ------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator[tuple[ServerThread, str]]:
    with ServerThread(data_dir=str(tmp_path_factory.mktemp("limited"))) as server:
        made = make_key(server, allowed_models=["claude-sonnet-4-5*", "claude-haiku-*"])
        yield server, made["secret"]


def test_a_key_kept_to_some_models_is_refused_the_others(limited):
    server, secret = limited
    assert post(server, secret).status_code == 200
    with anthropic.Anthropic(base_url=server.base_url, api_key=secret, max_retries=0) as sdk:
        assert sdk.messages.create(**{**MESSAGE, "model": "claude-haiku-4-5"}).content
        with pytest.raises(anthropic.PermissionDeniedError) as refused:
            sdk.messages.create(**{**MESSAGE, "model": "claude-opus-4-1"})
        assert refused.value.status_code == 403
        assert refused.value.body["error"] == {
            "type": "permission_error",
            "message": "Your API key does not have permission to use the specified resource.",
        }
        with pytest.raises(anthropic.PermissionDeniedError):
            sdk.messages.count_tokens(model="claude-opus-4-1", messages=MESSAGE["messages"])
        with pytest.raises(anthropic.PermissionDeniedError):
            sdk.messages.batches.create(
                requests=[
                    {"custom_id": "ok", "params": MESSAGE},
                    {"custom_id": "no", "params": {**MESSAGE, "model": "claude-opus-4-1"}},
                ]
            )


def test_a_key_kept_to_some_models_lists_only_those(limited):
    server, secret = limited
    with anthropic.Anthropic(base_url=server.base_url, api_key=secret, max_retries=0) as sdk:
        listed = [model.id for model in sdk.models.list(limit=1000)]
        assert any(model.startswith("claude-haiku-") for model in listed)
        assert all(fnmatchcase(model, "claude-sonnet-4-5*") or model.startswith("claude-haiku-") for model in listed)
        assert sdk.models.retrieve("claude-sonnet-4-5").id.startswith("claude-sonnet-4-5")
        with pytest.raises(anthropic.NotFoundError):
            sdk.models.retrieve("claude-opus-4-1")
    with anthropic.Anthropic(base_url=server.base_url, api_key=make_key(server)["secret"], max_retries=0) as sdk:
        assert any(model.id.startswith("claude-opus-") for model in sdk.models.list(limit=1000))


def test_an_alias_is_allowed_by_the_id_it_stands_for(limited):
    server, secret = limited
    # claude-sonnet-4-5 is allowed by its own glob; its dated id matches the same glob.
    assert post(server, secret, {**MESSAGE, "model": "claude-sonnet-4-5-20250929"}).status_code == 200


def test_a_body_that_is_not_json_is_refused_for_what_it_is(limited):
    server, secret = limited
    response = httpx.post(
        f"{server.base_url}/v1/messages",
        content=b"{not json",
        headers={**VERSION, "x-api-key": secret, "content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_the_secret_is_in_no_log(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level("DEBUG")
    with ServerThread(data_dir=str(tmp_path)) as server:
        made = make_key(server)
        secret = made["secret"]
        assert post(server, secret).status_code == 200
        assert post(server, secret, {"model": 1}).status_code == 400
        entries = httpx.get(f"{server.base_url}/_dateline/requests", timeout=30).text
        listed = httpx.get(f"{server.base_url}/_dateline/keys", timeout=30).text
        shown = httpx.get(f"{server.base_url}/_dateline/keys/{made['id']}", timeout=30).text
    assert made["partial_key_hint"] in listed and made["partial_key_hint"] in shown
    for text in (entries, listed, shown, caplog.text):
        assert secret not in text and secret[16:-4] not in text


def test_a_key_of_dateline_s_own_never_goes_upstream(tmp_path: Path):
    cassette = tmp_path / "exchanges.jsonl"
    with ServerThread() as upstream:
        with ServerThread(data_dir=str(tmp_path / "a"), anthropic_upstream=upstream.base_url, record=cassette) as front:
            first = make_key(front)["secret"]
            refused = post(front, first)
            # The upstream was sent no credential, and says so.
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["message"] == "x-api-key header is required"
        with ServerThread(
            data_dir=str(tmp_path / "b"),
            anthropic_upstream=upstream.base_url,
            anthropic_api_key="sk-ant-upstream-0123456789",
        ) as front:
            second = make_key(front)["secret"]
            assert post(front, second).status_code == 200
            assert upstream.requests("/v1/messages")[-1]["api_key"].endswith("6789")  # the upstream's own key
    recorded = cassette.read_text()
    assert first not in recorded and first[16:-4] not in recorded
