// The Helm chart (deploy/helm/modelgate): deploy/helm/check.sh lints it (`helm lint --strict`)
// and schema-checks what `helm template` renders for the defaults and each ci-values file
// (deploy/helm/schema-check: strict decoding into the Kubernetes API's Go types, offline). Then
// the rendered manifests are read here: gRPC health probes, the drain matched to
// terminationGracePeriodSeconds, one h2c Service port, secrets only by reference, HPA, PDB,
// topology spread, the alert rules, and a ConfigMap the gateway's own config parser accepts.
// helm is built from its Go module on first use (about 2 minutes, cached outside the clone).
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";

const root = fileURLToPath(new URL("../..", import.meta.url));
const chart = `${root}/deploy/helm/modelgate`;

interface Finished {
  code: number | string;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs: number, input?: string): Promise<Finished> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: root, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : (err.code ?? err.signal ?? "failed");
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const tail = (text: string, lines = 40) => text.trimEnd().split("\n").slice(-lines).join("\n");

let check: Finished;
let helm = "";
let schemaCheck = "";
let kubeVersion = "";

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown };

async function render(values: string[], sets: string[] = []): Promise<Finished & { docs: Manifest[] }> {
  const args = ["template", "modelgate", chart, "--namespace", "gateway", "--kube-version", kubeVersion, ...values.flatMap((v) => ["-f", `${root}/${v}`]), ...sets.flatMap((s) => ["--set", s])];
  const finished = await run(helm, args, 60_000);
  const docs = finished.code === 0 ? parseAllDocuments(finished.stdout).map((d) => d.toJS() as Manifest).filter((d) => d !== null) : [];
  return { ...finished, docs };
}

function one<T = Record<string, any>>(docs: Manifest[], kind: string): T {
  const found = docs.filter((d) => d.kind === kind);
  expect(found.map((d) => d.kind), `one ${kind}`).toEqual([kind]);
  return found[0] as T;
}

beforeAll(async () => {
  check = await run("bash", [`${root}/deploy/helm/check.sh`], 840_000);
  const tools = await run("bash", [`${root}/deploy/helm/check.sh`, "tools"], 840_000);
  helm = /^helm=(.+)$/m.exec(tools.stdout)?.[1] ?? "";
  schemaCheck = /^schema_check=(.+)$/m.exec(tools.stdout)?.[1] ?? "";
  kubeVersion = /^kube_version=(.+)$/m.exec(tools.stdout)?.[1] ?? "";
}, 900_000);

function needTools() {
  if (!helm || !schemaCheck || !kubeVersion) throw new Error(`deploy/helm/check.sh tools failed:\n${tail(check.stderr || check.stdout)}`);
}

