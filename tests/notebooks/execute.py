"""Execute notebooks headless through the real Rust kernel (evcxr) and check them.

    python tests/notebooks/execute.py OUT_DIR NOTEBOOK...

Each notebook runs top to bottom with nbclient, in the notebook's own folder
(as JupyterLab runs it), and is written with its outputs to OUT_DIR. A notebook
fails when
  * a cell raises (compile error, `?` error, panic) or leaves an error output,
  * a cell writes a Rust compiler error (`error[E...]`) to stderr,
  * a chart cell (one that calls `plots::…evcxr_display()`) produced no plotly
    output (`application/vnd.plotly.v1+json`), or a chart has no title or axis
    titles; a table cell (any other `.evcxr_display()`) produced no HTML table.
The committed notebooks carry the outputs of a run at their defaults
(scripts/notebook-outputs.sh, checked by committed.py); this run replaces them
in its copy under OUT_DIR and leaves the committed files alone.
The environment is passed to the kernel as is: the caller sets CB_QUICK=1.
Prints one line per notebook and a closing "N passed, N failed" line; exits 1 on
any failure.
"""

import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

PLOTLY = "application/vnd.plotly.v1+json"
# The first cell compiles the library and its dependencies into the kernel:
# minutes on 2 cores; the quick sweep's cell also takes minutes.
CELL_TIMEOUT_S = 1200


def title_of(obj):
    """The text of a plotly title (a string or {"text": ...}), or ''."""
    t = (obj or {}).get("title")
    return t.get("text", "") if isinstance(t, dict) else (t or "")


def check_chart(fig):
    """Problems with one plotly figure (empty list when fine)."""
    problems = []
    layout = fig.get("layout", {})
    if not fig.get("data"):
        problems.append("chart has no traces")
    if not title_of(layout):
        problems.append("chart has no title")
    for axis in ("xaxis", "yaxis"):
        if not title_of(layout.get(axis)):
            problems.append(f"chart {title_of(layout)!r} has no {axis} title")
    return problems


def check(nb):
    """(problems, number of charts) for an executed notebook."""
    problems, charts = [], 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"cell {i} ({cell.source.strip().splitlines()[0][:60]!r})"
        plots = []
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"{where}: error output {out.get('ename')}: {out.get('evalue')}")
            if out.output_type == "stream" and out.name == "stderr" and "error[" in out.text:
                problems.append(f"{where}: compiler error on stderr: {out.text.strip()[:500]}")
            if out.output_type in ("display_data", "execute_result") and PLOTLY in out.get("data", {}):
                fig = out.data[PLOTLY]
                plots.append(json.loads(fig) if isinstance(fig, str) else fig)
        shows = ".evcxr_display()" in cell.source
        if shows and "plots::" in cell.source and not plots:
            problems.append(f"{where}: chart cell produced no {PLOTLY} output")
        if shows and "plots::" not in cell.source and not any(
            "<table>" in out.get("data", {}).get("text/html", "")
            for out in cell.get("outputs", [])
            if out.output_type in ("display_data", "execute_result")
        ):
            problems.append(f"{where}: table cell produced no HTML table")
        for fig in plots:
            problems += [f"{where}: {p}" for p in check_chart(fig)]
        charts += len(plots)
    return problems, charts


def run(path, out_dir):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.monotonic()
    problems = []
    try:
        client.execute()
    except CellExecutionError as e:
        problems.append(f"execution stopped: {str(e).strip()[-2000:]}")
    except Exception as e:  # kernel died, timeout, ...
        problems.append(f"execution failed: {type(e).__name__}: {e}")
    seconds = time.monotonic() - start
    out = out_dir / path.name
    nbformat.write(nb, out)  # also when it failed: the outputs show why
    found, charts = check(nb)
    problems += found
    return problems, charts, seconds, out


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out_dir = Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    passed = failed = 0
    for name in argv[2:]:
        path = Path(name)
        print(f"[notebooks] executing {path} ...", flush=True)
        problems, charts, seconds, out = run(path, out_dir)
        if problems:
            failed += 1
            print(f"[notebooks] FAIL {path.name} ({seconds:.0f} s, {charts} charts) -> {out}")
            for p in problems:
                print(f"    {p}")
        else:
            passed += 1
            print(f"[notebooks] ok   {path.name}: {charts} charts in {seconds:.0f} s -> {out}")
        if seconds > 600:
            print(f"[notebooks] warning: {path.name} took over 10 minutes (quick mode should not)")
    print(f"notebooks: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
