"""Time the first K code cells of a notebook in the evcxr 'rust' kernel.

    .venv/bin/python scripts/notebook-cell-times.py NOTEBOOK K

Starts a fresh 'rust' kernel with nbclient in the notebook's own folder (as
JupyterLab does), runs its first K code cells one by one and prints one line
per cell: the wall-clock seconds and the cell's first line. A cell's error
outputs (and any Rust compiler error on stderr) are printed under its line.
Kernel start-up is not timed. The caller's environment reaches the kernel
(set CB_QUICK, EVCXR_TMPDIR, XDG_CACHE_HOME there); Jupyter's folders and PATH
default to the project's .venv and ~/.cargo/bin. The kernel's own stdout and
stderr (cargo's "Compiling ..." lines) go to $NBTIME_KERNEL_LOG, else nowhere.
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

VENV = Path(os.environ.get("CB_VENV", "/work/main/.venv"))
CELL_TIMEOUT_S = 1800


def environment():
    """Jupyter's folders inside the venv; the venv and ~/.cargo/bin first on PATH."""
    os.environ.setdefault("JUPYTER_DATA_DIR", str(VENV / "share/jupyter"))
    os.environ.setdefault("JUPYTER_CONFIG_DIR", str(VENV / "etc/jupyter"))
    os.environ.setdefault("JUPYTER_RUNTIME_DIR", str(VENV / "share/jupyter/runtime"))
    cargo_bin = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin"
    os.environ["PATH"] = os.pathsep.join([str(cargo_bin), str(VENV / "bin"), os.environ["PATH"]])


def errors(cell):
    """Error text of an executed cell: error outputs and compiler errors on stderr."""
    found = []
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            found.append(f"{out.get('ename')}: {out.get('evalue')}")
        elif out.output_type == "stream" and out.name == "stderr" and "error" in out.text:
            found.append(out.text.strip())
    return found


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    path, k = Path(argv[1]).resolve(), int(argv[2])
    environment()
    nb = nbformat.read(path, as_version=4)
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"][:k]
    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    print(f"{'cell':>4}  {'seconds':>8}  first line  ({path.name})", flush=True)
    log = open(os.environ.get("NBTIME_KERNEL_LOG", os.devnull), "w")
    with log, client.setup_kernel(stdout=log, stderr=log):
        for n, (index, cell) in enumerate(cells, 1):
            start = time.monotonic()
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as e:  # only without allow_errors; kept for safety
                cell.setdefault("outputs", []).append(
                    nbformat.v4.new_output("error", ename="CellExecutionError", evalue=str(e), traceback=[])
                )
            seconds = time.monotonic() - start
            first = (cell.source.strip().splitlines() or [""])[0]
            print(f"{n:>4}  {seconds:>8.1f}  {first}", flush=True)
            for text in errors(cell):
                print("      " + text.replace("\n", "\n      "), flush=True)


if __name__ == "__main__":
    main(sys.argv)
