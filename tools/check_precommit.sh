#!/usr/bin/env bash
# The pre-commit hook of .pre-commit-hooks.yaml, as a user's repository runs it
# (`pre-commit try-repo`): it passes on a clean net and fails on a bad one.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q
cp "$repo/tests/data/audit/clean.prototxt" clean.prototxt
cp "$repo/tests/data/audit/bad.prototxt" bad.pt
git add clean.prototxt bad.pt
pre-commit try-repo "$repo" caffefill-audit --files clean.prototxt
if pre-commit try-repo "$repo" caffefill-audit --files bad.pt; then
    echo "pre-commit hook: the bad net passed" >&2
    exit 1
fi
echo "pre-commit hook: passes on a clean net, fails on a bad one"
