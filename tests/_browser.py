"""Open a page in headless Chromium over the DevTools protocol: console errors, images, requests,
screenshot. Used by the report's browser test and by scripts/report_screenshot.py."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    env = os.environ.get("PHASEFIT_CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass(frozen=True)
class PageCheck:
    errors: list[str]  # console errors, uncaught exceptions, failed loads
    images: list[dict]  # {"src", "complete", "width"}
    requests: list[str]  # every URL the page asked for
    title: str
    screenshot: Path | None


def check_page(html: Path, *, screenshot: Path | None = None, width: int = 1280, height: int = 900) -> PageCheck:
    """Load `html` (a file) in headless Chromium and report what a reader would see go wrong."""
    import websocket  # websocket-client

    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found (make test installs it; or set PHASEFIT_CHROMIUM)")
    profile = Path(tempfile.mkdtemp(prefix="phasefit-chromium-"))
    proc = subprocess.Popen(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-allow-origins=*",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        counter = iter(range(1, 1_000_000))
        events: list[dict] = []

        def call(method: str, **params) -> dict:
            i = next(counter)
            ws.send(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == i:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg.get("result", {})
                events.append(msg)

        for domain in ("Page", "Runtime", "Log", "Network"):
            call(f"{domain}.enable")
        call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        call("Page.navigate", url=html.resolve().as_uri())
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{html}: the page did not finish loading in 60 s")
            events.append(json.loads(ws.recv()))
        result = call(
            "Runtime.evaluate",
            expression="JSON.stringify({title: document.title, images: Array.from(document.images).map("
            "i => ({src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth}))})",
            returnByValue=True,
        )
        page_state = json.loads(result["result"]["value"])
        shot = None
        if screenshot is not None:
            data = call("Page.captureScreenshot", format="png")["data"]
            screenshot.write_bytes(base64.b64decode(data))
            shot = screenshot
        ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
    errors, requests = [], []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            errors.append(f"exception: {p['exceptionDetails'].get('text')}")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif m == "Network.loadingFailed":
            errors.append(f"failed to load: {p.get('errorText')}")
        elif m == "Network.requestWillBeSent":
            requests.append(p["request"]["url"])
    return PageCheck(
        errors=errors, images=page_state["images"], requests=requests, title=page_state["title"], screenshot=shot
    )
