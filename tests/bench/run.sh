#!/usr/bin/env bash
# `make bench`: instructions per request of llm-telemetry in Envoy, against bare Envoy and a
# do-nothing Wasm filter, plus indicative wrk throughput. See tests/bench/bench.py for the method.
#
#   make bench                                # everything (~7 min on 2 cores)
#   BENCH_N1=100 BENCH_N2=400 make bench      # fewer requests per phase
#   BENCH_CONFIGS=b,r,c BENCH_WRK_ROUNDS=0 make bench   # some valgrind runs only, no wrk
#   BENCH_NO_BUILD=1 bash tests/bench/run.sh --no-valgrind   # extra arguments go to bench.py
#
# Other knobs: BENCH_WARMUP (100), BENCH_IDLE (8 s), BENCH_JOBS (2 valgrind Envoys at once),
# BENCH_WRK_SECONDS (5), BENCH_WRK_ROUNDS (2); `bench.py --help`.
# An A/B in one run: configuration x is another build (BENCH_ALT_WASM=path) and/or our build
# under another plugin configuration (BENCH_ALT_CONFIG='{"telemetry_settings": ...}'); add x to
# BENCH_CONFIGS (e.g. b,c,x) and the report prints x against b and c.
#
# Output: a table on stdout and .run/bench/<timestamp>/results.md (not committed), the headline
# figures in results.json (json_instructions_over_noop, sse_instructions_over_noop,
# sse_chunked_instructions_over_noop_per_event, wasm_bytes; bare, noop and the reading floor of the
# same run, and ours over that floor), with
# the callgrind dumps and Envoy logs next to it.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Tools: valgrind (instruction counts), callgrind_control (dumps), wrk (throughput).
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (apt-get)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  make deps
fi
ENVOY_BIN=${ENVOY_BIN:-$(ls -1 .venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n1 || true)}
if [ -z "$ENVOY_BIN" ] || [ ! -x "$ENVOY_BIN" ]; then
  echo "Envoy not found: run \`make deps\` or set ENVOY_BIN" >&2
  exit 1
fi
export ENVOY_BIN

# The filter under test (make build), unless BENCH_NO_BUILD=1 and it exists.
if [ "${BENCH_NO_BUILD:-0}" != 1 ] || [ ! -f build/llm_telemetry.wasm ]; then
  make build >&2
fi

# The do-nothing filter: its own crate (not a workspace member), built like ours.
NOOP_TARGET=$REPO/target/bench-noop
NOOP_WASM=$REPO/build/bench-noop-filter.wasm
(cd tests/bench/noop-filter && CARGO_TARGET_DIR=$NOOP_TARGET cargo build -q --release --target wasm32-wasip1) >&2
# The same crate with `--features read`: the reading floor (header maps and body chunks read,
# nothing done with them).
READER_TARGET=$REPO/target/bench-reader
READER_WASM=$REPO/build/bench-reader-filter.wasm
(cd tests/bench/noop-filter && CARGO_TARGET_DIR=$READER_TARGET cargo build -q --release --target wasm32-wasip1 --features read) >&2
mkdir -p build
optimise() {
  if command -v wasm-opt >/dev/null; then
    wasm-opt -Oz --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
      --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext \
      --enable-extended-const "$1" -o "$2"
  else
    cp "$1" "$2"
  fi
}
optimise "$NOOP_TARGET/wasm32-wasip1/release/noop_filter.wasm" "$NOOP_WASM"
optimise "$READER_TARGET/wasm32-wasip1/release/noop_filter.wasm" "$READER_WASM"

# The core natively with symbols, to name where the Wasm's instructions go. It drives the core's
# API as the adapter does: when a core change breaks it, the bench fails (fix the profile).
if ! (cd tests/bench/core-profile && CARGO_TARGET_DIR=$REPO/target/bench-core-profile cargo build -q --release) >&2; then
  echo "error: tests/bench/core-profile does not build (it follows filter/wasm/src/lib.rs's calls into the core)" >&2
  exit 1
fi
PROFILE_ARGS=(--core-profile "$REPO/target/bench-core-profile/release/bench-core-profile")

exec "$PY" tests/bench/bench.py --noop-wasm "$NOOP_WASM" --reader-wasm "$READER_WASM" \
  --wasm "$REPO/build/llm_telemetry.wasm" \
  "${PROFILE_ARGS[@]}" "$@"
