#!/usr/bin/env bash
# Builds the OpenTelemetry Collector the tests send the gateway's spans through
# (test/integration/otel-collector.spec.ts): test/otel/collector, the collector's own OTLP
# receiver and OTLP/HTTP exporter from its Go modules, pinned in go.mod/go.sum. The binary goes
# outside the clone, to ~/.cache/modelgate-otelcol/<hash of the inputs>/otelcol
# (MODELGATE_OTELCOL_CACHE moves it), so a fresh clone reuses it; Go's module and build caches
# keep the downloads. Quick when built; prints the binary's path. Needs go (1.26+); .ci/run runs it.
#
# `bash test/otel/setup.sh mlflow` instead builds the MLflow tracking server that
# test/integration/otel-mlflow.spec.ts sends the spans to (MLflow 3 takes OTLP at /v1/traces):
# a venv with mlflow==3.8.1 and SQLAlchemy 2.0 (its SQL store does not load with 2.1) in
# ~/.cache/modelgate-mlflow-server/<hash>/venv (MODELGATE_MLFLOW_SERVER_CACHE moves it); about
# 1.5 minutes the first time, from pip's cache after. Needs python3 3.10+. Prints the venv's path.
set -euo pipefail
if [ "${1:-}" = mlflow ]; then
  requirements="mlflow==3.8.1 SQLAlchemy==2.0.58"
  cache=${MODELGATE_MLFLOW_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelgate-mlflow-server}
  venv=$cache/$(echo "$requirements" | sha256sum | cut -c1-16)/venv
  # Built in place (a venv cannot move: its scripts name its python); `.complete` marks it done.
  if [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # the requirements are words
    "$venv/bin/pip" install -q --disable-pip-version-check $requirements
    touch "$venv/.complete"
  fi
  echo "$venv"
  exit 0
fi
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
