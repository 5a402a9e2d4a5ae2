"""Open executed notebooks in JupyterLab in headless Chromium and find the charts.

    python tests/notebooks/browser.py SCREENSHOT_DIR EXECUTED_NOTEBOOK...

Serves the notebooks' folder with `jupyter lab` on 127.0.0.1 (a random token,
no browser), opens each notebook in Debian's headless Chromium (driven by
Selenium through Debian's chromedriver), and waits until every plotly output
of the notebook has been drawn by JupyterLab's plotly renderer (an SVG
`svg.main-svg` inside each `.js-plotly-plot`). Saves a screenshot per notebook
as SCREENSHOT_DIR/notebook-screenshot-<name>.png, and the first notebook's also
as SCREENSHOT_DIR/notebook-screenshot.png. Stops the server and the browser in
every case. Prints a closing "N passed, N failed" line; exits 1 on any failure.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PLOTLY = "application/vnd.plotly.v1+json"
CHROMIUM = os.environ.get("CB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CB_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_S = 120


def plotly_outputs(path):
    nb = json.loads(Path(path).read_text())
    return sum(
        1
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if PLOTLY in o.get("data", {})
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root, port, token, config_dir):
    """jupyter lab on loopback, with user settings in a throw-away folder."""
    # Render every cell, not only those in view (JupyterLab 4 virtualises long
    # notebooks), so all charts exist on the page at once.
    # No news pop-up over the screenshot either.
    user = Path(config_dir) / "lab/user-settings/@jupyterlab"
    for plugin, value in [
        ("notebook-extension/tracker", '{"windowingMode": "none"}'),
        ("apputils-extension/notification", '{"fetchNews": "false", "checkForUpdates": false}'),
    ]:
        f = user / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(value)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir))
    log = open(Path(config_dir) / "lab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            # No network here: no news, update checks or PyPI extension manager.
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ] + (["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}; log: {log.name}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return proc, log.name
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"jupyter lab did not answer within 60 s; log: {log.name}")


def start_chromium(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in [
        "--headless", "--no-sandbox", "--disable-gpu",
        # This machine has no network beyond loopback: keep Chromium quiet.
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run",
        f"--user-data-dir={profile}", "--window-size=1280,1600",
    ]:
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


# Counts the plotly graphs drawn on the page (a graph div holding an
# svg.main-svg), and the notebook's cells on the page.
COUNT_JS = """
const drawn = [...document.querySelectorAll('.jp-Notebook .js-plotly-plot')]
  .filter(p => p.querySelector('svg.main-svg')).length;
return [drawn, document.querySelectorAll('.jp-Notebook .jp-Cell').length];
"""


def check_notebook(driver, base, token, name, shot):
    expected = plotly_outputs(name)
    driver.get(f"{base}/doc/tree/{Path(name).name}?reset&token={token}")
    deadline = time.monotonic() + WAIT_S
    drawn = cells = 0
    while time.monotonic() < deadline:
        drawn, cells = driver.execute_script(COUNT_JS)
        if expected and drawn >= expected:
            break
        time.sleep(1)
    # Show the first chart's cell (code and chart), then save what a reader sees.
    driver.execute_script(
        "const p = document.querySelector('.jp-Notebook .js-plotly-plot');"
        "if (p) p.closest('.jp-Cell').scrollIntoView({block: 'start'});"
    )
    time.sleep(1)
    driver.save_screenshot(str(shot))
    ok = expected > 0 and drawn >= expected
    detail = f"{drawn} of {expected} plotly charts drawn as SVG ({cells} cells on the page)"
    return ok, detail


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    shot_dir = Path(argv[1])
    shot_dir.mkdir(parents=True, exist_ok=True)
    notebooks = [Path(n).resolve() for n in argv[2:]]
    root = notebooks[0].parent
    token = secrets.token_hex(16)
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="cb-browser-"))
    passed = failed = 0
    lab = driver = None
    try:
        lab, lab_log = start_lab(root, port, token, tmp / "jupyter-config")
        print(f"[browser] JupyterLab on 127.0.0.1:{port} serving {root} (log: {lab_log})", flush=True)
        driver = start_chromium(tmp / "chromium-profile")
        for i, nb in enumerate(notebooks):
            shot = shot_dir / f"notebook-screenshot-{nb.stem}.png"
            ok, detail = check_notebook(driver, f"http://127.0.0.1:{port}", token, nb, shot)
            if i == 0:
                shutil.copyfile(shot, shot_dir / "notebook-screenshot.png")
            passed, failed = passed + ok, failed + (not ok)
            print(f"[browser] {'ok  ' if ok else 'FAIL'} {nb.name}: {detail}; screenshot {shot}", flush=True)
    except Exception as e:
        failed += 1
        print(f"[browser] FAIL: {type(e).__name__}: {e}", flush=True)
    finally:
        if driver is not None:
            driver.quit()
        if lab is not None:
            lab.terminate()
            try:
                lab.wait(timeout=20)
            except subprocess.TimeoutExpired:
                lab.kill()
    if failed:
        print(f"[browser] JupyterLab's log and Chromium's profile are kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"browser: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
