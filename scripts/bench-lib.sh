# Shared by scripts/bench-*.sh (sourced, not run): PyTorch in a private venv,
# our criterion binary built once, and criterion's median read back.
# Expects: the repository root as the working directory; BENCH = the
# criterion bench target (e.g. train_step); optional TORCH_VENV.

VENV=${TORCH_VENV:-.cache/torch-venv}   # ignored folder, reused across runs
PY=$VENV/bin/python
THREADS_MAX=$(( $(nproc) < 2 ? $(nproc) : 2 ))
THREADS=$(printf '%s\n' "$THREADS_MAX" 1 | uniq)

# --- PyTorch in a private venv (the CPU wheel is ~10x smaller than the CUDA one).
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "==> installing torch into $VENV" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip >&2
    "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu >&2 ||
        { echo "(CPU wheel index unreachable; installing torch from PyPI)" >&2
          "$PY" -m pip install -q torch >&2; }
fi

# --- Ours: build once, then run the criterion binary per thread count (so
# edits elsewhere in the tree cannot trigger a rebuild between runs).
# BENCH_BIN names an already built binary of this bench instead (another
# commit's build, to time it on the same machine in the same session).
# RAYON_NUM_THREADS sizes the pool our kernels and dfdx's matmuls run on.
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
if [ -n "${BENCH_BIN:-}" ]; then
    BIN=$BENCH_BIN
else
    BIN=$(cargo bench --bench "$BENCH" --no-run --message-format=json | BENCH=$BENCH "$PY" -c '
import json, os, sys
for m in map(json.loads, sys.stdin):
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == os.environ["BENCH"] and m.get("executable"):
        print(m["executable"])')
fi
LOG=$(mktemp); trap 'rm -f "$LOG"' EXIT
ours_ms() { # $1 = threads, $2 = bench id; prints criterion's median, ms per iteration
    local est=$TARGET/criterion/$2/new/estimates.json
    rm -f "$est"   # never report a stale run
    RAYON_NUM_THREADS=$1 CARGO_TARGET_DIR=$TARGET "$BIN" --bench --noplot "^$2\$" >"$LOG" 2>&1 ||
        { cat "$LOG" >&2; return 1; }
    "$PY" -c 'import json,sys; print("%.4f" % (json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e6))' "$est"
}

# The machine is shared, so the sides alternate for ROUNDS rounds and each
# cell is the best (lowest) median: the least disturbed run of each.
ROUNDS=${ROUNDS:-3}
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b + 0 < a + 0) ? b : a}'; }
