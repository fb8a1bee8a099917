#!/usr/bin/env python
"""Two screenshots of the inspector, for the README: the list of requests, and one request's version diff.

Starts a Dateline in this process, sends it a few requests (today's SDK, an older client, a rule's
reply, a refusal, a 2023-01-01 client streaming a Text Completion), and photographs the pages with
Debian's headless Chromium through Selenium (``apt-get install chromium chromium-driver``; no driver
is downloaded).

Usage: python scripts/inspector_screenshots.py [OUT_DIR]   (default: the current directory)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anthropic
import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dateline.testing import DatelineServer

MODEL = "claude-sonnet-4-5"
HI = [{"role": "user", "content": "Hello there"}]


def traffic(base_url: str) -> str:
    """A few requests of different kinds; the id of the old client's streamed completion."""
    with anthropic.Anthropic(base_url=base_url, api_key="sk-ant-api03-screenshot-key-4242", max_retries=0) as sdk:
        sdk.messages.create(model=MODEL, max_tokens=60, messages=HI)
        with sdk.messages.stream(model="claude-haiku-4-5", max_tokens=40, messages=HI) as stream:
            stream.until_done()
        sdk.messages.count_tokens(model=MODEL, messages=HI)
        httpx.put(
            f"{base_url}/_dateline/rules",
            json=[{"name": "weather", "match": {"last_user": "weather"}, "reply": {"text": "Sunny."}}],
        )
        sdk.messages.create(model=MODEL, max_tokens=60, messages=[{"role": "user", "content": "What's the weather?"}])
    old = {"x-api-key": "sk-ant-legacy-client-key-9999", "anthropic-version": "2023-01-01"}
    httpx.post(f"{base_url}/v1/messages", headers=old, json={"model": MODEL, "max_tokens": "many", "messages": HI})
    prompt = {
        "model": "claude-2.1",
        "max_tokens_to_sample": 12,
        "prompt": "\n\nHuman: Tell me about tide pools\n\nAssistant:",
    }
    sent = httpx.post(f"{base_url}/v1/complete", headers=old, json={**prompt, "stream": True})
    return sent.headers["request-id"]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1000"):
        options.add_argument(flag)
    with DatelineServer(token_delay=0.01) as server:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(f"{server.base_url}/_dateline/")
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "live-state").text == "live")
            rid = traffic(server.base_url)  # arrives while the page is open: the rows come in live
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, f"row-{rid}"))
            time.sleep(0.3)
            driver.save_screenshot(str(out / "inspector-requests.png"))
            driver.get(f"{server.base_url}/_dateline/ui/requests/{rid}")
            driver.set_window_size(1500, 1400)
            driver.save_screenshot(str(out / "inspector-version-diff.png"))
        finally:
            driver.quit()
    print(f"wrote {out / 'inspector-requests.png'} and {out / 'inspector-version-diff.png'}")


if __name__ == "__main__":
    main()
