// The shell: sign-in until the tab has a session, then a header with navigation (hash routes,
// so every view is a plain /console/ load for the gateway) and the current view.
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Endpoints } from "./Endpoints";
import { Keys } from "./Keys";
import { Playground } from "./Playground";
import { clearSession, loadSession, saveSession, type Session } from "./session";
import { SignIn } from "./SignIn";
import { gatewayTransport } from "./transport";

type View = "endpoints" | "playground" | "keys";
const views: { id: View; label: string }[] = [
  { id: "endpoints", label: "Endpoints" },
  { id: "playground", label: "Playground" },
  { id: "keys", label: "Keys" },
];

function viewFromHash(): View {
  const id = window.location.hash.replace(/^#\/?/, "");
  return views.some((v) => v.id === id) ? (id as View) : "endpoints";
}

export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [view, setView] = useState<View>(() => viewFromHash());
  useEffect(() => {
    const onHash = () => setView(viewFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  const transport = useMemo(() => (session ? gatewayTransport(session) : null), [session]);
  const queryClient = useMemo(() => new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } }), [session]);

  if (!session || !transport) {
    return (
      <SignIn
        onSignIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  }
  return (
    <TransportProvider transport={transport}>
      <QueryClientProvider client={queryClient}>
        <header className="top">
          <span className="brand">modelgate</span>
          <nav aria-label="Console sections">
            <ul>
              {views.map((v) => (
                <li key={v.id}>
                  <a href={`#/${v.id}`} aria-current={view === v.id ? "page" : undefined}>
                    {v.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <span className="who" data-testid="who">{session.credential === "" ? "no credential (auth off)" : "signed in"}</span>
          <button
            type="button"
            onClick={() => {
              clearSession();
              setSession(null);
            }}
          >
            Sign out
          </button>
        </header>
        <main id="main">{view === "endpoints" ? <Endpoints /> : view === "playground" ? <Playground /> : <Keys />}</main>
      </QueryClientProvider>
    </TransportProvider>
  );
}
