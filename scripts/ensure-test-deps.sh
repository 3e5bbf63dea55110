#!/usr/bin/env bash
# What the test suite needs besides npm packages: real PostgreSQL and Redis servers, python3 with
# venv and go for the interop clients, chromium for the browser test, curl. `npm test` runs this
# first: it is quick when everything is there, installs what is missing with apt-get when run as
# root on Debian (as CI does), and otherwise says exactly what to install.
set -euo pipefail

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v git >/dev/null || need_apt+=(git)
# test/browser: a real Chromium (Debian's) for the connect-web CORS test; playwright-core drives it.
command -v chromium >/dev/null || need_apt+=(chromium)
# test/contract and the replica tests run real servers: Redis counters, PostgreSQL stores.
command -v redis-server >/dev/null || need_apt+=(redis-server)
# test/integration/prometheus.spec.ts: a real Prometheus scrapes the gateway; promtool checks deploy/prometheus.
command -v prometheus >/dev/null && command -v promtool >/dev/null || need_apt+=(prometheus)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need_apt+=(postgresql); fi
# test/interop: python3 with venv (the Python clients' venv) and go (the Go client).
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need_apt+=(python3 python3-venv)
fi
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
# test/interop java and rust (test/interop/setup.sh java|rust): Maven and a JDK for grpc-java;
# protoc for tonic-prost-build. cargo itself comes from rustup (~/.cargo/bin): Debian's is too old.
command -v mvn >/dev/null || need_apt+=(maven)
command -v javac >/dev/null || need_apt+=(default-jdk-headless)
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
if ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "ensure-test-deps: no cargo on PATH or in ~/.cargo/bin: the Rust interop client needs Rust 1.75+ (rustup)" >&2
fi
# The URI this machine's apt already uses for the main Debian archive (the suite named after the
# release, e.g. "bookworm"), from one-line files (sources.list, *.list) and deb822 files
# (*.sources, "URIs:"), each followed by the keyring file it is signed by, if it names one.
# One line per match; the first is used. No mirror is named here: whatever the machine uses.
debian_archive_sources() {
  local suite=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      $1 == "deb" {
        i = 2; keyring = ""
        if ($i ~ /^\[/) {
          for (; i < NF; i++) {
            if (match($i, /signed-by=\/[^] ]*/)) keyring = substr($i, RSTART + 10, RLENGTH - 10)
            if ($i ~ /\]$/) break
          }
          i++
        }
        if ($(i + 1) == suite) print $i (keyring != "" ? " " keyring : "")
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      function flush() {
        if (deb && enabled && matches && uri != "") print uri (keyring != "" ? " " keyring : "")
        deb = 0; enabled = 1; matches = 0; uri = ""; keyring = ""
      }
      BEGIN { enabled = 1 }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) matches = 1 }
      tolower($1) == "enabled:" { enabled = tolower($2) != "no" }
      tolower($1) == "signed-by:" && $2 ~ /^\// { keyring = $2 }
      END { flush() }' "$f"
  done
}

go_backports=""
if ! command -v go >/dev/null; then
  # Debian bookworm's own go (1.19) is too old; its backports' go (>= 1.21) fetches the
  # toolchain test/interop/go/go.mod needs from the Go module proxy.
  codename="$(. /etc/os-release && echo "$VERSION_CODENAME")"
  go_backports="$codename-backports"
  if [ "$(id -u)" = 0 ]; then
    found="$(debian_archive_sources "$codename")"
    read -r archive keyring <<<"${found%%$'\n'*}" || true
    if [ -z "${archive:-}" ]; then
      echo "ensure-test-deps: no apt source for the Debian archive (suite $codename) in /etc/apt/sources.list{,.d/}," >&2
      echo "so $go_backports cannot be added next to it. Install Go 1.21+ (golang-go from $go_backports) and run npm test again." >&2
      exit 1
    fi
    rm -f /etc/apt/sources.list.d/modelgate-go-backports.list # written by earlier versions of this script
    {
      echo "# Added by modelgate's scripts/ensure-test-deps.sh for golang-go; the archive the machine already uses."
      echo "Types: deb"
      echo "URIs: $archive"
      echo "Suites: $go_backports"
      echo "Components: main"
      if [ -n "${keyring:-}" ]; then echo "Signed-By: $keyring"; fi
    } >/etc/apt/sources.list.d/modelgate-go-backports.sources
  fi
fi
if [ ${#need_apt[@]} -gt 0 ] || [ -n "$go_backports" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "the tests need: ${need_apt[*]} ${go_backports:+golang-go (>= 1.21)}" >&2
    echo "install them (Debian: sudo apt-get install -y ${need_apt[*]} ${go_backports:+golang-go}) and run npm test again" >&2
    exit 1
  fi
  apt-get update -qq
  [ ${#need_apt[@]} -eq 0 ] || apt-get install -y -qq "${need_apt[@]}"
  if [ -n "$go_backports" ]; then
    apt-get install -y -qq -t "$go_backports" golang-go
  fi
fi

