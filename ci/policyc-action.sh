#!/usr/bin/env bash
# The steps of policyc's GitHub Action (action.yml), one per argument:
#
#   install  build policyc from this repository unless `policyc` (or $POLICYC) runs
#   check    policyc check $POLICIES
#   test     policyc test $POLICIES
#   drift    policyc build --check $POLICIES --out $ARTIFACTS --home $HOME_DIR (skipped
#            when ARTIFACTS is empty)
#   diff     policyc diff --git $BASE $POLICIES: SARIF to $SARIF, markdown to
#            $GITHUB_STEP_SUMMARY, text to the log; fails as --fail-on $FAIL_ON says.
#            When ARTIFACTS is set and BASE has that folder, adds `--build $ARTIFACTS`:
#            the committed artifacts at BASE and now, compared by their simulators
#   fuzz     policyc fuzz --shard $SHARD --cases $CASES --seed $SEED $POLICIES (a nightly
#            matrix runs one shard per job)
#
# Run it locally the same way: `POLICIES=policies BASE=origin/main bash ci/policyc-action.sh diff`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POLICYC="${POLICYC:-policyc}"
read -r -a policies <<< "${POLICIES:-policies}"

case "${1:-}" in
install)
    if command -v "$POLICYC" >/dev/null 2>&1; then
        echo "policyc: using $("$POLICYC" --version)"
    else
        cargo install --locked --path "$here/cli"
    fi
    ;;
check)
    "$POLICYC" check "${policies[@]}"
    ;;
test)
    "$POLICYC" test "${policies[@]}"
    ;;
drift)
    if [ -z "${ARTIFACTS:-}" ]; then
        echo "policyc: no artifacts folder given; drift check skipped"
        exit 0
    fi
    "$POLICYC" build --check "${policies[@]}" --out "$ARTIFACTS" --home "${HOME_DIR:-/home/user}"
    ;;
diff)
    base="${BASE:-}"
    if [ -z "$base" ] && [ -n "${GITHUB_BASE_REF:-}" ]; then
        git fetch --no-tags --quiet origin "$GITHUB_BASE_REF"
        base="origin/$GITHUB_BASE_REF"
    fi
    if [ -z "$base" ]; then
        echo "policyc: no base revision (set the action's \`base\` input); diff skipped"
        exit 0
    fi
    builds=()
    if [ -n "${ARTIFACTS:-}" ]; then
        if [ -n "$(git ls-tree --name-only "$base" -- "$ARTIFACTS")" ]; then
            builds=(--build "$ARTIFACTS" --home "${HOME_DIR:-/home/user}")
        else
            echo "policyc: $base has no \`$ARTIFACTS\` folder; artifacts not compared"
        fi
    fi
    "$POLICYC" diff --git "$base" "${policies[@]}" "${builds[@]}" --format sarif \
        --fail-on none --output "${SARIF:-policyc-diff.sarif}"
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        "$POLICYC" diff --git "$base" "${policies[@]}" "${builds[@]}" --format markdown \
            --fail-on none >> "$GITHUB_STEP_SUMMARY"
    fi
    "$POLICYC" diff --git "$base" "${policies[@]}" "${builds[@]}" --fail-on "${FAIL_ON:-widen}"
    ;;
fuzz)
    "$POLICYC" fuzz --shard "${SHARD:-1/1}" --cases "${CASES:-100000}" --seed "${SEED:-1}" \
        "${policies[@]}"
    ;;
*)
    echo "usage: policyc-action.sh install|check|test|drift|diff|fuzz" >&2
    exit 2
    ;;
esac
