"""The docs work where our users are: headless Chromium, no internet.

Start the real server, open `/docs` (Swagger UI) and `/redoc` in Debian's Chromium driven over
the DevTools protocol, wait for the operations to render, check that they are listed and that
the page made no request outside localhost. The screenshot in docs/ for the README comes from
here (written when missing, or refreshed with S4C_UPDATE_SCREENSHOT=1).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync import client as websockets_sync

from app.cli import ROOT
from tests.live_server import LiveServer, live_server

SCREENSHOT = ROOT / "docs" / "docs-screenshot.png"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1280,1000",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_binary() -> str:
    """Debian's chromium, installed with apt-get when missing (this machine kind's registries
    include Debian's). Where it cannot be installed the test fails: a skip would prove nothing."""
    found = shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail("Chromium is not installed and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"])
    for step in steps:
        result = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            pytest.fail(f"Chromium could not be installed (`{' '.join(step)}`): {result.stderr[-500:]}")
    if not os.path.exists("/usr/bin/chromium"):
        pytest.fail("apt-get installed no /usr/bin/chromium")
    return "/usr/bin/chromium"


class DevTools:
    """A minimal Chrome DevTools protocol session over the page target's websocket."""

    def __init__(self, ws_url: str) -> None:
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(websockets_sync.connect(ws_url, max_size=None, open_timeout=10))
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for `{expression}`")

    def requested_urls(self) -> list[str]:
        """URLs the page asked for, less those the browser itself blocked (they never left it)."""
        blocked = {
            e["params"]["requestId"]
            for e in self.events
            if e["method"] == "Network.loadingFailed" and e["params"].get("blockedReason")
        }
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent" and e["params"]["requestId"] not in blocked
        ]

    def blocked_urls(self) -> list[str]:
        blocked = {
            e["params"]["requestId"]: e["params"]["blockedReason"]
            for e in self.events
            if e["method"] == "Network.loadingFailed" and e["params"].get("blockedReason")
        }
        return [
            f"{e['params']['request']['url']} ({blocked[e['params']['requestId']]})"
            for e in self.events
            if e["method"] == "Network.requestWillBeSent" and e["params"]["requestId"] in blocked
        ]

    def close(self) -> None:
        self.stack.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server("docs", tmp_path_factory.mktemp("docs-server")) as s:
        yield s


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    binary = chromium_binary()
    profile = tmp_path / "profile"
    profile.mkdir()
    proc = subprocess.Popen(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "chromium.log").open("wb"),
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (tmp_path / "chromium.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"Chromium did not start its DevTools endpoint:\n{log}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        page = next(t for t in targets if t["type"] == "page")
        devtools = DevTools(page["webSocketDebuggerUrl"])
        devtools.call("Network.enable")
        devtools.call("Page.enable")
        devtools.call("Emulation.setDeviceMetricsOverride", width=1280, height=1000, deviceScaleFactor=1, mobile=False)
        yield devtools
        devtools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def outside_requests(urls: list[str]) -> list[str]:
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in {"data", "blob", "about", "chrome", "devtools"}
        and urlsplit(url).hostname not in LOCAL_HOSTS
    ]


def test_swagger_ui_renders_offline(server: LiveServer, browser: DevTools, tmp_path: Path) -> None:
    browser.call("Page.navigate", url=server.base_url + "/docs")
    count = browser.wait_for("document.querySelectorAll('.opblock').length")
    assert count >= 50, f"only {count} operations rendered"
    text = browser.evaluate("document.body.innerText")
    for expected in ("SCORE4Climate Programme API", "enterprises-create", "Enrol an enterprise on the programme"):
        assert expected in text, f"{expected!r} not on the docs page"
    # The tag introductions are shown with their groups.
    assert "The SMEs on the programme" in text
    urls = browser.requested_urls()
    assert any(url.endswith("/openapi.json") for url in urls), urls
    assert any("/docs-assets/swagger-ui-bundle.js" in url for url in urls), urls
    assert not outside_requests(urls), f"requests outside localhost: {outside_requests(urls)}"
    assert not browser.blocked_urls(), browser.blocked_urls()

    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    assert shot.startswith(b"\x89PNG") and len(shot) < 1_000_000
    (tmp_path / "docs-screenshot.png").write_bytes(shot)
    if not SCREENSHOT.exists() or os.environ.get("S4C_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot)


def test_redoc_renders_offline(server: LiveServer, browser: DevTools) -> None:
    browser.call("Page.navigate", url=server.base_url + "/redoc")
    browser.wait_for("document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 50")
    text = browser.evaluate("document.body.innerText")
    assert "Enrol an enterprise on the programme" in text
    urls = browser.requested_urls()
    assert any("/docs-assets/redoc.standalone.js" in url for url in urls), urls
    assert not outside_requests(urls), f"requests outside localhost: {outside_requests(urls)}"
    # The bundle's CDN logo is stopped by the page's Content-Security-Policy, in the browser;
    # nothing else may be blocked (the search worker and styles must load).
    blocked = browser.blocked_urls()
    assert all(url.startswith("https://cdn.redoc.ly/") for url in blocked), blocked
