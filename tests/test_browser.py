"""A real browser: JupyterLab on localhost, the curation tutorial run in headless Chromium, reviewer buttons clicked.

Needs Debian's `chromium` (apt-get install -y chromium) and the Python package `playwright` (its bundled browsers
are NOT used: never run `playwright install`). Marked `browser`: skip locally with `pytest -m "not browser"`; CI runs
it. Without /usr/bin/chromium the test skips locally and fails when $CI is set.

Set LLMXTM_SCREENSHOT=path/to/reviewer.png to keep the screenshot of the rendered reviewer (the docs image
nbs/images/reviewer.png is made this way).
"""
import getpass
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "nbs" / "tutorials" / "02_curation.ipynb"
CHROMIUM = os.environ.get("LLMXTM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--no-first-run"]
RUN_ALL_TIMEOUT_S = int(os.environ.get("LLMXTM_BROWSER_TIMEOUT", "900"))
SCREENSHOT = os.environ.get("LLMXTM_SCREENSHOT")  # read at import: conftest clears LLMXTM_* variables per test

pytestmark = [pytest.mark.browser, pytest.mark.timeout(RUN_ALL_TIMEOUT_S + 300)]


def _need_browser():
    problems = []
    if not Path(CHROMIUM).exists():
        problems.append(f"{CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the Python package playwright is not installed")
    if problems:
        msg = "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {msg}")
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path):
    "JupyterLab on 127.0.0.1 (random port, random token) serving a copy of the curation tutorial."
    _need_browser()
    if not TUTORIAL.exists():
        pytest.fail(f"{TUTORIAL} is missing")
    work = tmp_path / "work"
    work.mkdir()
    nb = json.loads(TUTORIAL.read_text(encoding="utf-8"))
    # notebooks are committed without kernel metadata: name the kernel so JupyterLab does not ask for one
    nb.setdefault("metadata", {}).setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"})
    (work / TUTORIAL.name).write_text(json.dumps(nb), encoding="utf-8")
    cache = tmp_path / "cache"
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, LLMXTM_CACHE_DIR=str(cache), LLMXTM_PROGRESS="0",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-run"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"), IPYTHONDIR=str(tmp_path / "ipython"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", "--ServerApp.password=", f"--ServerApp.root_dir={work}",
           "--ServerApp.disable_check_xsrf=False", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate", "--ServerApp.terminals_enabled=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "jupyterlab.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "work": work, "cache": cache, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _dismiss_kernel_dialog(page):
    "Click 'Select' if JupyterLab asks which kernel to start (it should not: the copy names one)."
    try:
        page.locator(".jp-Dialog button", has_text="Select").first.click(timeout=5_000)
    except Exception:
        pass


def _decisions(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    ev = data["payload"]["events"][-1]
    return {t["topic_id"]: t["decision"] for t in ev["topics"]}


def test_curation_tutorial_in_chromium(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    review_file = jupyterlab["cache"] / "review" / "curation_tutorial.json"
    t_start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    url = f"{jupyterlab['url']}/lab/tree/{TUTORIAL.name}?token={jupyterlab['token']}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            # wait until the kernel is connected and idle (JupyterLab shows it in the toolbar)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            _dismiss_kernel_dialog(page)
            # wait until the kernel is idle (the toolbar's kernel indicator)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=180_000)
            # Run > Run All Cells
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            # the reviewer widget appears when its cell has run; the run ends when the last cell has an output
            page.wait_for_selector(".llmxtm-reviewer", timeout=RUN_ALL_TIMEOUT_S * 1000)
            page.wait_for_function(
                "() => { const c = document.querySelectorAll('.jp-Notebook .jp-CodeCell');"
                " const last = c[c.length - 1];"
                " const p = last && last.querySelector('.jp-InputPrompt');"
                " return p && /\\[\\d+\\]/.test(p.textContent); }", timeout=RUN_ALL_TIMEOUT_S * 1000)
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                  has_text="Traceback")
            assert errors.count() == 0, errors.first.inner_text()[:3000]
            assert review_file.exists(), f"the tutorial did not autosave its review to {review_file}"
            before = _decisions(review_file)

            rv = page.locator(".llmxtm-reviewer").first
            rv.scroll_into_view_if_needed()
            # jump to topic 0 with the jump box, then Reject it (the view moves on to the next topic) and Accept that
            box = rv.locator("input[type=number]").first
            box.fill("0")
            rv.locator("button", has_text="go").first.click()
            page.wait_for_function("() => document.querySelector('.llmxtm-reviewer .llmxtm-topic')"
                                   ".dataset.topic === '0'")
            rv.locator("button", has_text="Reject").first.click()
            page.wait_for_function("() => document.querySelector('.llmxtm-reviewer .llmxtm-topic')"
                                   ".dataset.topic !== '0'")
            nxt = int(rv.locator(".llmxtm-topic").first.get_attribute("data-topic"))
            rv.locator("button", has_text="Accept").first.click()
            page.wait_for_function("() => document.querySelector('.llmxtm-reviewer .llmxtm-message')"
                                   f".textContent.includes('topic {nxt}: accepted')")
            shot = tmp_path / "reviewer.png"
            try:  # JupyterLab's "get notified about news?" toast may cover part of the widget
                page.locator(".jp-Notification-Toast-Close, .Toastify__close-button").first.click(timeout=2_000)
            except Exception:
                pass
            rv.screenshot(path=str(shot))
            if SCREENSHOT:
                Path(SCREENSHOT).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, SCREENSHOT)
        finally:
            browser.close()

    # the clicks reached the kernel: the autosaved record has them, stamped with the user running the kernel
    deadline = time.time() + 30
    while time.time() < deadline:
        after = _decisions(review_file)
        if after[0]["status"] == "rejected" and after[nxt]["status"] == "accepted":
            break
        time.sleep(0.5)
    assert after[0]["status"] == "rejected", (before[0], after[0])
    assert after[nxt]["status"] == "accepted", (before[nxt], after[nxt])
    assert before[0]["status"] != "rejected" and before[nxt]["status"] != "accepted"  # the clicks changed them
    for k in (0, nxt):
        assert after[k]["who"] == getpass.getuser() and after[k]["when"] >= t_start
    untouched = [k for k in after if k not in (0, nxt)]
    assert all(after[k] == before[k] for k in untouched)
    assert shot.stat().st_size < 300_000
