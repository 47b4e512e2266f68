"""The curation loop in a real browser: JupyterLab driven by Debian's headless Chromium through Selenium
(no browser download). Opens notebooks/playground.ipynb on a finished tiny run, runs it, types a query,
clicks a grade, checks the row landed in the curation file, and that a contradicting grade asks first.

Needs `apt-get install -y chromium chromium-driver` (.ci/run installs them) and selenium (the `test`
extra): without them this test fails, saying so, rather than skipping. SVTUNE_SCREENSHOTS=DIR keeps
the browser's screenshots there (docs/curation.md uses them).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import finished_run
from svtune import paths
from svtune.data.records import CURATION_FILE

TOKEN = "svtune-browser-test"
TIMEOUT = 240   # seconds for each wait: this runs niced on a busy 2-core machine


def _require_browser() -> tuple[str, str]:
    """Debian's chromium and chromedriver, and selenium; missing, the test fails saying how to install them."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("the browser test needs Debian's Chromium: apt-get install -y chromium chromium-driver "
                    f"(found chromium={chromium}, chromedriver={driver})")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("the browser test needs selenium: pip install -e '.[test]'")
    return chromium, driver


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, driver = _require_browser()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1300"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path, tiny_model_dir, tiny_data):
    """JupyterLab on a free port, serving a copy of the playground notebook, with SVTUNE_OUTPUTS holding a
    finished tiny run whose data folder is tiny_data."""
    _require_browser()                       # before starting anything
    outputs, root = tmp_path / "outputs", tmp_path / "lab"
    finished_run(outputs / "runs", tiny_model_dir, tiny_data, tuned=True)
    root.mkdir()
    shutil.copy(paths.NOTEBOOKS_DIR / "playground.ipynb", root / "playground.ipynb")
    port = _free_port()
    env = {**os.environ, "SVTUNE_OUTPUTS": str(outputs), "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                             f"--port={port}", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}",
                             "--allow-root", "--LabApp.expose_app_in_browser=True",
                             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + TIMEOUT
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail("JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:])
            time.sleep(1)
    try:
        yield url, tiny_data / CURATION_FILE
    finally:
        os.killpg(proc.pid, signal.SIGTERM)       # the server and its kernel: our own process group
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _wait(driver, what: str, check, timeout: float = TIMEOUT):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: check(d))
    except Exception as e:
        raise AssertionError(f"timed out waiting for {what}") from e


def _shot(driver, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    keep = os.environ.get("SVTUNE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def _grade(driver, query: str, text: str, score: str):
    from selenium.webdriver.common.by import By
    found = driver.find_elements(By.CSS_SELECTOR, f'.svtune-grade[title="{query} ~ {text}: {score}"]')
    return found[0] if found else None


@pytest.mark.slow
def test_label_from_the_playground_in_a_real_browser(lab, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    url, curation_file = lab
    driver = _browser()
    try:
        driver.get(f"{url}/lab/tree/playground.ipynb?token={TOKEN}")
        _wait(driver, "the notebook to open", lambda d: d.execute_script(
            "const a = window.jupyterapp; return !!(a && a.shell.currentWidget && a.shell.currentWidget.sessionContext"
            " && a.shell.currentWidget.sessionContext.session && a.shell.currentWidget.sessionContext.session.kernel)"))
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        box = _wait(driver, "the playground widget", lambda d: (d.find_elements(By.CSS_SELECTOR, ".svtune-query input")
                                                             or [None])[0])
        _wait(driver, "grade buttons for the parameter query",
              lambda d: _grade(d, "median household income", "Median Household Income", "1"))
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys("wheat growers", Keys.ENTER)
        same = _wait(driver, "grade buttons for the typed query", lambda d: _grade(d, "wheat growers", "Wheat Farms", "1"))
        _shot(driver, tmp_path, "curation_1_results")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", same)
        same.click()
        _wait(driver, "the label in the curation file", lambda d: curation_file.is_file()
              and "wheat growers,Wheat Farms,1" in curation_file.read_text(encoding="utf-8"))
        _wait(driver, "the undo list", lambda d: "wheat growers ~ Wheat Farms: 1" in d.find_element(
            By.CSS_SELECTOR, ".svtune-labels").text)
        written = curation_file.read_bytes()
        wrong = _grade(driver, "wheat growers", "Wheat Farms", "0.01")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", wrong)
        wrong.click()
        confirm = _wait(driver, "the confirm button", lambda d: next(
            (b for b in d.find_elements(By.CSS_SELECTOR, ".svtune-confirm") if b.is_displayed()), None))
        status = driver.find_element(By.CSS_SELECTOR, ".svtune-label-status").text
        assert "replace with 0.01?" in status, status
        _shot(driver, tmp_path, "curation_2_confirm")
        assert curation_file.read_bytes() == written          # asked first: nothing written yet
        confirm.click()
        _wait(driver, "the replaced label", lambda d: "wheat growers,Wheat Farms,0.01" in curation_file.read_text())
        assert curation_file.read_text().splitlines() == ["sentence_1,sentence_2,score", "wheat growers,Wheat Farms,0.01"]
        _shot(driver, tmp_path, "curation_3_replaced")
    finally:
        driver.quit()
