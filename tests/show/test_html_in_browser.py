"""The HTML report of a real run, opened in headless Chromium (Debian's `chromium`, installed on first use).

A real `pytest evals` run on the default model, with two prompts: one asks the model to repeat an
HTML payload (a script tag and a bold tag), so the page must show a real model's answer that is
hostile markup. Playwright drives the system Chromium and records every request the page makes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from ..conftest import REGISTRY, REPO

pytestmark = pytest.mark.integration

PAYLOAD = "<script>alert(1)</script><b>bold</b>"
PROMPTS = f"""
version: 1
defaults: {{repeats: 2, max_tokens: 40, temperature: 0}}
prompts:
  - id: echo-html
    system: Repeat the user's message exactly, character for character, and nothing else.
    text: "{PAYLOAD}"
    checks:
      - contains: "alert(1)"
  - id: arithmetic-7x6
    system: Answer with the number only.
    text: What is 7 times 6?
    max_tokens: 8
    checks:
      - equals: "42"
"""
# Chromium itself phones home (updates, sign-in); resolve no host name, so nothing leaves this machine.
BROWSER_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND"]


def chromium() -> str:
    """Debian's chromium, installed with apt on first use (about 40 s; as root, or with sudo -n)."""
    path = shutil.which("chromium")
    if path is not None:
        return path
    as_root = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print("bakeoff tests: installing Debian's chromium for the browser test (once, about 40 s)", file=sys.stderr, flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        done = subprocess.run(as_root + step, capture_output=True, text=True, env=environment)
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            pytest.fail(f"cannot install chromium ({' '.join(step)} exited {done.returncode}): {tail}", pytrace=False)
    path = shutil.which("chromium")
    assert path is not None, "apt-get installed chromium but it is not on PATH"
    return path


@pytest.fixture(scope="module")
def real_run(default_model_pulled, tmp_path_factory) -> Path:
    """Reports of `pytest evals` on the default model, plus one model too big for any machine."""
    root = tmp_path_factory.mktemp("run")
    default = next(m for m in json.loads(REGISTRY.read_text()) if m["name"] == default_model_pulled.name)
    default.pop("runtimes", None)  # the runtime it was pulled for only: one server, a lean test
    default["runtime"] = default_model_pulled.runtime
    huge = {"name": "huge-model", "task": "chat", "min_ram_gb": 100000, "notes": "", "family": "huge"}
    (root / "models.json").write_text(json.dumps([default, huge]))
    (root / "prompts.yaml").write_text(PROMPTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "evals", "-p", "no:cacheprovider", "--bakeoff-reports", str(root / "reports"),
         "--bakeoff-models", str(root / "models.json"), "--bakeoff-prompts", str(root / "prompts.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads((root / "reports" / "latest.json").read_text())
    page = root / "reports" / f"{report['run_id']}.html"
    assert f"html: {page}" in result.stdout
    assert (root / "reports" / "latest.html").read_text() == page.read_text()
    return page


def test_the_page_of_a_real_run_shows_charts_matrix_and_hostile_answers_as_text(real_run, tmp_path):
    report = json.loads((real_run.parent / "latest.json").read_text())
    model = next(m for m in report["models"] if m["status"] == "ran")
    echo = next(p for p in model["prompts"] if p["id"] == "echo-html")
    # The premise: the real model did answer with the markup.
    assert all(PAYLOAD in s["response"] for s in echo["samples"]), echo["samples"][0]["response"]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            requests, dialogs, errors = [], [], []
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(real_run.as_uri(), wait_until="load")

            # Self-contained: the page itself is the only request; no script ran or was even refused.
            assert requests == [real_run.as_uri()]
            assert dialogs == [] and errors == []
            assert page.locator("script").count() == 0

            # Charts: four drawn panels; the distributions hold every warm sample as a dot (the first
            # request after each launch's load is cold: counted in cold TTFT only).
            charts = page.locator("figure.chart svg")
            assert charts.count() == 4
            for index in range(4):
                assert charts.nth(index).bounding_box()["width"] > 200
            samples = sum(not s["cold"] for p in model["prompts"] for s in p["samples"])
            assert page.locator("#chart-ttft g[id^='ttft-samples-'] use").count() == samples
            assert page.locator("#chart-decode g[id^='decode-samples-'] use").count() == samples

            # The matrix: a cell per prompt for the model that ran; the skipped model is listed with why.
            cells = page.locator("table.matrix a")
            assert cells.count() == 2
            assert "huge-model" in page.locator("#models").inner_text()
            assert page.locator("#recommendation").inner_text().strip() != "Recommendation"

            # One click from the matrix to the answer, which shows the markup as text and adds no element.
            page.locator("table.matrix tr", has_text="echo-html").locator("a").click()
            assert page.evaluate("location.hash") == "#answer-0-echo-html"
            answer = page.locator("#answer-0-echo-html")
            assert answer.evaluate("element => element.matches(':target')")
            assert PAYLOAD in answer.locator("pre.response").first.inner_text()
            assert answer.locator("pre.response *").count() == 0
            assert page.locator("b", has_text="bold").count() == 0
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            assert (tmp_path / "report.png").stat().st_size > 10_000
            assert requests == [real_run.as_uri()]

            # The request recording is not blind: a page that does fetch is caught.
            control = tmp_path / "control.html"
            control.write_text('<img src="http://127.0.0.1:9/pixel.png">')
            page.goto(control.as_uri(), wait_until="load")
            assert "http://127.0.0.1:9/pixel.png" in requests
        finally:
            browser.close()
