// The user's credential for this browser tab only (sessionStorage: gone when the tab closes,
// never sent anywhere but this gateway's own origin, never written to localStorage or a cookie).
const storageKey = "modelgate.console.credential";

export interface Session {
  /** An API key or a JWT, sent as `authorization: Bearer ...`; "" when the gateway has auth off. */
  credential: string;
}

export function loadSession(): Session | null {
  const raw = sessionStorage.getItem(storageKey);
  if (raw === null) return null;
  return { credential: raw };
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(storageKey, session.credential);
}

export function clearSession(): void {
  sessionStorage.removeItem(storageKey);
}
