// The image's HEALTHCHECK: asks the gateway's own grpc.health.v1.Health/Check over h2c (node's
// http2, no dependency, no grpc_health_probe binary) and exits 0 only for SERVING.
// Usage: node healthcheck.mjs [PORT] [SERVICE]   (PORT defaults to $PORT, else 8080;
// SERVICE to "", the whole server). Exits 1 with a one-line reason otherwise, within 3 s.
import { connect } from "node:http2";

const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
const service = Buffer.from(process.argv[3] ?? "", "utf8");
const fail = (why) => {
  process.stderr.write(`healthcheck: ${why}\n`);
  process.exit(1);
};
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad port ${process.argv[2] ?? process.env.PORT}`);
if (service.length > 127) fail("service name too long");
setTimeout(() => fail("no answer within 3 s"), 3000).unref();

// HealthCheckRequest { string service = 1; } in a gRPC frame (flag 0, 4-byte length).
const message = service.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, service.length]), service]);
const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);

const session = connect(`http://127.0.0.1:${port}`);
session.on("error", (err) => fail(err.message));
const req = session.request({
  ":method": "POST",
  ":path": "/grpc.health.v1.Health/Check",
  "content-type": "application/grpc",
  te: "trailers",
});
const chunks = [];
let status;
req.on("response", (headers) => {
  if (headers[":status"] !== 200) fail(`HTTP ${headers[":status"]}`);
  if (headers["grpc-status"] !== undefined) status = headers["grpc-status"]; // trailers-only answer
});
req.on("trailers", (trailers) => (status = trailers["grpc-status"]));
req.on("data", (c) => chunks.push(c));
req.on("error", (err) => fail(err.message));
req.on("end", () => {
  session.close();
  if (status !== "0") fail(`grpc-status ${status ?? "missing"}`);
  const body = Buffer.concat(chunks);
  // HealthCheckResponse { ServingStatus status = 1; }: 1 = SERVING; absent = 0 (UNKNOWN).
  const servingStatus = body.length >= 7 && body[5] === 0x08 ? body[6] : 0;
  if (servingStatus !== 1) fail(`status ${["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][servingStatus] ?? servingStatus}`);
  process.exit(0);
});
req.end(frame);
