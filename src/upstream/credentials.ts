// The credentials the gateway sends upstream never come back out in a message. Some upstreams
// (OpenAI-compatible servers, proxies, model servers) quote the request's Authorization header
// or API key in an error body or a streamed error event; those texts become the call's error
// message, which reaches the caller, the call log and the trace. Every value of a credential
// header sent, and of a credential in the URL (a query parameter such as `?api-key=`, a password
// in a base URL), is taken out of such a message, whatever the status or the provider.
import { ConnectError } from "@connectrpc/connect";

/** Header names that carry credentials: the standard ones, and any name that says so. */
const credentialHeader = /^(?:authorization|proxy-authorization|cookie)$|key|token|secret|auth|signature|credential|password/i;

/** What a credential becomes in a message. */
export const REDACTED = "[redacted]";

/**
 * A credential header's value is redacted whole and in its pieces: "Bearer sk-…" quoted as just
 * "sk-…", AWS's "Credential=AKIA…/…, Signature=…" as its key id or signature. Pieces shorter than
 * this are words of the scheme ("Bearer", "SignedHeaders"), not secrets.
 */
const MIN_PIECE = 16;

/** The credential values in `headers` and `url`, longest first (a value before the pieces inside it). */
export function credentialsIn(headers: Readonly<Record<string, string>>, url?: string): string[] {
  const found = new Set<string>();
  const add = (value: string) => {
    if (value === "") return;
    found.add(value);
    for (const piece of value.split(/[\s,;=/]+/)) if (piece.length >= MIN_PIECE) found.add(piece);
  };
  for (const name in headers) {
    const value = headers[name];
    if (value && credentialHeader.test(name)) add(value);
  }
  if (url !== undefined && (url.includes("?") || url.includes("@"))) {
    try {
      const u = new URL(url);
      if (u.password !== "") {
        add(u.password);
        add(decodeURIComponent(u.password));
      }
      for (const [name, value] of u.searchParams) {
        if (!credentialHeader.test(name)) continue;
        add(value);
        add(encodeURIComponent(value)); // as the URL carries it, if an upstream quotes the URL
      }
    } catch {
      // Not a URL: nothing to find in it.
    }
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/** `text` with each of `credentials` replaced by [redacted]. */
export function redactCredentials(text: string, credentials: readonly string[]): string {
  for (const c of credentials) if (text.includes(c)) text = text.replaceAll(c, REDACTED);
  return text;
}

/**
 * `err` with every credential of `headers` and `url` taken out of its message. The same object,
 * changed in place: what is kept beside an error (the upstream failure's kind and status, for
 * routing) stays.
 */
export function withoutCredentials<E>(err: E, headers: Readonly<Record<string, string>>, url?: string): E {
  if (!(err instanceof ConnectError)) return err;
  const credentials = credentialsIn(headers, url);
  if (credentials.length === 0) return err;
  const raw = redactCredentials(err.rawMessage, credentials);
  if (raw !== err.rawMessage) {
    (err as { rawMessage: string }).rawMessage = raw;
    err.message = new ConnectError(raw, err.code).message;
  }
  return err;
}
