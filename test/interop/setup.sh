#!/usr/bin/env bash
# Builds what the interop tests in test/interop run (polyglot.spec.ts; the Python ones through
# python-env.ts):
#   - test/interop/.venv: a Python venv with the pinned python/requirements.txt (grpcio,
#     grpcio-tools, mlflow-skinny, openai)
#   - test/interop/python/gen: Python stubs from proto/ (grpc_tools.protoc)
#   - test/interop/.bin/protoc-gen-go{,-grpc}: the plugin versions pinned as tools in go/go.mod
#   - test/interop/go/gen: Go stubs from proto/ (buf generate --template buf.gen.go.yaml)
#   - test/interop/.bin/interop-client-go: the Go client
# The stubs are committed (readable without a setup; .ci/run checks that this script reproduces
# them); .venv and .bin are gitignored. Idempotent and quick when done: each step records a hash
# of its inputs in a stamp file and is skipped while they are unchanged. What the first run
# downloads stays in the user's caches (pip's ~/.cache/pip, Go's module and build caches), so
# even a fresh clone builds from them.
# Needs python3 (3.9+, with venv) and go (1.26+, or one that can fetch the go.mod toolchain);
# .ci/run installs what is missing. Usage: bash test/interop/setup.sh
#
# `bash test/interop/setup.sh mlflow-gateway` builds only the real MLflow AI Gateway that
# test/mlflow-diff compares modelgate with: test/interop/.bin/venv-mlflow-gateway, a venv of its
# own with python/requirements-mlflow-gateway.txt (mlflow[gateway]==3.8.1, every dependency
# pinned), so the pins above stay as they are. Needs python3 3.10+ only; its own stamp and lock.
# The first build downloads about 300 MB (pandas, scipy, pyarrow ... come with mlflow[gateway]):
# about 2 minutes here, then seconds from pip's cache.
#
# `bash test/interop/setup.sh java` builds only the Java client (test/interop/java, grpc-java):
# mvn (3.8+) and a JDK 17+; protoc and protoc-gen-grpc-java come from Maven Central as Maven
# artifacts. `bash test/interop/setup.sh rust` builds only the Rust client (test/interop/rust,
# tonic): cargo (PATH or ~/.cargo/bin) and protoc (Debian's protobuf-compiler, which
# scripts/ensure-test-deps.sh installs). Their build output stays outside the clone, in
# ~/.cache/modelgate-interop/{java,rust}-target (MODELGATE_INTEROP_CACHE moves it), with Maven's
# ~/.m2 and cargo's registry as download caches: a fresh clone rebuilds incrementally. Each
# writes a launcher, test/interop/.bin/interop-client-{java,rust}. First builds: about 1.5
# minutes each on 2 cores; then well under a second while the inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
interop=test/interop
bin=$interop/.bin
venv=$interop/.venv
mkdir -p "$bin"

fail() {
  echo "test/interop/setup.sh: $*" >&2
  exit 1
}

# The hash of the named files' contents and names, plus any extra words (tool versions).
inputs_hash() {
  local words=$1
  shift
  { echo "$words"; sha256sum "$@"; } | sha256sum | cut -d' ' -f1
}

# up_to_date STAMP HASH: true when STAMP holds HASH (the step already ran on these inputs).
up_to_date() {
  [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]
}

if [ "${1:-}" = "mlflow-gateway" ]; then
  exec 8>"$bin/setup-mlflow-gateway.lock"
  flock 8
  python=$(command -v python3 || true)
  [ -n "$python" ] || fail "python3 not found on PATH. Install Python 3.10+ with venv (Debian: apt-get install python3 python3-venv)."
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || fail "$("$python" -V 2>&1) is too old: MLflow 3.8 needs Python 3.10+."
  "$python" -c 'import venv, ensurepip' 2>/dev/null \
    || fail "$python has no venv/ensurepip module (Debian: apt-get install python3-venv)."
  gw_venv=$bin/venv-mlflow-gateway
  gw_hash=$(inputs_hash "$python $("$python" -c 'import sys; print(sys.version)')" $interop/python/requirements-mlflow-gateway.txt)
  if ! up_to_date $gw_venv/.setup-stamp "$gw_hash"; then
    echo "== MLflow gateway venv ($("$python" -V 2>&1)) with $interop/python/requirements-mlflow-gateway.txt"
    "$python" -m venv --clear $gw_venv
    $gw_venv/bin/python -m pip install --quiet --disable-pip-version-check -r $interop/python/requirements-mlflow-gateway.txt
    echo "$gw_hash" >$gw_venv/.setup-stamp
  fi
  exit 0
