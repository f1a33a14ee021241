#!/usr/bin/env bash
# Instructions per streamed text delta of the provider-native readers (not wired into the filter
# yet), natively under callgrind, against the OpenAI chat path's per-event work measured in the
# same run: one event per chunk, as real streams arrive.
#
#   bash tests/bench/providers.sh          # ~1 minute after the first build
#
# Per delta = (I(400 deltas) − I(200 deltas)) / (200 × N), so set-up and the stream's start and
# end events cancel out. Native x86 counts, not Wasm: compare the ratios, not the absolute values.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo build -q --release --manifest-path tests/bench/providers-profile/Cargo.toml
BIN=tests/bench/providers-profile/target/release/bench-providers-profile
OUT=$(mktemp -d)
N=${BENCH_PROVIDER_RUNS:-20}
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$OUT/cg" "$BIN" "$1" "$2" "$N" >"$OUT/stdout" 2>/dev/null
  awk '/^(summary|totals):/ {print $2; exit}' "$OUT/cg"
}
base=
printf '%-10s %12s %14s %10s\n' stream delta_bytes per_delta vs_openai
for kind in openai anthropic converse invoke; do
  a=$(instructions "$kind" 200)
  b=$(instructions "$kind" 400)
  bytes=$(awk '{print $4}' "$OUT/stdout")
  per=$(( (b - a) / (200 * N) ))
  [ -z "$base" ] && base=$per
  printf '%-10s %12s %14s %9.2fx\n' "$kind" "$bytes" "$per" "$(echo "$per / $base" | bc -l)"
done
rm -rf "$OUT"
