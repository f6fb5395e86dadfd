"""The demo app and the report page in a real headless browser (Debian's chromium driven by Playwright).

Skipped where no chromium is installed, except when MTL_NLP_REQUIRE_BROWSER=1 (set by .ci/run, which installs it).
Screenshots are kept in test-artifacts/ (or $MTL_NLP_TEST_ARTIFACTS).
"""

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM and os.environ.get("MTL_NLP_REQUIRE_BROWSER") != "1":
    pytest.skip("no chromium here (apt-get install chromium); .ci/run installs it", allow_module_level=True)
ARTIFACTS = Path(os.environ.get("MTL_NLP_TEST_ARTIFACTS", REPO / "test-artifacts"))
# As root and on a closed network, Chromium needs no sandbox and must not reach for Google's services.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_app_highlights_entities_and_shows_sentiment(demo_model, browser, monkeypatch):
    from mtl_nlp.app import serve
    from mtl_nlp.predict import pipeline

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    model, _ = demo_model
    text = "Zoe Haddad joined Red Oak Partners in Seoul . A wonderful , moving film ."
    expected = pipeline(str(model))(text)
    entities = [(e["text"], e["type"]) for e in expected["demo_ner"]["entities"]]
    assert ("Zoe Haddad", "PER") in entities  # the demo model is good enough for the page to have something to show
    port = _free_port()
    app = serve(str(model), port=port, block=False)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}", wait_until="networkidle")
        examples = json.loads((model / "examples.json").read_text())
        assert page.get_by_text(examples[0]).count() >= 1  # the model's own dev texts are offered to try
        page.fill("#text textarea", text)
        page.click("#analyse")
        page.wait_for_function("document.querySelector('#entities').innerText.includes('Zoe Haddad')", timeout=60_000)
        highlighted = page.inner_text("#entities")
        for words, kind in entities:
            assert words in highlighted and kind in highlighted
        label = expected["demo_sentiment"]["label"]
        page.wait_for_function(f"document.querySelector('#label-demo_sentiment').innerText.includes('{label}')", timeout=30_000)
        page.screenshot(path=ARTIFACTS / "app.png", full_page=True)
    finally:
        app.close()


def test_the_report_page_loads_every_image_and_holds_the_run_figures(demo_model, browser):
    from mtl_nlp.report import write_report

    model, _ = demo_model
    report = write_report(model, ARTIFACTS / "report")
    page = browser.new_page()
    page.goto(report.as_uri())
    images = page.locator("img")
    assert images.count() >= 4
    loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert loaded and all(loaded)
    metrics = json.loads((model / "metrics.json").read_text())
    cells = page.locator("#metrics td").all_inner_texts()
    for task, scores in metrics["dev"].items():
        assert task in cells and f"{100 * scores['primary']:.2f}" in cells
    page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
