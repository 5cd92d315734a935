"""The rendered leaderboard page in headless Chromium (Debian's; scripts/test.sh installs it)."""
import shutil

import pytest

from cxrgen_bench.leaderboard.render import build
from cxrgen_bench.leaderboard.reported import load_reported

from .results_factory import measured
from .test_leaderboard import REPORTED

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_page_loads_without_errors_and_shows_the_tables(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    entries = load_reported(REPORTED) + [measured("model-a"), measured('<script>alert("pwned")</script>', fid=8.0)]
    for i, e in enumerate(entries):
        e.setdefault("name", f"e{i:03d}")
    files = build(entries, tmp_path / "board")
    problems, dialogs = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(files["index.html"].as_uri())
        page.wait_for_load_state("load")
        fidelity_rows = page.locator('table[data-section="fidelity"]').first.locator("tbody tr").count()
        reported_rows = page.locator("tr.reported").count()
        images_ok = page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        shot = tmp_path / "board.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert problems == [] and dialogs == []  # the model name with <script> stayed text
    assert fidelity_rows == 17 + 2  # Table 2's 17 reported rows + the two measured models
    assert reported_rows > 0 and images_ok
    assert shot.stat().st_size > 10_000
