"""The console in a real browser: Debian's Chromium driven by Playwright, against the session's
real API server, workers and test model (tests/conftest.py)."""
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from playwright.sync_api import expect

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
# Wide enough for every page's layout, the width the console is made for.
VIEWPORT = {"width": 1280, "height": 900}
# How long the browser waits for an element or a navigation before a test fails.
WAIT_MS = 30_000
# The same bound for `expect`'s waits: on a busy machine a page's answer can take longer than
# its 5 s default.
expect.set_options(timeout=WAIT_MS)


# Per module, not per session: Playwright's sync API keeps an asyncio loop running while it is
# started, and a test of another module that runs on the same xdist worker meanwhile could not
# call asyncio.run (pytest ends a module's fixtures before the next module's test).
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield launched
        launched.close()


@pytest.fixture
def project_key(database_url: str) -> str:
    from shared.projects.api_keys import create_key

    return create_key(f"console-{uuid.uuid4().hex}")


@pytest.fixture
def client(api_base: str, project_key: str) -> openai.OpenAI:
    """The SDK on the console's project: to set up what a page shows and check what it did."""
    return openai.OpenAI(base_url=f"{api_base}/v1", api_key=project_key, max_retries=0)


@pytest.fixture
def page(browser: Any, api_base: str) -> Iterator[Any]:
    """A fresh browser tab (its own session storage) on the session's server, not signed in."""
    context = browser.new_context(viewport=VIEWPORT, base_url=api_base)
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []

    def refused(message: Any) -> None:
        # The page's Content-Security-Policy refuses an outside load before it becomes a
        # request; only the browser's console tells.
        if message.type == "error" and "Content Security Policy" in message.text:
            errors.append(message.text)

    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", refused)
    tab.page_errors = errors  # uncaught errors and refused loads, checked by the tests
    yield tab
    context.close()


def sign_in(page: Any, key: str) -> None:
    page.get_by_test_id("signin-key").fill(key)
    page.get_by_test_id("signin-submit").click()


@pytest.fixture
def console(page: Any, api_base: str, project_key: str, workers: Any) -> Any:
    """A tab signed in to the console with a fresh project's key, on /console/assistants."""
    page.goto("/console/assistants")
    sign_in(page, project_key)
    page.get_by_test_id("nav").wait_for()
    page.treadle_key = project_key
    page.base = api_base
    return page


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot under tests/artifacts/console/, kept by CI in its log folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # From the top, so the sticky header is drawn at the top of the picture.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path
