// Sign-in: an API key or a JWT, checked with one ListEndpoints call before it is kept (for this
// tab only). "Continue without a credential" is for a gateway with auth off (the local default);
// the gateway decides either way and its refusal is shown as it said it.
import { createClient } from "@connectrpc/connect";
import { useState, type FormEvent } from "react";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import type { Session } from "./session";
import { describeError, gatewayTransport } from "./transport";

export function SignIn({ onSignIn }: { onSignIn: (session: Session) => void }) {
  const [credential, setCredential] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function attempt(value: string) {
    setBusy(true);
    setError(null);
    const session = { credential: value.trim() };
    try {
      await createClient(EndpointService, gatewayTransport(session)).listEndpoints({}, { timeoutMs: 10_000 });
      onSignIn(session);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    void attempt(credential);
  }

  return (
    <main id="main" className="signin">
      <h1>modelgate console</h1>
      <form onSubmit={submit} aria-describedby="signin-help">
        <label htmlFor="credential">API key or JWT</label>
        <input
          id="credential"
          name="credential"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={credential}
          onChange={(e) => setCredential(e.target.value)}
        />
        <p id="signin-help" className="help">
          Kept in this tab only (sessionStorage) and sent to this gateway only.
        </p>
        <div className="row">
          <button type="submit" disabled={busy || credential.trim() === ""}>
            Sign in
          </button>
          <button type="button" disabled={busy} onClick={() => void attempt("")}>
            Continue without a credential
          </button>
        </div>
        {error !== null && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
