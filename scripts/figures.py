"""The figure gallery: every chart of the recorded runs as a PNG.

    .venv/bin/python scripts/figures.py   (or scripts/figures.sh, which sets up)

For each recorded run results/<experiment>/<preset>.json, `cb charts` writes
its charts as HTML (the same plotly charts the notebooks and the CLI show);
headless Chromium draws each with the plotly.js of the `plotly` Python
package (offline: nothing is fetched) and saves the chart as
docs/figures/<experiment>-<preset>-<chart>.png. docs/figures/README.md lists
them with the run each came from. Exits 1 if a chart was not drawn.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import plotly

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "notebooks"))
from browser import start_chromium  # noqa: E402

OUT = ROOT / "docs" / "figures"
CB = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "release" / "cb"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
SIZE = (1000, 620)
WAIT_S = 60


def offline(html: str) -> str:
    """The page with the local plotly.js and without MathJax (no network)."""
    lines = []
    for line in html.splitlines():
        if "cdn.plot.ly" in line:
            line = f'<script src="{PLOTLY_JS.as_uri()}"></script>'
        elif "mathjax" in line.lower():
            continue
        elif "</head>" in line:  # the toolbar is for the browser, not a figure
            lines.append("<style>.modebar-container{display:none}</style>")
        lines.append(line)
    return "\n".join(lines)


def draw(driver, page: Path, png: Path):
    driver.get(page.as_uri())
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        plots = driver.find_elements("css selector", ".js-plotly-plot")
        if plots and plots[0].find_elements("css selector", "svg.main-svg"):
            time.sleep(0.5)  # let the last transitions settle
            png.write_bytes(plots[0].screenshot_as_png)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{page.name}: not drawn within {WAIT_S} s")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    # results/studies/ holds studies made by scripts, not `cb` runs.
    runs = sorted(r for r in (ROOT / "results").glob("*/*.json") if r.parent.name != "studies")
    rows, failed = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        driver = start_chromium(Path(tmp) / "profile")
        driver.set_window_size(*SIZE)
        try:
            for run in runs:
                experiment, preset = run.parent.name, run.stem
                html_dir = Path(tmp) / f"{experiment}-{preset}"
                listed = subprocess.run(
                    [str(CB), "charts", str(run), "--out", str(html_dir)],
                    check=True, capture_output=True, text=True,
                ).stdout.split()
                meta = json.loads(run.read_text())
                for html in map(Path, listed):
                    page = html.with_suffix(".offline.html")
                    page.write_text(offline(html.read_text()))
                    png = OUT / f"{experiment}-{preset}-{html.stem}.png"
                    try:
                        draw(driver, page, png)
                        rows.append((png.name, meta))
                        print(f"drew {png.relative_to(ROOT)}")
                    except Exception as e:  # one chart's failure, not the rest
                        failed += 1
                        print(f"FAILED {png.name}: {e}", file=sys.stderr)
        finally:
            driver.quit()
    index = [
        "# Figure gallery",
        "",
        "Every chart of the recorded runs under `results/`, drawn by the real "
        "plotly charts in headless Chromium. Regenerate with "
        "`scripts/figures.sh` after rerunning a recorded run.",
        "",
    ]
    for name, meta in rows:
        index += [
            f"## {name[:-4]}",
            "",
            f"![{name[:-4]}]({name})",
            "",
            f"From `{meta['command']}` (commit {meta['commit']}, {meta['machine']}, "
            f"{meta['wall_seconds'] / 60:.1f} min, finished {meta['finished']}).",
            "",
        ]
    (OUT / "README.md").write_text("\n".join(index))
    print(f"{len(rows)} drawn, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