fi

cache=${MODELGATE_INTEROP_CACHE:-$HOME/.cache/modelgate-interop}
if [ "${1:-}" = "java" ]; then
  mkdir -p "$cache"
  exec 8>"$cache/java.lock" # the build folder is shared by every clone of this user
  flock 8
  mvn=$(command -v mvn || true)
  [ -n "$mvn" ] || fail "mvn not found on PATH. Install Maven 3.8+ and a JDK 17+ (Debian: apt-get install maven openjdk-17-jdk-headless)."
  java=$(command -v java || true)
  [ -n "$java" ] || fail "java not found on PATH. Install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)."
  java_target=$cache/java-target
  java_hash=$(inputs_hash "$(readlink -f "$java") $(readlink -f "$mvn")" \
    $interop/java/pom.xml $(find $interop/java/src -type f | sort) proto/modelgate/v1/*.proto)
  if ! up_to_date "$java_target/.setup-stamp" "$java_hash" || [ ! -x $bin/interop-client-java ]; then
    echo "== java client (grpc-java, stubs from proto/ at build time) -> $java_target"
    (cd $interop/java && "$mvn" -B -q -Dstyle.color=never package -Dinterop.buildDir="$java_target")
    [ -s "$java_target/classpath.txt" ] || fail "mvn package wrote no $java_target/classpath.txt"
    {
      echo '#!/bin/sh'
      echo "# Written by test/interop/setup.sh java: the Java interop client built in $java_target."
      echo "exec \"$java\" -cp \"$java_target/classes:\$(cat \"$java_target/classpath.txt\")\" modelgate.interop.Main \"\$@\""
    } >$bin/interop-client-java.tmp
    chmod +x $bin/interop-client-java.tmp && mv $bin/interop-client-java.tmp $bin/interop-client-java
    echo "$java_hash" >"$java_target/.setup-stamp"
  fi
  exit 0
fi
if [ "${1:-}" = "rust" ]; then
  mkdir -p "$cache"
  exec 8>"$cache/rust.lock"
  flock 8
  cargo=$(command -v cargo || true)
  [ -n "$cargo" ] || { [ -x "$HOME/.cargo/bin/cargo" ] && cargo=$HOME/.cargo/bin/cargo; }
  [ -n "$cargo" ] || fail "cargo not found on PATH or in ~/.cargo/bin. Install Rust 1.75+ (rustup or Debian's cargo)."
  command -v protoc >/dev/null || fail "protoc not found on PATH (Debian: apt-get install protobuf-compiler; scripts/ensure-test-deps.sh does)."
  rust_target=$cache/rust-target
  rust_hash=$(inputs_hash "$("$cargo" -V) $(protoc --version)" \
    $interop/rust/Cargo.toml $interop/rust/Cargo.lock $interop/rust/build.rs $(find $interop/rust/src -type f | sort) proto/modelgate/v1/*.proto)
  if ! up_to_date "$rust_target/.setup-stamp" "$rust_hash" || [ ! -x $bin/interop-client-rust ]; then
    echo "== rust client (tonic, stubs from proto/ by tonic-prost-build) -> $rust_target"
    (cd $interop/rust && CARGO_TARGET_DIR="$rust_target" "$cargo" build --release --locked --quiet)
    cp "$rust_target/release/interop-client-rust" $bin/interop-client-rust.tmp
    mv $bin/interop-client-rust.tmp $bin/interop-client-rust
    echo "$rust_hash" >"$rust_target/.setup-stamp"
  fi
  exit 0
fi

# One setup at a time: two test runs starting together must not build into the same folders.
exec 9>"$bin/setup.lock"
flock 9

python=$(command -v python3 || true)
[ -n "$python" ] || fail "python3 not found on PATH. Install Python 3.9+ with venv (Debian: apt-get install python3 python3-venv)."
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
  || fail "$("$python" -V 2>&1) is too old: grpcio needs Python 3.9+."
"$python" -c 'import venv, ensurepip' 2>/dev/null \
  || fail "$python has no venv/ensurepip module (Debian: apt-get install python3-venv)."

go=$(command -v go || true)
[ -n "$go" ] || { [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go; }
[ -n "$go" ] || fail "go not found on PATH or in /usr/local/go/bin. Install Go 1.26+ (see .ci/run)."

[ -x node_modules/.bin/buf ] || fail "node_modules/.bin/buf is missing: run npm ci first."

protos=(proto/modelgate/v1/*.proto)
python_version=$("$python" -c 'import sys; print(sys.version)')
go_version=$("$go" env GOVERSION)

# 1. The venv, recreated from scratch when the pins or the Python change (no stale packages).
venv_hash=$(inputs_hash "$python $python_version" $interop/python/requirements.txt)
if ! up_to_date $venv/.setup-stamp "$venv_hash"; then
  echo "== python venv ($("$python" -V 2>&1)) with $interop/python/requirements.txt"
  "$python" -m venv --clear $venv
  $venv/bin/python -m pip install --quiet --disable-pip-version-check -r $interop/python/requirements.txt
  echo "$venv_hash" >$venv/.setup-stamp
fi

# 2. Python stubs, generated into a fresh folder and swapped in, so a failure leaves no half set.
pygen=$interop/python/gen
pygen_hash=$(inputs_hash "$venv_hash" "${protos[@]}")
if ! up_to_date $bin/python-gen.stamp "$pygen_hash" || [ ! -d $pygen ]; then
  echo "== python stubs -> $pygen"
  rm -rf $pygen.tmp && mkdir -p $pygen.tmp
  $venv/bin/python -m grpc_tools.protoc -Iproto \
    --python_out=$pygen.tmp --pyi_out=$pygen.tmp --grpc_python_out=$pygen.tmp "${protos[@]}"
  rm -rf $pygen && mv $pygen.tmp $pygen
  echo "$pygen_hash" >$bin/python-gen.stamp
fi

# 3. protoc-gen-go and protoc-gen-go-grpc at the versions go.mod pins (its `tool` block).
tools_hash=$(inputs_hash "$go_version" $interop/go/go.mod $interop/go/go.sum)
if ! up_to_date $bin/tools.stamp "$tools_hash" || [ ! -x $bin/protoc-gen-go ] || [ ! -x $bin/protoc-gen-go-grpc ]; then
  echo "== go tools (protoc-gen-go, protoc-gen-go-grpc) -> $bin"
  (cd $interop/go && GOBIN="$root/$bin" "$go" install tool)
  echo "$tools_hash" >$bin/tools.stamp
fi

# 4. Go stubs (buf's managed mode supplies the go_package our protos leave out).
gogen=$interop/go/gen
gogen_hash=$(inputs_hash "$tools_hash" buf.gen.go.yaml "${protos[@]}")
if ! up_to_date $bin/go-gen.stamp "$gogen_hash" || [ ! -d $gogen ]; then
  echo "== go stubs -> $gogen"
  node_modules/.bin/buf generate --template buf.gen.go.yaml
  echo "$gogen_hash" >$bin/go-gen.stamp
fi

# 5. The Go client, rebuilt when its sources, stubs or modules change. (go build's own cache
#    makes a rebuild quick, but even a no-op build starts the go tool and relinks: seconds on
#    every test file that calls this script.)
client_hash=$(inputs_hash "$go_version" $interop/go/go.mod $interop/go/go.sum $interop/go/*.go $(find $gogen -type f | sort))
if ! up_to_date $bin/client.stamp "$client_hash" || [ ! -x $bin/interop-client-go ]; then
  echo "== go client -> $bin/interop-client-go"
  (cd $interop/go && "$go" build -buildvcs=false -o "$root/$bin/interop-client-go" .)
  echo "$client_hash" >$bin/client.stamp
fi
