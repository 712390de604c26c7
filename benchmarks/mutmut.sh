#!/usr/bin/env bash
# Mutation testing of one module with a tool (mutmut 3, from the package index) instead of
# hand-picked mutants: every one-line mutant mutmut makes of MODULE is run against TESTS, and the
# survivors are listed (benchmarks/README.md, "mutmut", records them, each pinned or explained).
#
#   benchmarks/mutmut.sh dqlabels/studies/verdicts.py tests/test_verdicts.py [more tests ...]
#
# MUTMUT_CHILDREN=N runs N mutants at a time (default: one per CPU); KERAS_BACKEND=numpy lets the
# tests that build Keras models run in mutmut's forked processes (TensorFlow's thread pools do
# not survive a fork; the numpy backend builds and runs models without them). MUTMUT_NAMES
# runs only the mutants whose names match (mutmut's own patterns, e.g.
# "dqlabels.learning.models.x_densenet_backbone*").
#
# It works on a copy of the tree beside this one (so that ../shared is found as in the tests),
# with the venv's packages on PYTHONPATH and the interpreter the venv was made from: the
# editable install's import hook would otherwise map `dqlabels` back to this tree and no test
# would see a mutant. Tests run in-process without xdist (mutmut records which tests reach
# which function). Needs `pip install mutmut` in .venv (the "mutation" extra).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 MODULE TEST [TEST ...]" >&2; exit 2; }
module=$1; shift
python=$("$repo/.venv/bin/python" -c 'import sys; print(sys._base_executable)')
site=$("$repo/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
work=$(mktemp -d -p "$(dirname "$repo")" mutmut-XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$work")
{
    echo "[mutmut]"
    echo "source_paths = dqlabels"
    echo "only_mutate = $module"
    printf 'also_copy =\n    cli\n    examples\n    benchmarks\n    docs\n    README.md\n    pyproject.toml\n'
    printf 'pytest_add_cli_args =\n    -o\n    addopts=\n    -p\n    no:xdist\n    -p\n    no:cacheprovider\n'
    echo "pytest_add_cli_args_test_selection ="
    for test in "$@"; do echo "    $test"; done
} > "$work/setup.cfg"
# The tests run in mutmut's own copy (work/mutants) and read ../shared from there.
[ -e "$(dirname "$repo")/shared" ] && ln -s "$(dirname "$repo")/shared" "$work/shared"
# The CLI package is installed as dqlabels_cli (an editable install's import hook, left out).
mkdir "$work/.cli-path" && ln -s "$work/mutants/cli" "$work/.cli-path/dqlabels_cli"
cd "$work"
export PYTHONPATH="$site:$work/.cli-path"
# One BLAS thread per process: an OpenBLAS thread pool started before mutmut forks hangs the
# forked mutant's first matrix product (seen as "timeouts" of equivalent mutants), and mutmut
# runs its mutants side by side anyway.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# shellcheck disable=SC2086 # MUTMUT_NAMES: patterns, split on spaces
"$python" -m mutmut run --max-children "${MUTMUT_CHILDREN:-$(nproc)}" ${MUTMUT_NAMES:-} > mutmut-run.log 2>&1 || true
grep -E "^E |rror|collected" mutmut-run.log | tail -8 || true
# The final tally: mutants done/all, then killed, no tests, timeout, suspicious, survived, …
tr '\r' '\n' < mutmut-run.log | grep -E "[0-9]+/[0-9]+ " | tail -1 || true
"$python" -m mutmut results --all true 2>/dev/null | grep -v ": killed$" | grep -v ": no tests$" || true
# Mutants no selected test reaches, counted per function (their diffs would take a process each).
"$python" -m mutmut results --all true 2>/dev/null | awk -F: '/: no tests$/ {sub(/__mutmut_[0-9]+$/, "", $1); print $1}' \
    | sort | uniq -c | sed 's/^/    no tests: /' || true
for name in $("$python" -m mutmut results 2>/dev/null | awk -F: '/survived/ {print $1}'); do
    echo "--- $name"
    "$python" -m mutmut show "$name" 2>/dev/null | sed -n '3,40p' | grep '^[-+]' | grep -v '^[-+][-+]' || true
done
