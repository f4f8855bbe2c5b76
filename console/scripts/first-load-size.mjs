// The JavaScript a browser loads to show the console's first screen: the entry script
// of index.html and the chunks it preloads, gzipped. GraphiQL is another page and
// is not counted. Fails above the budget (300 KB gzipped).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 300 * 1024;
const out = resolve(import.meta.dirname, "../../graph/static/console");
const html = readFileSync(resolve(out, "index.html"), "utf8");
const scripts = [...html.matchAll(/<(?:script|link rel="modulepreload")[^>]*(?:src|href)="\/([^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const file of scripts) {
  const size = gzipSync(readFileSync(resolve(out, file)), { level: 9 }).length;
  total += size;
  console.log(`${(size / 1024).toFixed(1).padStart(7)} KB gz  ${file}`);
}
console.log(`${(total / 1024).toFixed(1).padStart(7)} KB gz  first load of the console (budget ${BUDGET / 1024} KB)`);
if (total > BUDGET) {
  console.error("the console's first load is over budget");
  process.exit(1);
}
