#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with the seed inputs: every `.policy` file of the standard
# library and of tests/corpus/. For `parse` and `fmt_roundtrip` they are inputs as they
# stand; the structured targets (`compile`, `emit_simulate`, `bpf_libseccomp`) decode the
# same bytes with `arbitrary`, so there they are varied starting entropy, not policies.
# Files are named by content hash, so running this again adds nothing new.
set -euo pipefail
cd "$(dirname "$0")"

targets=(parse compile fmt_roundtrip emit_simulate bpf_libseccomp)
mapfile -t seeds < <(find ../stdlib-policies ../tests/corpus -name '*.policy' -type f | sort)
if [ "${#seeds[@]}" -eq 0 ]; then
    echo "seed.sh: no .policy files found" >&2
    exit 1
fi
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    for f in "${seeds[@]}"; do
        sum=$(sha1sum "$f" | cut -d' ' -f1)
        cp "$f" "corpus/$t/seed-$sum"
    done
done
echo "seed.sh: ${#seeds[@]} seeds in each of ${#targets[@]} corpora under fuzz/corpus/"
