#!/bin/sh
# The Dockerfile's build stage: turns a copy of the sources (the current directory) into the
# runtime image's files under OUT (its root filesystem layout):
#   OUT/app/dist/main.mjs          src/main.ts bundled by esbuild (npm packages stay external,
#                                  as bin/modelgate.mjs bundles for `npm start`)
#   OUT/app/node_modules           production dependencies only (npm ci --omit=dev)
#   OUT/app/package.json, OUT/app/healthcheck.mjs
#   OUT/etc/modelgate/config.yaml  deploy/docker/config.yaml (listens on 0.0.0.0:8080)
#   OUT/var/lib/modelgate          the data volume (SQLite when no PostgreSQL URL is given)
# scripts/docker-build-stage.sh runs this same script outside Docker and starts the result.
# Usage: sh deploy/docker/build.sh OUT
set -eu
out=${1:?usage: build.sh OUT}
rm -rf "$out" && mkdir -p "$out/app/dist" "$out/etc/modelgate" "$out/var/lib/modelgate"

# Production dependencies only: esbuild is one of them (bin/modelgate.mjs bundles at start).
npm ci --omit=dev --no-audit --no-fund --loglevel=error
node_modules/.bin/esbuild src/main.ts --bundle --platform=node --format=esm --target=node24 \
  --packages=external --keep-names --sourcemap=inline --log-level=warning --outfile="$out/app/dist/main.mjs"
cp -R node_modules "$out/app/node_modules"
cp package.json deploy/docker/healthcheck.mjs "$out/app/"
cp deploy/docker/config.yaml "$out/etc/modelgate/config.yaml"
