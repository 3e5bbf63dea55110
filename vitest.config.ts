import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.spec.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests each start their own servers on random ports: files run in parallel.
    pool: "forks",
  },
});
