#!/usr/bin/env bash
# `just bench` (third part): Tessera's Dawid-Skene EM against crowd-kit's DawidSkene (PyPI) on
# the same simulated answers: 1,000,000 answers to 100,000 tasks by 10,000 volunteers, 4 classes
# (good, biased and spamming volunteers). Each fit runs in its own process, so each peak memory
# is its own. Prints a Markdown table.
#
# Env: BENCH_EM_ANSWERS (1000000), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${BENCH_EM_ANSWERS:-1000000}
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
venv=e2e/.venv-crowdkit
if [ ! -x "$venv/bin/python" ] || ! cmp -s e2e/requirements-crowdkit.txt "$venv/requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r e2e/requirements-crowdkit.txt
    cp e2e/requirements-crowdkit.txt "$venv/requirements.txt"
fi
printf '==> %s\n' "Dawid-Skene on $N answers: Tessera, then crowd-kit" >&2
report=$("$venv/bin/python" e2e/crowdkit/compare.py --tessera "$bin/tessera" \
    --answers "$N" --tasks $((N / 10)) --workers $((N / 100)))
python3 - "$report" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
t, c = r["tessera"], r["crowdkit"]
rows = [
    ("Tessera EM: fit time (s), rounds", f"{t['fit_seconds']:.2f}, {t['iterations']}"),
    ("crowd-kit DawidSkene: fit time (s)", f"{c['fit_seconds']:.2f}"),
    ("Tessera speed-up", f"{r['speedup']:.1f}×"),
    ("peak memory (MB): Tessera / crowd-kit", f"{t['peak_kb'] / 1024:.0f} / {c['peak_kb'] / 1024:.0f}"),
    ("same label on (share of tasks)", f"{r['agreement']:.2%}"),
    ("accuracy: Tessera / crowd-kit / majority vote",
     f"{t['accuracy']:.2%} / {c['accuracy']:.2%} / {r['majority_accuracy']:.2%}"),
]
print(f"| Dawid-Skene ({r['answers']:,} answers, {r['tasks']:,} tasks, {r['workers']:,} volunteers, 4 classes) | value |")
print("|---|---|")
for k, v in rows:
    print(f"| {k} | {v} |")
PY
