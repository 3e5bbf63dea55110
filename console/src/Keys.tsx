// Keys (admin): the gateway's API keys from AdminService: create (the secret is shown once, with
// a copy button), rotate, revoke; limits and budgets; each key's spend this month (UsageService
// GetUsage grouped by key) against its budget. The server is the authority: a non-admin sees the
// gateway's PermissionDenied here, nothing more.
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { createConnectQueryKey, useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { AdminService, type ApiKey } from "../../gen/modelgate/v1/admin_pb";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { describeError } from "./transport";

function monthStart(): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

function when(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "—";
}

export function Keys() {
  const [showRevoked, setShowRevoked] = useState(false);
  const keys = useQuery(AdminService.method.listKeys, { includeRevoked: showRevoked });
  const [since] = useState(() => timestampFromDate(monthStart()));
  const spend = useQuery(UsageService.method.getUsage, { groupBy: ["key"], startTime: since });
  const queryClient = useQueryClient();
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: createConnectQueryKey({ schema: AdminService.method.listKeys, cardinality: "finite" }) });
  };
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const create = useMutation(AdminService.method.createKey);
  const rotate = useMutation(AdminService.method.rotateKey);
  const revoke = useMutation(AdminService.method.revokeKey);

  const [name, setName] = useState("");
  const [team, setTeam] = useState("");
  const [admin, setAdmin] = useState(false);
  const [budget, setBudget] = useState("");
  const [rpm, setRpm] = useState("");

  const spentByKey = new Map<string, number>();
  for (const t of spend.data?.totals ?? []) spentByKey.set(t.group["key"] ?? "", t.costUsd);

  function showSecret(keyName: string, value: string) {
    setCopied(false);
    setSecret({ name: keyName, secret: value });
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setActionError(null);
    try {
      const budgetUsd = budget.trim() === "" ? undefined : Number(budget);
      const rpmValue = rpm.trim() === "" ? undefined : Number(rpm);
      const res = await create.mutateAsync({
        name: name.trim(),
        team: team.trim(),
        roles: admin ? ["admin"] : [],
        limits: { budgetUsd, rpm: rpmValue, budgetPeriod: budgetUsd === undefined ? "" : "month" },
      });
      showSecret(res.key?.name ?? name, res.secret);
      setName("");
      setTeam("");
      setAdmin(false);
      setBudget("");
      setRpm("");
      refresh();
    } catch (err) {
      setActionError(describeError(err));
    }
  }

  async function doRotate(key: ApiKey) {
    setActionError(null);
    try {
      const res = await rotate.mutateAsync({ id: key.id });
      showSecret(key.name, res.secret);
      refresh();
    } catch (err) {
      setActionError(describeError(err));
    }
  }

  async function doRevoke(key: ApiKey) {
    setActionError(null);
    setConfirming(null);
    try {
      await revoke.mutateAsync({ id: key.id });
      refresh();
    } catch (err) {
      setActionError(describeError(err));
    }
  }

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">Keys</h1>
      {keys.error ? (
        <p role="alert" className="error">
          {describeError(keys.error)}
        </p>
      ) : (
        <>
          <form className="keyform" onSubmit={(e) => void submit(e)} aria-labelledby="create-title">
            <h2 id="create-title">Create a key</h2>
            <div className="row">
              <label htmlFor="key-name">Name</label>
              <input id="key-name" value={name} onChange={(e) => setName(e.target.value)} required />
              <label htmlFor="key-team">Team</label>
              <input id="key-team" value={team} onChange={(e) => setTeam(e.target.value)} />
              <label htmlFor="key-budget">Monthly budget (USD)</label>
              <input id="key-budget" inputMode="decimal" value={budget} onChange={(e) => setBudget(e.target.value)} size={8} />
              <label htmlFor="key-rpm">Calls per minute</label>
              <input id="key-rpm" inputMode="numeric" value={rpm} onChange={(e) => setRpm(e.target.value)} size={6} />
              <label className="check">
                <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} /> Admin
              </label>
              <button type="submit" disabled={create.isPending || name.trim() === ""}>
                Create key
              </button>
            </div>
          </form>
          {secret && (
            <div className="secret" role="status" aria-live="polite">
              <p>
                Secret for <strong>{secret.name}</strong>, shown once: copy it now.
              </p>
              <div className="row">
                <code data-testid="secret">{secret.secret}</code>
                <button
                  type="button"
                  onClick={() => {
                    void navigator.clipboard.writeText(secret.secret).then(
                      () => setCopied(true),
                      (err: unknown) => setActionError(`copy failed: ${String(err)}`),
                    );
                  }}
                >
                  {copied ? "Copied" : "Copy secret"}
                </button>
                <button type="button" onClick={() => setSecret(null)}>
                  Done
                </button>
              </div>
            </div>
          )}
          {actionError !== null && (
            <p role="alert" className="error">
              {actionError}
            </p>
          )}
          <div className="row spread">
            <h2>API keys</h2>
            <label className="check">
              <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} /> Show revoked
            </label>
          </div>
          {keys.isPending && <p aria-live="polite">Loading keys…</p>}
          {keys.data && keys.data.keys.length === 0 && <p>No keys in the store yet.</p>}
          {keys.data && keys.data.keys.length > 0 && (
            <div className="scroll">
              <table className="keys">
                <caption className="sr-only">API keys with limits, spend this month and actions</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Team</th>
                    <th scope="col">Prefix</th>
                    <th scope="col">Roles</th>
                    <th scope="col">Limits</th>
                    <th scope="col">Spend this month</th>
                    <th scope="col">Created</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.keys.map((k) => {
                    const spent = spentByKey.get(k.id) ?? 0;
                    const budgetUsd = k.limits?.budgetUsd;
                    const revoked = k.revokeTime !== undefined;
                    return (
                      <tr key={k.id} data-key={k.name} data-revoked={revoked ? "yes" : "no"}>
                        <th scope="row">{k.name}</th>
                        <td>{k.team || "—"}</td>
                        <td>
                          <code>{k.prefix}</code>
                        </td>
                        <td>{k.roles.join(", ") || "—"}</td>
                        <td>
                          {[
                            k.limits?.rpm !== undefined ? `${k.limits.rpm} calls/min` : null,
                            k.limits?.tpm !== undefined ? `${k.limits.tpm} tokens/min` : null,
                            budgetUsd !== undefined ? `$${budgetUsd} / ${k.limits?.budgetPeriod || "month"}` : null,
                          ]
                            .filter(Boolean)
                            .join(", ") || "none"}
                        </td>
                        <td>
                          ${spent.toFixed(4)}
                          {budgetUsd !== undefined && budgetUsd > 0 && (
                            <meter min={0} max={budgetUsd} value={Math.min(spent, budgetUsd)} aria-label={`Spend of ${k.name} against its budget`}>
                              {((spent / budgetUsd) * 100).toFixed(0)}%
                            </meter>
                          )}
                        </td>
                        <td>{when(k.createTime)}</td>
                        <td>
                          {revoked ? (
                            <span>revoked {when(k.revokeTime)}</span>
                          ) : confirming === k.id ? (
                            <span className="row">
                              <button type="button" onClick={() => void doRevoke(k)} aria-label={`Confirm revoking ${k.name}`}>
                                Confirm revoke
                              </button>
                              <button type="button" onClick={() => setConfirming(null)}>
                                Keep
                              </button>
                            </span>
                          ) : (
                            <span className="row">
                              <button type="button" onClick={() => void doRotate(k)} aria-label={`Rotate ${k.name}`}>
                                Rotate
                              </button>
                              <button type="button" onClick={() => setConfirming(k.id)} aria-label={`Revoke ${k.name}`}>
                                Revoke
                              </button>
                            </span>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
