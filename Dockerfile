# syntax=docker/dockerfile:1
# modelgate's image: a build stage (npm ci, the web console built by Vite, esbuild bundle,
# production node_modules) and a small runtime stage on node:24-slim, running as a non-root user with a read-only root filesystem:
# the only writes go to the /var/lib/modelgate volume (SQLite, when no PostgreSQL URL is set)
# and /tmp. The HEALTHCHECK asks the gateway's own grpc.health.v1 service over h2c.
#
#   docker build -t modelgate .
#   docker run --read-only --tmpfs /tmp -v modelgate-data:/var/lib/modelgate -p 8080:8080 modelgate
#   docker run ... -v ./my-config.yaml:/etc/modelgate/config.yaml:ro -e OPENAI_API_KEY modelgate
#
# Both stages' commands are in deploy/docker/build.sh, which scripts/docker-build-stage.sh runs
# outside Docker (CI has no Docker engine) and then starts the runtime layout it produced.
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY gen ./gen
COPY src ./src
COPY deploy/docker ./deploy/docker
# npm ci runs the `prepare` script, which builds the web console (console/ -> console/dist, served
# at /console/); build.sh fails if it did not.
COPY scripts/build-console.mjs ./scripts/build-console.mjs
COPY console ./console
RUN sh deploy/docker/build.sh /out

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    MODELGATE_CONFIG=/etc/modelgate/config.yaml \
    PORT=8080
RUN groupadd --system --gid 10001 modelgate \
 && useradd --system --uid 10001 --gid modelgate --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin modelgate
COPY --from=build /out/ /
RUN chown 10001:10001 /var/lib/modelgate
WORKDIR /app
USER 10001:10001
VOLUME ["/var/lib/modelgate"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=4s --start-period=15s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["node", "--max-semi-space-size=8", "/app/dist/main.mjs"]
CMD ["--config", "/etc/modelgate/config.yaml"]
