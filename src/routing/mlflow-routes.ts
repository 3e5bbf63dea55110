// MLflow 3's traffic routes: a top-level `routes:` list beside `endpoints:`, each route a name
// callable like an endpoint that splits its calls over existing endpoints by percentage:
//
//   routes:
//     - name: chat-ab
//       task_type: llm/v1/chat
//       destinations: [{ name: chat-a, traffic_percentage: 80 }, { name: chat-b, traffic_percentage: 20 }]
//       routing_strategy: TRAFFIC_SPLIT
//
// Each route is read as one more endpoint whose targets are its destinations' models (named
// after the destination endpoints), split by weight. MLflow's checks are kept: destinations
// name endpoints of the route's task type, percentages in 0..100 summing to 100.
export interface RouteProblem {
  path: (string | number)[];
  message: string;
}

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => v !== null && typeof v === "object" && !Array.isArray(v);

export function endpointsFromRoutes(routes: unknown[], endpoints: unknown[], problems: RouteProblem[]): Raw[] {
  const byName = new Map<string, Raw>();
  for (const ep of endpoints) if (isObject(ep) && typeof ep["name"] === "string") byName.set(ep["name"], ep);
  const out: Raw[] = [];
  routes.forEach((route, i) => {
    const at = ["routes", i];
    const before = problems.length;
    if (!isObject(route)) {
      problems.push({ path: at, message: "expected a route (name, task_type, destinations)" });
      return;
    }
    const { name, task_type, destinations, routing_strategy, ...rest } = route;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) problems.push({ path: at, message: `unknown key(s): ${unknown.join(", ")}` });
    if (routing_strategy !== undefined && routing_strategy !== "TRAFFIC_SPLIT") {
      problems.push({ path: [...at, "routing_strategy"], message: `unsupported routing_strategy "${String(routing_strategy)}" (MLflow knows TRAFFIC_SPLIT)` });
    }
    if (typeof name !== "string") problems.push({ path: [...at, "name"], message: "a route needs a name" });
    if (typeof task_type !== "string") problems.push({ path: [...at, "task_type"], message: "a route needs a task_type (an endpoint type)" });
    if (!Array.isArray(destinations) || destinations.length === 0) {
      problems.push({ path: [...at, "destinations"], message: "a route needs at least one destination" });
      return;
    }
    let sum = 0;
    const targets: Raw[] = [];
    destinations.forEach((d, j) => {
      const dat = [...at, "destinations", j];
      if (!isObject(d) || typeof d["name"] !== "string" || typeof d["traffic_percentage"] !== "number") {
        problems.push({ path: dat, message: "expected { name: <endpoint>, traffic_percentage: 0..100 }" });
        return;
      }
      const pct = d["traffic_percentage"];
      if (!Number.isInteger(pct) || pct < 0 || pct > 100) {
        problems.push({ path: [...dat, "traffic_percentage"], message: "must be an integer between 0 and 100" });
      }
      sum += pct;
      const ep = byName.get(d["name"]);
      if (!ep) {
        problems.push({ path: [...dat, "name"], message: `unknown endpoint "${d["name"]}" (a destination names an endpoint)` });
        return;
      }
      if (typeof task_type === "string" && ep["endpoint_type"] !== task_type) {
        problems.push({ path: [...dat, "name"], message: `endpoint "${d["name"]}" is of type ${String(ep["endpoint_type"])}, the route's task_type is ${task_type}` });
      }
      if (!isObject(ep["model"])) return; // reported at the endpoint
      targets.push({ name: d["name"], model: ep["model"], weight: pct });
    });
    if (sum !== 100) problems.push({ path: [...at, "destinations"], message: `traffic_percentage must sum to 100 (got ${sum})` });
    if (problems.length === before) out.push({ name, endpoint_type: task_type, targets, routing: { strategy: "weighted" } });
  });
  return out;
}
