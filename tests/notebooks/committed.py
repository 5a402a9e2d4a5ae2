"""Check that the committed notebooks carry current outputs (no execution).

    python tests/notebooks/committed.py [NOTEBOOK...]   (default: notebooks/0*.ipynb)

The notebooks are committed executed at their defaults
(scripts/notebook-outputs.sh), so that JupyterLab, GitHub and nbviewer show
results before anything runs. A committed notebook fails this check when
  * a code cell has not run (no execution count) or left an error output
    (the checks of execute.py: errors, compiler errors, chart and table
    cells without their chart or table, charts without titles);
  * a chart lacks its PNG (GitHub's and nbviewer's renderers show only that);
  * a run cell (one that calls `recorded_or_run`) printed no provenance of a
    recorded run, or one that no longer matches its file under results/ (a
    rerun recorded run makes the committed outputs stale);
  * the notebook is larger than 5 MB.
Prints one line per notebook and a closing "N passed, N failed" line; exits 1
on any failure.
"""

import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute import PLOTLY, check  # noqa: E402

MAX_BYTES = 5_000_000
PROVENANCE = re.compile(r"recorded run: `[^`]*`\n  commit [^\n]*")


def provenance(path):
    """What `Recorded::provenance` prints for the recorded run `path`."""
    r = json.loads(path.read_text())
    return (
        f"recorded run: `{r['command']}`\n"
        f"  commit {r['commit']}, {r['machine']}, {r['wall_seconds'] / 60:.1f} min, finished {r['finished']}"
    )


def recorded_runs():
    runs = sorted(p for p in (ROOT / "results").glob("*/*.json") if p.parent.name != "studies")
    return {provenance(p): p for p in runs}


def stale(path, runs):
    """Problems of one committed notebook (empty when current)."""
    problems = []
    size = path.stat().st_size
    if size > MAX_BYTES:
        problems.append(f"{size / 1e6:.1f} MB, more than {MAX_BYTES / 1e6:.0f} MB")
    nb = nbformat.read(path, as_version=4)
    found, _ = check(nb)
    problems += found
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        where = f"cell {i} ({cell.source.strip().splitlines()[0][:60]!r})"
        if cell.get("execution_count") is None:
            problems.append(f"{where}: not executed")
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY in data and "image/png" not in data:
                problems.append(f"{where}: a chart without its PNG")
        if "recorded_or_run(" in cell.source:
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            printed = PROVENANCE.findall(text)
            if not printed:
                problems.append(f"{where}: printed no recorded run's provenance")
            for p in printed:
                if p not in runs:
                    problems.append(f"{where}: shows a recorded run that is not under results/ as printed: {p.splitlines()[0]}")
    return problems


def main(argv):
    names = argv[1:] or sorted(str(p) for p in (ROOT / "notebooks").glob("0*.ipynb"))
    runs = recorded_runs()
    passed = failed = 0
    for name in names:
        path = Path(name)
        problems = stale(path, runs)
        if problems:
            failed += 1
            print(f"[committed] FAIL {path.name} (regenerate with scripts/notebook-outputs.sh {path}):")
            for p in problems:
                print(f"    {p}")
        else:
            passed += 1
            print(f"[committed] ok   {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"committed notebooks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
