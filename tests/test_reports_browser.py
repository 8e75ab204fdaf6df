"""The report in a real headless browser: loads with no console errors and no network requests.

Debian's ``chromium`` is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
commands on fd 3, replies on fd 4, NUL-separated JSON), so every request the page makes and every
console message it logs is observed, not guessed from stderr. Skipped when chromium is absent.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from test_reports_fixtures import campaign

from reports import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"
    ),
]


def _above_4(fd: int) -> int:
    """A close-on-exec copy of ``fd`` numbered 10 or more; the original is closed."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class DevTools:
    """A minimal DevTools-protocol client over chromium's debugging pipe."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._out = os.pipe()
        self._in, from_chrome_w = os.pipe()
        # Move chromium's ends above fd 4 first: dup2(3, 3) would keep close-on-exec set.
        to_chrome_r, from_chrome_w = (_above_4(fd) for fd in (to_chrome_r, from_chrome_w))

        def wire() -> None:
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        assert CHROMIUM is not None
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise ConnectionError("chromium closed the debugging pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        """Send one command and return its result; events read meanwhile are kept in ``events``."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 20.0) -> None:
        """Read events until one named ``method`` arrives."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read_message(deadline))

    def close(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError, OSError):
            self.call("Browser.close", timeout=5.0)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)


def load(page: Path, screenshot: Path) -> tuple[list[str], list[str]]:
    """Open ``page`` at 1280 px wide, screenshot it; return (requested URLs, console errors)."""
    with tempfile.TemporaryDirectory(prefix="routetrial-chromium-") as profile:
        dt = DevTools(Path(profile))
        try:
            target = dt.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime", "Log"):
                dt.call(f"{domain}.enable", session=session)
            dt.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 2000, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            dt.call("Page.navigate", {"url": page.as_uri()}, session=session)
            dt.wait_for("Page.loadEventFired")
            shot = dt.call("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        finally:
            dt.close()
    urls = [
        e["params"]["request"]["url"] for e in dt.events if e.get("method") == "Network.requestWillBeSent"
    ]
    errors = [
        json.dumps(e["params"])[:300]
        for e in dt.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "warning"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") in ("error", "warning"))
    ]
    return urls, errors


def test_report_loads_with_no_network_requests_and_no_console_errors(tmp_path: Path) -> None:
    """The only request is the report file itself, nothing is logged as an error, a screenshot is taken."""
    camp = campaign(tmp_path / "plan", hostile=True)
    page = tmp_path / "report.html"
    page.write_text(
        render_report(camp.results, camp.plan, camp.registration, corpus=camp.frozen.corpus), encoding="utf-8"
    )
    shot = tmp_path / "report.png"
    urls, errors = load(page, shot)
    assert urls == [page.as_uri()]
    assert errors == []
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert 100_000 < len(png) < 5_000_000  # a blank page compresses to a few kB


def test_checker_sees_a_request_and_a_console_error(tmp_path: Path) -> None:
    """The browser check itself catches a page that fetches an image and logs an error."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script>',
        encoding="utf-8",
    )
    urls, errors = load(page, tmp_path / "bad.png")
    assert "http://127.0.0.1:9/x.png" in urls
    assert any("boom" in e for e in errors)


def test_command_line_screenshot_of_the_report(tmp_path: Path) -> None:
    """chromium --screenshot at 1280x2000 writes a PNG of plausible size for the report."""
    camp = campaign(tmp_path / "plan")
    page = tmp_path / "report.html"
    page.write_text(render_report(camp.results, camp.plan, camp.registration), encoding="utf-8")
    shot = tmp_path / "shot.png"
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="routetrial-chromium-") as profile:
        subprocess.run(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                "--window-size=1280,2000",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 100_000
