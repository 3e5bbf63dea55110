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
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need_apt+=(postgresql); fi
# test/interop: python3 with venv (the Python clients' venv) and go (the Go client).
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need_apt+=(python3 python3-venv)
fi
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
go_backports=""
if ! command -v go >/dev/null; then
  # Debian bookworm's own go (1.19) is too old; its backports' go (>= 1.21) fetches the
  # toolchain test/interop/go/go.mod needs from the Go module proxy.
  go_backports="$(. /etc/os-release && echo "$VERSION_CODENAME")-backports"
  if [ "$(id -u)" = 0 ]; then
    echo "deb http://deb.debian.org/debian $go_backports main" >/etc/apt/sources.list.d/modelgate-go-backports.list
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

