#!/usr/bin/env bash
# Podium as a gateway command for the independent harness in shared/bench (run_anchor.sh):
#
#   ./run_anchor.sh --quick --targets "direct floor" 'exec /work/main/benchmarks/podium_for_shared_harness.sh'
#
# The harness sets GW_PORT, UPSTREAM_API_BASE and BENCH_KEY (default sk-bench). This writes a podium.yaml
# forwarding fake-gpt, fake-gpt-d<N> and fake-gpt-c<N> unchanged to the upstream, makes BENCH_KEY the
# admin key of a fresh store (PODIUM_ADMIN_KEY is honoured on the first start of an empty store, and any
# string may be that key), and execs `podium serve`, so the harness measures Podium's own process.
# BENCH_DELAYS / BENCH_CHUNK_DELAY must match the harness's --delays / --chunk-delay (defaults "0 50", 5).
# PODIUM_PYTHON picks the interpreter (default: the repository's .venv).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=${PODIUM_PYTHON:-$here/../.venv/bin/python}
: "${GW_PORT:?GW_PORT is not set (the harness sets it)}"
: "${UPSTREAM_API_BASE:?UPSTREAM_API_BASE is not set (the harness sets it)}"
# A fresh data dir on every start, so the admin key is bootstrapped; it is left behind (a few hundred KB)
# because exec leaves no one to remove it.
dir=$(mktemp -d "${TMPDIR:-/tmp}/podium-shared-bench.XXXXXX")
"$py" "$here/shared_harness_config.py" --api-base "$UPSTREAM_API_BASE" \
  --delays "${BENCH_DELAYS:-0 50}" --chunk-delay "${BENCH_CHUNK_DELAY:-5}" > "$dir/podium.yaml"
export PODIUM_ADMIN_KEY=${BENCH_KEY:-sk-bench}
exec "$py" -m podium serve --config "$dir/podium.yaml" --port "$GW_PORT" --data-dir "$dir/data"
