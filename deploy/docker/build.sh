#!/bin/sh
# The Dockerfile's build stage: turns a copy of the sources (the current directory) into the
# runtime image's files under OUT (its root filesystem layout):
#   OUT/app/dist/main.mjs          src/main.ts bundled by esbuild (npm packages stay external,
#                                  as bin/modelgate.mjs bundles for `npm start`)
#   OUT/app/node_modules           production dependencies only (npm prune --omit=dev)
#   OUT/app/console/dist           the web console, built by Vite (a devDependency) in npm ci's
#                                  `prepare` script; the gateway serves it at /console/
#   OUT/app/package.json, OUT/app/healthcheck.mjs
#   OUT/etc/modelgate/config.yaml  deploy/docker/config.yaml (listens on 0.0.0.0:8080)
#   OUT/var/lib/modelgate          the data volume (SQLite when no PostgreSQL URL is given)
# scripts/docker-build-stage.sh runs this same script outside Docker and starts the result.
# Usage: sh deploy/docker/build.sh OUT
set -eu
out=${1:?usage: build.sh OUT}
rm -rf "$out" && mkdir -p "$out/app/dist" "$out/etc/modelgate" "$out/var/lib/modelgate"

# Every dependency first: the `prepare` script builds the console with Vite (a devDependency).
# A console/dist from the sources' tree is never trusted: it is built here, from console/.
rm -rf console/dist
npm ci --no-audit --no-fund --loglevel=error
[ -s console/dist/index.html ] || { echo "build.sh: npm ci did not build the console (console/dist/index.html)" >&2; exit 1; }
node_modules/.bin/esbuild src/main.ts --bundle --platform=node --format=esm --target=node24 \
  --packages=external --sourcemap=inline --log-level=warning --outfile="$out/app/dist/main.mjs"
# Then production dependencies only: esbuild is one of them (bin/modelgate.mjs bundles at start).
npm prune --omit=dev --no-audit --no-fund --loglevel=error
cp -R node_modules "$out/app/node_modules"
mkdir -p "$out/app/console"
cp -R console/dist "$out/app/console/dist"
rm -f "$out/app/console/dist/.built"
cp package.json deploy/docker/healthcheck.mjs "$out/app/"
cp deploy/docker/config.yaml "$out/etc/modelgate/config.yaml"
