#!/usr/bin/env bash
# Lints the chart and schema-checks what it renders, offline once the tools are built:
#   - helm (pinned below) from its Go module with `go install`, cached outside the clone in
#     ${MODELGATE_DEPLOY_CACHE:-~/.cache/modelgate-deploy}/bin (about 2 minutes the first time)
#   - schema-check (deploy/helm/schema-check): decodes each rendered manifest strictly into the
#     Kubernetes API's Go types (k8s.io/api, the Prometheus Operator's), see its main.go
# Then `helm lint --strict` and `helm template` of the chart for each values file in
# deploy/helm/ci-values/ (plus the defaults), each piped through schema-check.
# Usage: bash deploy/helm/check.sh           lint and check everything
#        bash deploy/helm/check.sh tools     only build the tools; print helm=PATH, schema_check=PATH
# Needs go 1.24+ (PATH or /usr/local/go/bin). test/deploy/helm.spec.ts runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
helm_version=v3.21.4
# The Kubernetes version rendered for (helm built by `go install` defaults to an old one).
kube_version=1.33.0
cache=${MODELGATE_DEPLOY_CACHE:-$HOME/.cache/modelgate-deploy}
chart=deploy/helm/modelgate
mkdir -p "$cache/bin"

go=$(command -v go || true)
[ -n "$go" ] || { [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go; }
[ -n "$go" ] || { echo "deploy/helm/check.sh: go not found on PATH or in /usr/local/go/bin (install Go 1.24+)" >&2; exit 1; }

exec 9>"$cache/tools.lock"
flock 9
helm=$cache/bin/helm-$helm_version
if [ ! -x "$helm" ]; then
  echo "== helm $helm_version (go install helm.sh/helm/v3/cmd/helm@$helm_version) -> $helm" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN="$tmp" GOFLAGS=-mod=mod "$go" install "helm.sh/helm/v3/cmd/helm@$helm_version")
  mv "$tmp/helm" "$helm"
  rm -rf "$tmp"
fi
sc_hash=$({ "$go" env GOVERSION; sha256sum deploy/helm/schema-check/go.mod deploy/helm/schema-check/go.sum deploy/helm/schema-check/*.go; } | sha256sum | cut -c1-16)
schema_check=$cache/bin/schema-check-$sc_hash
if [ ! -x "$schema_check" ]; then
  echo "== schema-check -> $schema_check" >&2
  (cd deploy/helm/schema-check && "$go" build -o "$schema_check.tmp" . && mv "$schema_check.tmp" "$schema_check")
fi
flock -u 9
if [ "${1:-}" = "tools" ]; then
  echo "helm=$helm"
  echo "schema_check=$schema_check"
  echo "kube_version=$kube_version"
  exit 0
fi

echo "== helm lint --strict $chart"
"$helm" lint --strict --kube-version "$kube_version" "$chart"
for values in "" deploy/helm/ci-values/*.yaml; do
  echo "== helm template $chart ${values:+-f $values} | schema-check"
  "$helm" template modelgate "$chart" --namespace gateway --kube-version "$kube_version" ${values:+-f "$values"} | "$schema_check"
done
