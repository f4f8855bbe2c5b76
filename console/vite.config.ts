/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { resolve } from "node:path";
import { defineConfig } from "vite";

// The build lands inside the Python package (graph/static/console) so the wheel ships it
// and `serve` needs no Node.js. Two HTML entries: the console (index.html) and GraphiQL
// (graphiql.html), so GraphiQL's editor never weighs on the console's first load.
// Hashed file names depend on content only: the same source gives the same bytes,
// which lets CI compare the committed build with a fresh one.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: resolve(import.meta.dirname, "../graph/static/console"),
    emptyOutDir: true,
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, "index.html"),
        graphiql: resolve(import.meta.dirname, "graphiql.html"),
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
