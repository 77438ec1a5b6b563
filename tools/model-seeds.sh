#!/usr/bin/env bash
# Runs the core's model test (src/mm/tests/model) over seeds FROM..TO, each
# with OPS operations (default 40000), in a release build. `cargo test` runs
# it with one seed; a bug a few thousand steps into another trajectory shows
# only here. Prints a line per seed and exits non-zero if any failed; a
# failure replays with the command printed for it.
#
#   tools/model-seeds.sh 1 8
#   tools/model-seeds.sh 33 33 60000
set -euo pipefail
cd "$(dirname "$0")/.."

from=${1:?usage: tools/model-seeds.sh FROM TO [OPS]}
to=${2:?usage: tools/model-seeds.sh FROM TO [OPS]}
ops=${3:-40000}
test=mm::tests::model::model_random_sequences_match_the_reference_model

cargo test --release --lib --no-run --quiet
failed=0
for seed in $(seq "$from" "$to"); do
    # A hang is a failure too: each seed takes well under a minute.
    if out=$(MMFS_SEED=$seed MMFS_MODEL_OPS=$ops timeout 600 \
        cargo test --release --lib --quiet -- --exact "$test" 2>&1); then
        echo "seed $seed: ok ($ops operations on each arch)"
    else
        failed=1
        echo "seed $seed: FAILED"
        echo "$out" | grep -A2 'panicked' | head -3 || echo "  (no panic: it ran for 600 s, a hang)"
        echo "  replay: MMFS_SEED=$seed MMFS_MODEL_OPS=$ops cargo test --release --lib $test"
    fi
done
exit $failed
