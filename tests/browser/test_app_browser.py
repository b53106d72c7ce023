"""The planner's page in a real browser: Debian's Chromium driven by Playwright
against ``streamlit run app.py``; the screenshot goes to test-artifacts/app.png."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"streamlit did not start on {url}:\n{out}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_form_submits_and_shows_the_estimate_and_simulation(app_url: str) -> None:
    chromium = require_tool("chromium")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.goto(app_url, wait_until="domcontentloaded")
            metric = page.get_by_test_id("stMetric")
            expect(metric.filter(has_text="Offered load")).to_contain_text("420.0",
                                                                           timeout=30_000)
            # the small branch: 360 busy-hour calls offer 18 erlangs, 300 offer 15
            page.get_by_role("combobox", name="Start from a preset").click()
            page.get_by_role("option", name="Small branch").click()
            expect(metric.filter(has_text="Offered load")).to_contain_text("18.0",
                                                                           timeout=20_000)
            page.get_by_role("spinbutton", name="Call rate", exact=True).fill("300")
            page.get_by_role("button", name="Update estimate").click()
            expect(metric.filter(has_text="Offered load")).to_contain_text("15.0",
                                                                           timeout=20_000)
            expect(metric.filter(has_text="SIP Server (B2BUA)")).to_contain_text("server")
            page.get_by_role("button", name="Run simulation").click()
            expect(metric.filter(has_text="Calls offered")).to_be_visible(timeout=40_000)
            expect(metric.filter(has_text="SRD p95 (ms)")).to_be_visible()
            # CPU over time, bandwidth per link, concurrent calls, SRD distribution
            expect(page.get_by_test_id("stImage")).to_have_count(4, timeout=20_000)
            # a rerun may still show the previous run's button beside the new one: wait for one
            report = page.get_by_role("button", name="Report (HTML)")
            expect(report).to_have_count(1, timeout=20_000)
            expect(report).to_be_visible()
            page.wait_for_timeout(500)  # let the last elements of the run settle
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
        finally:
            browser.close()
