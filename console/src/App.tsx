// The shell: sign-in until the tab has a session, then a header with navigation (hash routes,
// so every view is a plain /console/ load for the gateway) and the current view.
import { Code, ConnectError } from "@connectrpc/connect";
import { TransportProvider, useQuery } from "@connectrpc/connect-query";
import { AdminService } from "../../gen/modelgate/v1/admin_pb";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Endpoints } from "./Endpoints";
import { Keys } from "./Keys";
import { Usage } from "./Usage";
import { Playground } from "./Playground";
import { Logs } from "./Logs";
import { clearSession, loadSession, saveSession, type Session } from "./session";
import { SignIn } from "./SignIn";
import { gatewayTransport } from "./transport";

type View = "endpoints" | "playground" | "logs" | "keys" | "usage";
const views: { id: View; label: string }[] = [
  { id: "endpoints", label: "Endpoints" },
  { id: "playground", label: "Playground" },
  { id: "logs", label: "Logs" },
  { id: "keys", label: "Keys" },
  { id: "usage", label: "Usage" },
];

function viewFromHash(): View {
  // A view may have a detail after a slash (#/endpoints/<name>): the view is the first segment.
  const id = window.location.hash.replace(/^#\/?/, "").split("/")[0] ?? "";
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
        <Shell
          view={view}
          authOff={session.credential === ""}
          onSignOut={() => {
            clearSession();
            setSession(null);
          }}
        />
      </QueryClientProvider>
    </TransportProvider>
  );
}

/**
 * Header and view. The Keys and Usage sections (admin services) are shown to callers the gateway lets list keys: a
 * PermissionDenied answer keeps it hidden (the gateway still refuses the calls themselves).
 */
function Shell({ view, authOff, onSignOut }: { view: View; authOff: boolean; onSignOut: () => void }) {
  const probe = useQuery(AdminService.method.listKeys, {});
  // Shown once the gateway has answered the probe; any failure but PermissionDenied (e.g. a
  // timeout) still shows it, and the view then shows the gateway's error.
  const isAdmin = probe.isSuccess || (probe.error !== null && ConnectError.from(probe.error).code !== Code.PermissionDenied);
  const shown = views.filter((v) => (v.id !== "keys" && v.id !== "usage") || isAdmin);
  return (
    <>
      <header className="top">
        <span className="brand">modelgate</span>
        <nav aria-label="Console sections">
          <ul>
            {shown.map((v) => (
              <li key={v.id}>
                <a href={`#/${v.id}`} aria-current={view === v.id ? "page" : undefined}>
                  {v.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who" data-testid="who">
          {authOff ? "no credential (auth off)" : isAdmin ? "signed in (admin)" : "signed in"}
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main">{view === "endpoints" ? <Endpoints /> : view === "playground" ? <Playground /> : view === "logs" ? <Logs /> : view === "keys" ? <Keys /> : <Usage />}</main>
    </>
  );
}