describe("helm chart deploy/helm/modelgate", () => {
  it("passes helm lint --strict and the offline schema check for every values file", () => {
    expect(check.code, tail(`${check.stdout}\n${check.stderr}`)).toBe(0);
    expect(check.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    const valid = check.stdout.match(/^schema-check: \d+ manifests valid$/gm) ?? [];
    expect(valid.length, "one schema-check per values file").toBe(1 + 2);
  });

  it("schema-check rejects an unknown field, a wrong type and a probe on no container port", async () => {
    needTools();
    const { stdout } = await render(["deploy/helm/ci-values/replicas.yaml"]);
    const typo = await run(schemaCheck, [], 30_000, stdout.replace("readinessProbe:", "readinesProbe:"));
    expect(typo.code).toBe(1);
    expect(typo.stdout).toContain('apps/v1 Deployment: unknown field "spec.template.spec.containers[0].readinesProbe"');
    const wrongType = await run(schemaCheck, [], 30_000, stdout.replace(/minReplicas: 3/, "minReplicas: three"));
    expect(wrongType.code).toBe(1);
    expect(wrongType.stdout).toContain("autoscaling/v2 HorizontalPodAutoscaler: json: cannot unmarshal string into Go struct field HorizontalPodAutoscalerSpec.spec.minReplicas of type int32");
    const badPort = await run(schemaCheck, [], 30_000, stdout.replace(/containerPort: 8080/, "containerPort: 9090"));
    expect(badPort.code).toBe(1);
    expect(badPort.stdout).toContain("gRPC port 8080 is not a container port");
  });

  it("renders replicas for a platform team: probes, drain, h2c Service, secrets by reference, HPA, PDB, spread", async () => {
    needTools();
    const r = await render(["deploy/helm/ci-values/replicas.yaml"]);
    expect(r.code, r.stderr).toBe(0);
    const deployment = one(r.docs, "Deployment");
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    // HPA owns the replica count.
    expect(deployment.spec.replicas).toBeUndefined();
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      expect(container[probe].grpc, probe).toEqual({ port: 8080, service: "" });
    }
    // preStop 5 s + shutdown_grace_ms 25000 + margin 5 s.
    expect(container.lifecycle.preStop).toEqual({ sleep: { seconds: 5 } });
    expect(pod.terminationGracePeriodSeconds).toBe(35);
    // Liveness gives up only after the whole drain: a draining (NOT_SERVING) pod is not killed.
    expect(container.livenessProbe.periodSeconds * container.livenessProbe.failureThreshold).toBeGreaterThan(pod.terminationGracePeriodSeconds);
    expect(container.args).toEqual(["--config", "/etc/modelgate/config.yaml", "--host", "0.0.0.0", "--port", "8080"]);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(container.resources.requests).toEqual({ cpu: "250m", memory: "256Mi" });
    expect(container.env).toEqual([
      { name: "MODELGATE_DATABASE_URL", valueFrom: { secretKeyRef: { name: "modelgate-postgres", key: "url" } } },
      { name: "MODELGATE_REDIS_URL", valueFrom: { secretKeyRef: { name: "modelgate-redis", key: "redis-url" } } },
      { name: "MODELGATE_METRICS_TOKEN", valueFrom: { secretKeyRef: { name: "modelgate-metrics", key: "token" } } },
      { name: "OPENAI_API_KEY", valueFrom: { secretKeyRef: { name: "llm-provider-keys", key: "openai" } } },
      { name: "LOG_LEVEL", value: "info" },
    ]);
    expect(container.envFrom).toEqual([{ secretRef: { name: "modelgate-extra" } }]);
    const selector = deployment.spec.selector.matchLabels;
    expect(pod.topologySpreadConstraints.map((c: any) => [c.topologyKey, c.labelSelector.matchLabels])).toEqual([
      ["topology.kubernetes.io/zone", selector],
      ["kubernetes.io/hostname", selector],
    ]);
    const mounts = Object.fromEntries(container.volumeMounts.map((m: any) => [m.mountPath, m.name]));
    expect(mounts).toEqual({ "/etc/modelgate": "config", "/tmp": "tmp", "/var/lib/modelgate": "data" });

    const service = one(r.docs, "Service");
    expect(service.spec.ports).toEqual([{ name: "http", port: 8080, targetPort: "http", protocol: "TCP", appProtocol: "kubernetes.io/h2c" }]);
    expect(service.spec.selector).toEqual(selector);

    expect(one(r.docs, "HorizontalPodAutoscaler").spec).toMatchObject({ minReplicas: 3, maxReplicas: 12, scaleTargetRef: { kind: "Deployment", name: deployment.metadata.name } });
    expect(one(r.docs, "PodDisruptionBudget").spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: selector } });
    // The scrape sends the token GET /metrics needs, from the Secret the pods read it from.
    expect(one(r.docs, "ServiceMonitor").spec).toMatchObject({
      jobLabel: "app.kubernetes.io/name",
      endpoints: [{ port: "http", path: "/metrics", authorization: { type: "Bearer", credentials: { name: "modelgate-metrics", key: "token" } } }],
    });
    expect(service.metadata).toMatchObject({ labels: { "app.kubernetes.io/name": "modelgate" } });

    // No secret value anywhere in what the chart renders; no Secret object either.
    expect(r.stdout).not.toMatch(/postgres:\/\/|redis:\/\//);
    expect(r.docs.filter((d) => d.kind === "Secret")).toEqual([]);

    // The ConfigMap holds a config the gateway itself accepts (with the secret variable set).
    const configMap = one(r.docs, "ConfigMap");
    const metricsToken = "0123456789abcdef0123456789abcdef";
    const config = parseConfig(configMap.data["config.yaml"], "configmap", modelFactories, {
      OPENAI_API_KEY: "sk-test-0123456789",
      MODELGATE_METRICS_TOKEN: metricsToken,
    });
    expect(config.file.server.shutdown_grace_ms).toBe(25_000);
    expect(config.file.server.metrics_token).toBe(metricsToken);
    expect(config.file.endpoints.map((e) => e.name)).toEqual(["chat"]);
    expect(deployment.spec.template.metadata.annotations["checksum/config"]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("ships the alert rules of deploy/prometheus/alerts.yaml as a PrometheusRule", async () => {
    needTools();
    const alerts = `${root}/deploy/prometheus/alerts.yaml`;
    const linked = `${chart}/files/alerts.yaml`;
    expect(existsSync(alerts), "deploy/prometheus/alerts.yaml").toBe(true);
    expect(readFileSync(linked, "utf8"), "files/alerts.yaml is deploy/prometheus/alerts.yaml").toBe(readFileSync(alerts, "utf8"));
    const r = await render(["deploy/helm/ci-values/replicas.yaml"]);
    expect(r.code, r.stderr).toBe(0);
    const rule = one(r.docs, "PrometheusRule");
    expect(rule.spec.groups).toEqual(parseYaml(readFileSync(alerts, "utf8")).groups);
  });

  it("defaults to one replica on SQLite, drain 10 s, grace 20 s", async () => {
    needTools();
    const r = await render([]);
    expect(r.code, r.stderr).toBe(0);
    const deployment = one(r.docs, "Deployment");
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBe(5 + 10 + 5);
    expect(r.docs.map((d) => d.kind).sort()).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]);
    const config = parseConfig(one(r.docs, "ConfigMap").data["config.yaml"], "configmap", modelFactories, {});
    expect(config.file.store.database_url).toBe("sqlite:/var/lib/modelgate/modelgate.db");
  });

  it("refuses several replicas without PostgreSQL, and URLs with passwords or the metrics token in the ConfigMap", async () => {
    needTools();
    const hpa = await render([], ["autoscaling.enabled=true"]);
    expect(hpa.code).not.toBe(0);
    expect(hpa.stderr).toContain("more than one replica (replicaCount > 1 or autoscaling.enabled) needs a shared PostgreSQL: set database.existingSecret");
    const two = await render([], ["replicaCount=2"]);
    expect(two.code).not.toBe(0);
    expect(two.stderr).toContain("needs a shared PostgreSQL");
    const redisInConfig = await render([], ["config.store.redis_url=redis://:pw@redis:6379"]);
    expect(redisInConfig.code).not.toBe(0);
    expect(redisInConfig.stderr).toContain("config.store.redis_url would put the Redis URL (and its password) in a ConfigMap");
    const pgInConfig = await render([], ["database.existingSecret=pg", "config.store.database_url=postgres://u:pw@db/x"]);
    expect(pgInConfig.code).not.toBe(0);
    expect(pgInConfig.stderr).toContain("keep it in the Secret named by database.existingSecret only");
    const tokenInConfig = await render([], ["config.server.metrics_token=0123456789abcdef0123"]);
    expect(tokenInConfig.code).not.toBe(0);
    expect(tokenInConfig.stderr).toContain("config.server.metrics_token would put the token in a ConfigMap: set metrics.token.existingSecret instead");
  });
});
