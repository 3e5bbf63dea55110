// A loopback identity provider for tests: serves a JSON Web Key Set over node:http on
// 127.0.0.1 (port 0) and signs tokens with its private keys. Keys rotate like a real issuer's:
// rotate() publishes a new key and (unless told otherwise) withdraws the old one, whose private
// half stays usable so tests can present tokens a rotation made stale. failWith() makes the
// endpoint misbehave (HTTP errors, garbage, a hang) to test fetch failures.
import { randomBytes } from "node:crypto";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

export type JwksKeyAlg = "RS256" | "ES256" | "EdDSA";

export type JwksFailure = { status: number } | "garbage" | "not-a-jwks" | "hang" | "huge" | "huge-chunked";

export interface JwksServer {
  /** The JWKS document's URL. */
  url: string;
  /** Key ids currently published, oldest first. */
  publishedKids(): string[];
  /** The kid sign() uses by default: the newest key. */
  currentKid(): string;
  /** How many times the JWKS was fetched. */
  fetches: number;
  /** Signs `claims` (sets no claim of its own) with the current key, or the key `kid`. */
  sign(claims: JWTPayload, options?: { kid?: string; header?: Record<string, string> }): Promise<string>;
  /** Publishes a new key and withdraws the previous ones unless `keepOld`. Returns the new kid. */
  rotate(options?: { keepOld?: boolean }): Promise<string>;
  /** Until called again with undefined, every fetch fails this way. */
  failWith(failure: JwksFailure | undefined): void;
  close(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  published: boolean;
}

export async function startJwksServer(options: { alg?: JwksKeyAlg; path?: string } = {}): Promise<JwksServer> {
  const alg = options.alg ?? "RS256";
  const path = options.path ?? "/.well-known/jwks.json";
  const keys: SigningKey[] = [];
  let failure: JwksFailure | undefined;
  const hanging = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const addKey = async (): Promise<string> => {
    const kid = `k-${randomBytes(6).toString("hex")}`;
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
    keys.push({ kid, privateKey, publicJwk, published: true });
    return kid;
  };
  await addKey();

  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== path) {
      res.writeHead(404).end();
      return;
    }
    state.fetches += 1;
    if (failure === "hang") {
      hanging.add(res);
      return;
    }
    if (failure === "garbage") {
      res.writeHead(200, { "content-type": "application/json" }).end("{not json");
      return;
    }
    if (failure === "huge" || failure === "huge-chunked") {
      // A valid JWKS padded past any sane size (2 MiB), with or without a Content-Length.
      const body = JSON.stringify({ keys: keys.filter((k) => k.published).map((k) => k.publicJwk), padding: "x".repeat(2 * 1024 * 1024) });
      const headers = { "content-type": "application/json", ...(failure === "huge" && { "content-length": String(Buffer.byteLength(body)) }) };
      res.writeHead(200, headers);
      if (failure === "huge") res.end(body);
      else {
        for (let i = 0; i < body.length; i += 64 * 1024) res.write(body.slice(i, i + 64 * 1024));
        res.end();
      }
      return;
    }
    if (failure === "not-a-jwks") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: "nope" }));
      return;
    }
    if (failure !== undefined) {
      res.writeHead(failure.status, { "content-type": "text/plain" }).end("identity provider is down");
      return;
    }
    const body = JSON.stringify({ keys: keys.filter((k) => k.published).map((k) => k.publicJwk) });
    res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "max-age=300" }).end(body);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const newest = (): SigningKey => {
    const key = keys.filter((k) => k.published).at(-1);
    if (!key) throw new Error("jwks-server: no published key");
    return key;
  };

  const state: JwksServer = {
    url: `http://127.0.0.1:${port}${path}`,
    fetches: 0,
    publishedKids: () => keys.filter((k) => k.published).map((k) => k.kid),
    currentKid: () => newest().kid,
    async sign(claims, signOptions = {}) {
      const key = signOptions.kid === undefined ? newest() : keys.find((k) => k.kid === signOptions.kid);
      if (!key) throw new Error(`jwks-server: no key ${signOptions.kid}`);
      return new SignJWT(claims).setProtectedHeader({ ...signOptions.header, alg, kid: key.kid, typ: "JWT" }).sign(key.privateKey);
    },
    async rotate(rotateOptions = {}) {
      const previous = keys.filter((k) => k.published);
      const kid = await addKey();
      if (!rotateOptions.keepOld) for (const k of previous) k.published = false;
      return kid;
    },
    failWith(next) {
      failure = next;
      if (next !== "hang") {
        for (const res of hanging) res.destroy();
        hanging.clear();
      }
    },
    async close() {
      for (const res of hanging) res.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}
