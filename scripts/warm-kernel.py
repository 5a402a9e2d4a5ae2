"""Compile the library into the Rust kernel's cache before JupyterLab opens.

    python scripts/warm-kernel.py [NOTEBOOK]

Runs the setup cell of NOTEBOOK (default: notebooks/01_toy_fully_conflicting.ipynb,
whose `:opt`, `:cache` and `:dep` lines every notebook shares) and a cell that
uses the library, in a headless kernel started the way JupyterLab starts it.
evcxr's `:cache` keeps the compiled crates in ~/.cache/evcxr, so the first cell
of a notebook opened afterwards only links them (about a minute) instead of
compiling everything (tens of minutes on a busy 2-core machine). cargo's
progress goes to this terminal (the kernel inherits its stderr). Prints the
time of each cell; exits 1 if a cell fails.
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def main(argv):
    source = Path(argv[1]) if len(argv) > 1 else ROOT / "notebooks/01_toy_fully_conflicting.ipynb"
    setup = next(c for c in nbformat.read(source, as_version=4).cells if c.cell_type == "code")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(setup.source),
        # Instantiates what the notebooks' cells build on (a net, the trainer,
        # the metric), so their generic code is compiled once here too.
        nbformat.v4.new_code_cell(
            "use conflicting_bundles::prelude::*;\n"
            "let dev = cpu();\n"
            "let net = MnistFnn::new(&dev, 3, 2, 0)?;\n"
            "println!(\"{} hidden layers\", net.num_hidden());"
        ),
    ]
    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=3600,
        startup_timeout=120,
        resources={"metadata": {"path": str(source.parent.resolve())}},
    )
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            what = "compiling the library and its dependencies" if i == 0 else "a first cell using it"
            print(f"[warm-kernel] cell {i + 1}/2: {what} ...", flush=True)
            start = time.monotonic()
            client.execute_cell(cell, i)
            errors = [o for o in cell.outputs if o.output_type == "error"]
            print(f"[warm-kernel] cell {i + 1}/2: {time.monotonic() - start:.0f} s", flush=True)
            if errors:
                print(f"[warm-kernel] failed: {errors[0].get('evalue', '')}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
