"""The inspector in a real browser (Debian's headless Chromium through Selenium, one for the
session): signing in with the admin token, every page, a request followed from the list to its
detail and version diff, a request appearing in the list live, rules loaded, refused and cleared.
Then over plain HTTP: the guard, the live stream, and what a page shows of bad input."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread

TOKEN = "inspector-admin-token-0123456789"
MODEL = "claude-sonnet-4-5"
MESSAGE: dict[str, Any] = {"model": MODEL, "max_tokens": 30, "messages": [{"role": "user", "content": "Hello there"}]}
COMPLETE: dict[str, Any] = {"model": "claude-2.1", "max_tokens_to_sample": 20, "prompt": "\n\nHuman: Hi\n\nAssistant:"}
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT = 10


@pytest.fixture(scope="module")
def inspected() -> Iterator[ServerThread]:
    with ServerThread(admin_token=TOKEN) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for every test here; never a driver downloaded (Selenium Manager offline)."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert shutil.which(CHROMEDRIVER) and shutil.which(CHROMIUM), "apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: Any, inspected: ServerThread) -> Any:
    """The browser, signed in to ``inspected`` (the token given once, kept in a cookie), on an empty log."""
    browser.get(f"{inspected.base_url}/_dateline/?token={TOKEN}")
    inspected.state.log.clear()
    inspected.state.scripter.reset()
    return browser


@pytest.fixture
def sdk(inspected: ServerThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=inspected.base_url, api_key="sk-ant-inspected-key-0042", max_retries=0) as client:
        yield client


def until(browser: Any, condition: Any) -> Any:
    """``condition``'s first true value; a page still being replaced is looked at again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(lambda driver: condition(driver))


def find(browser: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css)


def finds(browser: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, css)


def test_the_token_is_asked_for_once_then_every_page_opens(browser: Any, inspected: ServerThread):
    browser.delete_all_cookies()
    browser.get(f"{inspected.base_url}/_dateline/")
    until(browser, lambda b: "guarded" in find(b, "h1").text)
    find(browser, "input[name=token]").send_keys("not-the-token")
    find(browser, "form button").click()
    until(browser, lambda b: "not the admin token" in b.page_source)
    find(browser, "input[name=token]").send_keys(TOKEN)
    find(browser, "form button").click()
    until(browser, lambda b: find(b, "h1").text.startswith("Requests"))
    assert "token=" not in browser.current_url  # the address is cleaned of it
    pages = {"Rules": "Rules", "Batches": "Message Batches", "Files": "Files", "Keys & usage": "API keys"}
    pages["Versions"] = "API version history"
    for link, heading in pages.items():
        find(browser, f"nav a[href*='{link.split()[0].lower()}']").click()
        until(browser, lambda b: find(b, "h1").text == heading)
        assert find(browser, "nav a[aria-current=page]").text == link
    # The version history, from the declared changes.
    assert "CompletionStreamIsIncremental" in find(browser, "section[id='v2023-06-01']").text
    assert "head" in find(browser, "section[id='v2026-10-21'] h2").text


def test_a_request_appears_live_and_opens_to_its_detail(page: Any, inspected: ServerThread, sdk: anthropic.Anthropic):
    until(page, lambda b: find(b, "#live-state").text == "live")
    page.execute_script("window.notReloaded = true")
    answer = sdk.messages.with_raw_response.create(**MESSAGE)
    rid = answer.headers["request-id"]
    row = until(page, lambda b: finds(b, f"#row-{rid}"))[0]
    assert page.execute_script("return window.notReloaded") is True  # arrived without a reload
    cells = [cell.text for cell in row.find_elements("css selector", "td")]
    assert cells[1] == "POST /v1/messages" and cells[2] == "2026-10-21" and cells[3] == MODEL
    usage = answer.parse().usage
    assert cells[4] == "200" and cells[6] == f"{usage.input_tokens} / {usage.output_tokens}" and cells[8] == "model"
    row.find_element("css selector", "a").click()
    until(page, lambda b: rid in find(b, "h1").text)
    assert "2026-10-21 is head" in page.page_source
    assert find(page, "#answer").text.startswith("{") and answer.parse().id in find(page, "#answer").text
    assert "Bearer [redacted]…0042" in page.page_source and "sk-ant-inspected-key-0042" not in page.page_source


