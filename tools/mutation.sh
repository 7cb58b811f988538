#!/usr/bin/env bash
# Mutation testing of the instruments with mutmut (pip install -e '.[mutation]'): the modules
# and the fast covering tests are in pyproject.toml's [tool.mutmut]. Not part of the default
# suite. One process, one thread, a wall-clock budget (seconds, default 2400) shared by the
# mutant-name globs in the order given; a glob cut off by the budget keeps its finished mutants.
#
#   bash tools/mutation.sh                            # analysis, probe, basins, study
#   bash tools/mutation.sh 'amlab.probe.x_judge*'     # the mutants of one function
#   BUDGET=600 bash tools/mutation.sh 'amlab.basins.*'
#
# Then `mutmut results` lists the survivors and `mutmut show NAME` prints one as a diff.
set -u
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 CI=true
unset PYTHONPATH  # mutmut puts its mutated copy (mutants/) first on the path itself
MUTMUT=${MUTMUT:-mutmut}
globs=("$@")
[ ${#globs[@]} -eq 0 ] && globs=('amlab.studies.transition.analysis.*' 'amlab.probe.*' 'amlab.basins.*' 'amlab.studies.transition.study.*')
end=$(( $(date +%s) + ${BUDGET:-2400} ))
for glob in "${globs[@]}"; do
    left=$(( end - $(date +%s) ))
    [ "$left" -le 0 ] && { echo "budget spent before $glob"; break; }
    echo "== $glob (${left} s left)"
    timeout "$left" "$MUTMUT" run --max-children 1 "$glob" | tr '\r' '\n' | tail -n 3
done
"$MUTMUT" results
