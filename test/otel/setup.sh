#!/usr/bin/env bash
# Builds the OpenTelemetry Collector the tests send the gateway's spans through
# (test/integration/otel-collector.spec.ts): test/otel/collector, the collector's own OTLP
# receiver and OTLP/HTTP exporter from its Go modules, pinned in go.mod/go.sum. The binary goes
# outside the clone, to ~/.cache/modelgate-otelcol/<hash of the inputs>/otelcol
# (MODELGATE_OTELCOL_CACHE moves it), so a fresh clone reuses it; Go's module and build caches
# keep the downloads. Quick when built; prints the binary's path. Needs go (1.26+); .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/collector"
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
cache=${MODELGATE_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelgate-otelcol}
hash=$(cat go.mod go.sum main.go | sha256sum | cut -c1-16)
out=$cache/$hash/otelcol
if [ ! -x "$out" ]; then
  mkdir -p "$cache/$hash"
  started=$(date +%s)
  go build -o "$out.$$.tmp" .
  mv "$out.$$.tmp" "$out"
  echo "test/otel/setup.sh: built the test collector in $(($(date +%s) - started)) s" >&2
fi
echo "$out"