def test_a_streams_row_shows_it_streaming_then_its_latency(page: Any, inspected: ServerThread):
    until(page, lambda b: find(b, "#live-state").text == "live")
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "dateline-fault": "token_delay=0.05"}
    with httpx.Client(base_url=inspected.base_url, timeout=30) as http:
        with http.stream("POST", "/v1/messages", json={**MESSAGE, "stream": True}, headers=headers) as slow:
            rid = slow.headers["request-id"]
            row = until(page, lambda b: finds(b, f"#row-{rid}"))[0]
            assert "streaming" in row.text
            slow.read()
    latency = until(page, lambda b: [r for r in finds(b, f"#row-{rid}") if "streaming" not in r.text])[0]
    cells = latency.find_elements("css selector", "td")
    assert cells[5].text.endswith(" s") or float(cells[5].text.split()[0]) >= 100  # 30 deltas, 50 ms apart
    assert len(finds(page, f"#row-{rid}")) == 1  # replaced, not added again


def test_an_old_clients_stream_shows_the_changes_it_went_through(page: Any, inspected: ServerThread):
    headers = {"x-api-key": "k", "anthropic-version": "2023-01-01"}
    sent = httpx.post(f"{inspected.base_url}/v1/complete", json={**COMPLETE, "stream": True}, headers=headers)
    assert sent.status_code == 200
    page.get(f"{inspected.base_url}/_dateline/ui/requests/{sent.headers['request-id']}")
    changes = [item.text.split()[0] for item in finds(page, "#changes li")]
    assert changes == [
        "CompletionLegacyFieldsRemoved",
        "CompletionStreamIsIncremental",
        "CompletionStreamEventsAreNamed",
        "CompletionStreamHasNoDoneEvent",
    ]
    assert "because of 4 changes" in find(page, "#because").text
    diff = find(page, "#answer-diff")
    removed = [line.text for line in diff.find_elements("css selector", ".del")]
    added = [line.text for line in diff.find_elements("css selector", ".add")]
    assert "-event: completion" in removed and "+data: [DONE]" in added
    # Cumulative as received, incremental at head: the second event's text holds the first's.
    texts = [line.split('"completion":"')[1].split('"')[0] for line in added if '"completion":"' in line]
    assert len(texts) >= 2 and texts[1].startswith(texts[0])
    frames = finds(page, "#events tbody tr")
    assert len(frames) == len(sent.text.strip().split("\n\n"))
    assert frames[-1].text.endswith("data: [DONE]")


def test_rules_are_loaded_counted_refused_and_cleared(page: Any, inspected: ServerThread, sdk: anthropic.Anthropic):
    page.get(f"{inspected.base_url}/_dateline/ui/rules")
    assert find(page, "#no-rules")
    text = find(page, "#rules-text")
    text.send_keys("- name: greet\n  match: {last_user: Hello}\n  reply: {text: Hi from a rule.}\n")
    find(page, "#load-rules").click()
    until(page, lambda b: finds(b, "#rules tbody tr"))
    assert sdk.messages.create(**MESSAGE).content[0].text == "Hi from a rule."
    page.refresh()
    assert find(page, "#rules td.hits").text == "1"
    # A file the rules refuse: the error beside the text as given, the rules unchanged.
    text = find(page, "#rules-text")
    text.clear()
    text.send_keys("- match: {nonsense: 1}\n")
    find(page, "#load-rules").click()
    until(page, lambda b: finds(b, "#rules-error"))
    assert "nonsense" in find(page, "#rules-text").get_attribute("value")
    assert len(inspected.state.scripter.script.rules) == 1
    find(page, "#clear-rules").click()
    page.switch_to.alert.accept()
    until(page, lambda b: finds(b, "#no-rules"))
    assert not inspected.state.scripter.active


