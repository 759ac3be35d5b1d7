"""A live server and Debian's chromium for real-browser tests."""
from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tests.conftest import make_app

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def live_server(tmp_path):
    app = make_app(tmp_path)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    runner = app.extensions.get("jobs")
    if hasattr(runner, "shutdown"):  # job threads finish before the database goes away (the next test drops it on PostgreSQL)
        runner.shutdown()
    with app.app_context():
        from rubric_app.extensions import db

        db.engine.dispose()


@pytest.fixture
def browser_factory():
    if not os.path.exists(CHROMIUM):
        pytest.skip("real-browser test: no chromium found; install Debian's chromium (apt-get install chromium) "
                    "or set CHROMIUM_PATH to run it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra) to run it")
    with sync_api.sync_playwright() as pw:
        browsers = []

        def launch():
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
            browsers.append(browser)
            return browser

        yield launch
        for browser in browsers:
            if browser.is_connected():
                browser.close()


@pytest.fixture(scope="module")
def journey_browser():
    """One chromium for a whole module of journeys (each test opens contexts of its own), with
    axe-core at hand. Module-scoped so that it is closed before another module starts Playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("real-browser test: no chromium found; install Debian's chromium (apt-get install chromium) "
                    "or set CHROMIUM_PATH to run it")
    from tests.e2e.axe import INSTALL_HINT, axe_source_path

    if axe_source_path() is None:
        pytest.skip(f"accessibility journeys: {INSTALL_HINT}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra) to run it")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        yield browser
        if browser.is_connected():
            browser.close()
