#!/usr/bin/env bash
# bayescale's set-up and entry points. On a fresh clone:
#   ./run.sh main    create .venv (Python >= 3.12), install bayescale, fit Epoch's 240 Chinchilla
#                    runs and print the posterior compute-optimal frontier
#   ./run.sh test    same set-up, then ruff, the import contracts, the docs site and the tests
#   ./run.sh bench [suite|epoch|pooling|baseline [fit|extrapolation|starts]|transfer|cli|
#                   convergence|beyond|all]   same set-up, then
#                    the benchmarks (tables printed, CSV in benchmarks/results); default: suite,
#                    every data set x sampler, the scaling sweep and the baseline in one run
# Published data: read from $BAYESCALE_DATA_MIRROR, else from ../shared/data when it exists,
# else downloaded from upstream (pinned commit, sha256-checked) into the user cache.
set -euo pipefail
cd "$(dirname "$0")"

find_python() {
  local candidate pyenv_root
  pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for candidate in "${PYTHON:-}" python3.12 python3.13 python3.14 python3 \
      "$pyenv_root"/versions/3.1[2-9]*/bin/python3; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate" || echo "$candidate"
      return 0
    fi
  done
  return 1
}

setup() {
  if [ ! -x .venv/bin/python ]; then
    local python
    if ! python=$(find_python); then
      echo "run.sh: error: bayescale needs Python >= 3.12 (PyMC 6 and ArviZ 1 require it) and" \
           "none was found; install python3.12, or set PYTHON=/path/to/python3.12" >&2
      exit 1
    fi
    echo "run.sh: creating .venv with $python ($("$python" --version))" >&2
    "$python" -m venv .venv
  fi
  local stamp=.venv/.bayescale-installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "run.sh: installing bayescale and its dependencies into .venv" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test,jax,dask,docs]"
    touch "$stamp"
  fi
  if [ -z "${BAYESCALE_DATA_MIRROR:-}" ] && [ -d ../shared/data ]; then
    export BAYESCALE_DATA_MIRROR
    BAYESCALE_DATA_MIRROR=$(cd ../shared/data && pwd)
    echo "run.sh: reading published data from the mirror $BAYESCALE_DATA_MIRROR" >&2
  fi
}

case "${1:-}" in
  main)
    setup
    mkdir -p out
    .venv/bin/bayescale fit epoch-chinchilla -o out/epoch-chinchilla.nc --overwrite
    echo
    .venv/bin/bayescale optimal out/epoch-chinchilla.nc \
      --flops 1e21 1e22 1e23 5.76e23 1e24 1e25 1e26
    echo
    .venv/bin/bayescale optimality out/epoch-chinchilla.nc \
      --famous gpt-3 gopher chinchilla palm llama-2-70b llama-3-70b llama-3.1-405b
    ;;
  test)
    setup
    shift
    .venv/bin/python -m ruff check .
    .venv/bin/lint-imports
    site=$(mktemp -d)
    NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site"
    # the API reference shows names, not docstrings' raw Sphinx roles (docs/hooks.py)
    if grep -rlE ':(func|meth|class|data|attr|mod|obj|exc):' "$site" --include=*.html; then
      echo "run.sh: raw Sphinx roles in the docs site (files above)" >&2
      exit 1
    fi
    # A missing data mirror fails the run here instead of skipping the tests that need it.
    BAYESCALE_REQUIRE_DATA=1 .venv/bin/python -m pytest --durations=15 "$@"
    ;;
  bench)
    setup
    shift
    which=${1:-suite}
    [ $# -gt 0 ] && shift
    case "$which" in
      suite) .venv/bin/python benchmarks/suite.py "$@" ;;
      epoch) .venv/bin/python benchmarks/epoch_fit.py "$@" ;;
      pooling) .venv/bin/python benchmarks/pooling_gadre.py "$@" ;;
      baseline) .venv/bin/python benchmarks/baseline_vs_bayes.py "$@" ;;
      transfer) .venv/bin/python benchmarks/transfer.py "$@" ;;
      convergence) .venv/bin/python benchmarks/convergence.py "$@" ;;
      beyond) .venv/bin/python benchmarks/beyond.py "$@" ;;
      cli) .venv/bin/python benchmarks/cli_speed.py "$@" ;;
      all) .venv/bin/python benchmarks/suite.py
           .venv/bin/python benchmarks/epoch_fit.py
           .venv/bin/python benchmarks/pooling_gadre.py
           .venv/bin/python benchmarks/baseline_vs_bayes.py ;;
      *) echo "usage: ./run.sh bench [suite | epoch | pooling | baseline | transfer | cli | convergence | beyond | all] [options]" >&2
         exit 2 ;;
    esac
    ;;
  *)
    echo "usage: ./run.sh main | test [pytest args] | bench [suite | epoch | pooling | baseline | transfer | cli | convergence | beyond | all]" >&2
    exit 2
    ;;
esac