def test_batches_files_and_keys_show_what_the_api_made(browser: Any):
    # A server of its own: once a key exists, only keys made are accepted.
    with ServerThread(admin_token=TOKEN) as server:
        browser.get(f"{server.base_url}/_dateline/ui/keys?token={TOKEN}")
        until(browser, lambda b: finds(b, "#no-keys"))
        with anthropic.Anthropic(base_url=server.base_url, api_key="sk-ant-any", max_retries=0) as sdk:
            batch = sdk.messages.batches.create(requests=[{"custom_id": "a", "params": MESSAGE}])
            uploaded = sdk.beta.files.upload(file=("notes.txt", b"tide pools", "text/plain"))
        admin = {"x-dateline-admin-token": TOKEN}
        key = httpx.post(f"{server.base_url}/_dateline/keys", json={"name": "inspector-key"}, headers=admin)
        assert key.status_code == 200, key.text
        browser.get(f"{server.base_url}/_dateline/ui/batches")
        until(browser, lambda b: batch.id in find(b, "#batches").text and "1 / 1" in find(b, "#batches").text)
        browser.get(f"{server.base_url}/_dateline/ui/files")
        until(browser, lambda b: uploaded.id in find(b, "#files").text and "notes.txt" in find(b, "#files").text)
        browser.get(f"{server.base_url}/_dateline/ui/keys")
        until(browser, lambda b: "inspector-key" in find(b, "#keys").text)
        assert key.json()["id"] in find(browser, "#keys").text and key.json()["secret"] not in browser.page_source


# -- over plain HTTP ---------------------------------------------------------------------------


def test_every_page_is_guarded_like_the_admin_api(inspected: ServerThread):
    base = inspected.base_url
    for path in ("/_dateline/", "/_dateline/ui/rules", "/_dateline/ui/versions", "/_dateline/ui/live"):
        assert httpx.get(base + path).status_code == 401
        assert httpx.get(base + path, cookies={"dateline-admin-token": "wrong"}).status_code == 401
    assert httpx.get(f"{base}/_dateline/ui/versions", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert httpx.get(f"{base}/_dateline/ui/versions", cookies={"dateline-admin-token": TOKEN}).status_code == 200
    assert httpx.get(f"{base}/_dateline/?token=nope").status_code == 401
    signed = httpx.get(f"{base}/_dateline/ui/rules?token={TOKEN}&x=1")
    assert signed.status_code == 303 and signed.headers["location"] == "/_dateline/ui/rules?x=1"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/_dateline/" in cookie
    assert httpx.post(f"{base}/_dateline/ui/rules/clear").status_code == 401
    # Static files are the same for everyone (the sign-in page uses them).
    assert httpx.get(f"{base}/_dateline/ui/static/htmx.min.js").text.startswith("/* htmx 2.0.11")


def test_a_form_from_another_site_changes_nothing(inspected: ServerThread):
    cookies = {"dateline-admin-token": TOKEN}
    inspected.state.scripter.load(_rules("- reply: {text: kept}"))
    evil = httpx.post(
        f"{inspected.base_url}/_dateline/ui/rules/clear",
        cookies=cookies,
        headers={"origin": "https://elsewhere.example"},
    )
    assert evil.status_code == 403 and inspected.state.scripter.active
    own = httpx.post(
        f"{inspected.base_url}/_dateline/ui/rules/clear", cookies=cookies, headers={"origin": inspected.base_url}
    )
    assert own.status_code == 303 and not inspected.state.scripter.active


def test_the_live_stream_sends_rows_after_the_count_given(inspected: ServerThread):
    cookies = {"dateline-admin-token": TOKEN}
    log = inspected.state.log
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=inspected.base_url, cookies=cookies, timeout=10) as http:
        httpx.post(f"{inspected.base_url}/v1/messages", json=MESSAGE, headers=headers)
        seen = log.added
        with http.stream("GET", f"/_dateline/ui/live?after={seen}") as live:
            assert live.headers["content-type"].startswith("text/event-stream")
            sent = httpx.post(f"{inspected.base_url}/v1/messages", json=MESSAGE, headers=headers)
            lines = live.iter_lines()
            event = []
            for line in lines:
                if line.startswith(("event:", "id:", "data:")):
                    event.append(line)
                elif event:
                    break
        assert event[0] == "event: rows" and event[1] == f"id: {seen + 1}"
        assert sent.headers["request-id"] in "\n".join(event)
        assert http.get("/_dateline/ui/live?after=many").status_code == 400


