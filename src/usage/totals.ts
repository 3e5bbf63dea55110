// Usage totals in the order people read them: by the group columns as the caller listed them
// (`--by team,key` sorts by team, then key), whatever order the store's SQL grouped them in.
import type { UsageGroup, UsageTotalRow } from "../store/types";

export function sortTotals(groupBy: readonly UsageGroup[], totals: readonly UsageTotalRow[]): UsageTotalRow[] {
  return [...totals].sort((a, b) => {
    for (const g of groupBy) {
      const x = a.group[g] ?? "";
      const y = b.group[g] ?? "";
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  });
}
