// JSON values as the gateway bounds them.

/** A JSON object, as JSON.parse gives it. */
export type JsonRecord = { [key: string]: unknown };

/** Whether `value` is an object that is not an array (nor null). */
export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether `value` nests objects/arrays deeper than `max` levels (iterative: no recursion). */
export function exceedsJsonDepth(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  return false;
}