def test_an_unknown_request_is_a_404_page(inspected: ServerThread):
    response = httpx.get(
        f"{inspected.base_url}/_dateline/ui/requests/req_nothing", cookies={"dateline-admin-token": TOKEN}
    )
    assert response.status_code == 404 and "No request req_nothing" in response.text
    assert (
        httpx.delete(f"{inspected.base_url}/_dateline/ui/rules", headers={"x-dateline-admin-token": TOKEN}).status_code
        == 405
    )


def _rules(text: str) -> Any:
    from dateline.script import loads

    return loads(text)


def test_what_a_client_sent_is_shown_as_text_never_as_markup(inspected: ServerThread):
    cookies = {"dateline-admin-token": TOKEN}
    script = "<script>alert('sent')</script>"
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "x-custom": script}
    body = {**MESSAGE, "messages": [{"role": "user", "content": script}]}
    sent = httpx.post(f"{inspected.base_url}/v1/messages", json=body, headers=headers)
    rid = sent.headers["request-id"]
    listed = httpx.get(f"{inspected.base_url}/_dateline/", cookies=cookies).text
    assert rid in listed and script not in listed
    shown = httpx.get(f"{inspected.base_url}/_dateline/ui/requests/{rid}", cookies=cookies).text
    assert script not in shown and shown.count("&lt;script&gt;alert(") == 3  # the header, the body, head's body


def test_an_older_clients_request_shows_what_head_has_no_place_for(inspected: ServerThread):
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    sent = httpx.post(f"{inspected.base_url}/v1/messages", json={**MESSAGE, "temperature": 0.3}, headers=headers)
    assert sent.status_code == 200
    shown = httpx.get(
        f"{inspected.base_url}/_dateline/ui/requests/{sent.headers['request-id']}",
        cookies={"dateline-admin-token": TOKEN},
    ).text
    assert "Your 2023-06-01 client's request differs from head's because of 1 change:" in shown
    assert "SamplingParametersRemoved" in shown and "(2026-10-21; changed its request)" in shown
    assert '<div class="del">-  &#34;temperature&#34;: 0.3' in shown  # gone from head's request...
    assert "Travelled beside the head request" in shown and '<code>{"temperature": 0.3}</code>' in shown  # ...not lost


def test_with_redis_a_request_to_one_replica_shows_live_on_the_others_page(redis_url: str):
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    with ServerThread(redis_url=redis_url) as one, ServerThread(redis_url=redis_url) as other:
        with httpx.Client(base_url=other.base_url, timeout=10) as http:
            with http.stream("GET", "/_dateline/ui/live?after=0") as live:
                streamed = httpx.post(f"{one.base_url}/v1/messages", json={**MESSAGE, "stream": True}, headers=headers)
                rid = streamed.headers["request-id"]
                data = []
                for line in live.iter_lines():
                    if line.startswith("data: "):
                        data.append(line)
                    elif data:
                        break
        assert f'id="row-{rid}"' in "\n".join(data)
        detail = httpx.get(f"{other.base_url}/_dateline/ui/requests/{rid}")
        assert detail.status_code == 200 and "message_stop" in detail.text  # the whole stream, written once it ended
