"""Regenerate the committed notebooks' outputs: execute each at its defaults
(the lesson preset, whose run cells load the recorded runs), give every
plotly chart a PNG beside it, and write the notebook back in place.

    python scripts/notebook-outputs.py [NOTEBOOK...]   (default: notebooks/0*.ipynb)

Run it through scripts/notebook-outputs.sh, which sets up the notebook
environment. JupyterLab draws the plotly output; GitHub's and nbviewer's
renderers do not run plotly's extension and show the PNG instead (the same
output carries both). The PNG is the chart drawn by plotly.js in headless
Chromium, as scripts/figures.py draws the gallery. nbclient's per-cell
timing metadata is dropped, so that a regenerated notebook differs from the
committed one only where its outputs do. A notebook that fails to execute is
left as it was; the script exits 1.
"""

import base64
import json
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "notebooks"))
sys.path.insert(0, str(ROOT / "scripts"))
from browser import start_chromium  # noqa: E402
from execute import PLOTLY, run  # noqa: E402
from figures import PLOTLY_JS, draw  # noqa: E402

WIDTH = 1000


def page(fig, path):
    """An offline page drawing one plotly figure at its layout's height."""
    height = fig.get("layout", {}).get("height") or 500
    path.write_text(
        "<html><head>"
        f'<script src="{PLOTLY_JS.as_uri()}"></script>'
        "<style>body{margin:0}.modebar-container{display:none}</style>"
        "</head><body>"
        f'<div id="p" style="width:{WIDTH}px;height:{height}px"></div>'
        f"<script>const fig = {json.dumps(fig)};"
        "Plotly.newPlot('p', fig.data, fig.layout, {staticPlot: true});</script>"
        "</body></html>"
    )


def add_pngs(nb, driver, tmp):
    """Puts an image/png beside every plotly output; returns how many."""
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get(PLOTLY)
            if fig is None:
                continue
            fig = json.loads(fig) if isinstance(fig, str) else fig
            html, png = tmp / f"chart{count}.html", tmp / f"chart{count}.png"
            page(fig, html)
            draw(driver, html, png)
            out.data["image/png"] = base64.b64encode(png.read_bytes()).decode()
            count += 1
    return count


def main(argv):
    names = argv[1:] or sorted(str(p) for p in (ROOT / "notebooks").glob("0*.ipynb"))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        driver = start_chromium(tmp / "profile")
        driver.set_window_size(WIDTH + 40, 1400)
        try:
            for name in names:
                path = Path(name).resolve()
                print(f"[outputs] executing {path.name} at its defaults ...", flush=True)
                problems, charts, seconds, executed = run(path, tmp)
                if problems:
                    failed += 1
                    print(f"[outputs] FAIL {path.name}: kept as it was")
                    for p in problems:
                        print(f"    {p}")
                    continue
                nb = nbformat.read(executed, as_version=4)
                pngs = add_pngs(nb, driver, tmp)
                nbformat.write(nb, path)
                mb = path.stat().st_size / 1e6
                print(f"[outputs] ok   {path.name}: {charts} charts ({pngs} PNGs), executed in {seconds:.0f} s, {mb:.1f} MB")
        finally:
            driver.quit()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
