// The console's build: console/ -> console/dist, served by the gateway at /console/
// (src/surfaces/console.ts). Hashed file names under assets/ (served immutable); no inline
// scripts (the gateway's CSP forbids them), so the module preload polyfill stays off.
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/console/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npx vite console` during development: the API from a gateway on the default port.
    proxy: { "/modelgate.v1.": "http://127.0.0.1:8080" },
  },
});
