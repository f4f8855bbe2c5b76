// End-to-end: a real `serve` on SQLite with the demo data, driven by Debian's headless
// Chromium through playwright-core (no browser download). Every request to a host other
// than 127.0.0.1 is blocked and counted, so the pages are shown to work offline.
// Screenshots of each main screen go to console/screenshots/ (not committed).
//
//   npm run e2e                          # serves with `python3 -m uv run --locked payout-engine serve`
//   E2E_SERVE="python -m service.cli serve" npm run e2e    # another way to start the server
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../..");
const SHOTS = resolve(HERE, "../screenshots");
const OPS_KEY = "pe_ops_demo_operator_key_for_local_use_only";
const AUDITOR_KEY = "pe_auditor_demo_auditor_key_for_local_use_only";
// The approver key belongs to another owner than the operator's: four eyes.
const APPROVER_KEY = "pe_approver_demo_approver_key_for_local_use_only";
const ACME_KEY = "pe_payee_demo_acme_agency_local_use_only";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SERVE = process.env.E2E_SERVE ?? "python3 -m uv run --locked payout-engine serve";

let server;
let serverLog;
let base;
let browser;
let workdir;
let demoRunId;
const offsite = [];
const cspViolations = [];

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

async function api(key, query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Api-Key ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

async function waitForHealth(deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (server.exitCode !== null) throw new Error(`serve exited with ${server.exitCode}; see ${serverLog}`);
    try {
      const response = await fetch(`${base}/health`);
      if (response.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`serve did not answer /health; see ${serverLog}`);
}

async function waitForRun(id, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const data = await api(OPS_KEY, `{ run(id: "${id}") { state } }`);
    if (data.run.state === "COMPLETED") return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`run ${id} did not complete; see ${serverLog}`);
}

/** A fresh browser context (its own sessionStorage) that only reaches 127.0.0.1. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, timezoneId: "Europe/Berlin" });
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1" || url.protocol === "data:") return route.continue();
    offsite.push(url.href);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  return page;
}

async function signIn(page, key) {
  await page.goto(`${base}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

async function navTo(page, name) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();
}

/** Every form control of the console's screen has a label; every button a name. */
async function assertLabelled(page) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) =>
        el.tagName === "BUTTON"
          ? !(el.textContent.trim() || el.getAttribute("aria-label"))
          : !(el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")),
      )
      .map((el) => el.outerHTML.slice(0, 120)),
  );
  assert.deepEqual(unlabelled, []);
}

async function shot(page, name, { console = true } = {}) {
  if (console) await assertLabelled(page);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  workdir = mkdtempSync(join(tmpdir(), "console-e2e-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  serverLog = join(workdir, "serve.log");
  const out = openSync(serverLog, "w");
  server = spawn(SERVE, {
    cwd: REPO,
    shell: true,
    detached: true,
    stdio: ["ignore", out, out],
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: `sqlite+aiosqlite:///${join(workdir, "e2e.db")}`,
      // Merchant payouts stay pending (not sent to the bank) long enough to be cancelled.
      DISPATCH_INTERVAL_S: "3600",
      // The webhook endpoints of the test listen on 127.0.0.1.
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true",
      // The in-process banks' clocks run a day a second and fail a quarter of their orders at
      // settlement, and the poller asks every 2 s: the demo run has failed payouts to pay again.
      MOCK_CLOCK_SPEED: "86400",
      MOCK_FAILURE_RATE: "0.25",
      POLL_INTERVAL_S: "2",
    },
  });
  await waitForHealth(180_000);
  // The demo's run, then the reconciliation that finds the order the demo planted at the wire bank.
  // An endpoint on a port nobody listens on: its deliveries fail and wait to be retried.
  await api(OPS_KEY, `mutation { createWebhookEndpoint(input: {url: "http://127.0.0.1:9/hooks", events: ["run.*"]}) { webhookEndpoint { id } userErrors { code } } }`);
  // The demo's run: it waits for an approval by another person, then the job runner runs it.
  const started = await api(OPS_KEY, `mutation { startRun(input: {liquidationEventId: "LIQ-2024-001", idempotencyKey: "e2e-1"}) { run { id approval { id } } userErrors { code } } }`);
  const approvalId = started.startRun.run.approval.id;
  demoRunId = started.startRun.run.id;
  await api(APPROVER_KEY, `mutation { decideApproval(input: {approvalId: "${approvalId}", decision: APPROVE, note: "e2e"}) { userErrors { code } } }`);
  await waitForRun(started.startRun.run.id, 120_000);
  await api(OPS_KEY, `mutation { runReconciliation(input: {businessDate: "2026-11-20"}) { reconciliationRun { id } userErrors { code } } }`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  if (server?.exitCode === null) process.kill(-server.pid, "SIGTERM");
  await new Promise((r) => (server?.exitCode === null ? server.once("exit", r) : r()));
  rmSync(workdir, { recursive: true, force: true });
});

describe("operator", () => {
  test("signs in with a key, sees the overview, opens a payout's trace", async () => {
    const page = await newPage();
    await signIn(page, OPS_KEY);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByRole("heading", { name: "Open reconciliation breaks" }).waitFor();
    await page.locator(".stat", { hasText: "Open reconciliation breaks" }).locator(".stat-value", { hasText: /^[1-9]/ }).waitFor();
    await page.getByRole("heading", { name: "Last run of each job" }).waitFor();
    await shot(page, "01-operator-overview");

    await navTo(page, "Payouts");
    await page.getByLabel("Country").fill("JP");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/country=JP/);
    const first = page.locator("tbody tr").first();
    await first.getByRole("cell", { name: "ZENGIN" }).waitFor();
    await shot(page, "02-operator-payouts");
    await first.getByRole("link", { name: /^#\d+$/ }).click();
    await page.getByRole("heading", { name: "Trace" }).waitFor();
    const steps = page.getByRole("list", { name: "Trace" }).locator("li");
    assert.ok((await steps.count()) >= 2, "a trace with its steps");
    await page.getByRole("heading", { name: "Ledger entries" }).waitFor();
    assert.ok((await page.locator("th", { hasText: "Debit" }).count()) === 1);
    await page.getByText("Order id", { exact: true }).waitFor();
    await shot(page, "03-operator-payout-trace");

    await navTo(page, "Runs");
    await page.getByRole("link", { name: /^#\d+$/ }).first().click();
    await page.getByRole("heading", { name: "Why payouts were skipped" }).waitFor();
    await page.getByRole("cell", { name: "missing country" }).waitFor();
    await page.getByRole("table", { name: "By rail" }).waitFor();
    await page.locator("section.card", { has: page.getByRole("heading", { name: "Payouts", exact: true }) }).locator("tbody tr").first().waitFor();
    await shot(page, "04-operator-run");

    await navTo(page, "Payees");
    await page.getByLabel("Name or external id").fill("acme");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: /Acme/ }).first().click();
    await page.getByRole("heading", { name: "Bank accounts" }).waitFor();
    await shot(page, "05-operator-payee");
    await page.getByRole("button", { name: "Add account" }).click();
    await page.locator("#acct-holderName-error").waitFor(); // the server's field errors, next to the fields
    await page.context().close();
  });

  test("resolves the reconciliation break with a note", async () => {
    const page = await newPage();
    await signIn(page, OPS_KEY);
    await navTo(page, "Reconciliation");
    const row = page.locator("tbody tr", { hasText: "unknown at provider" }).first();
    await row.waitFor();
    await shot(page, "06-operator-reconciliation");
    const link = row.getByRole("link", { name: /^#\d+$/ });
    const id = (await link.textContent()).slice(1);
    await link.click();
    await page.getByRole("heading", { name: "Our records" }).waitFor();
    await page.getByRole("heading", { name: /^Provider/ }).waitFor();
    await page.getByRole("button", { name: "Resolve break" }).click();
    await page.locator("#note-error").waitFor(); // an empty note is refused, next to the field
    await page.getByLabel("What was done about it").fill("Order placed by hand at the wire bank; refunded by the bank on 2026-11-23.");
    await shot(page, "07-operator-break");
    await page.getByRole("button", { name: "Resolve break" }).click();
    await page.waitForURL(`${base}/reconciliation`);
    const data = await api(OPS_KEY, `{ reconciliationBreaks(first: 100) { edges { node { id status resolutionNote } } } }`);
    const resolved = data.reconciliationBreaks.edges.map((e) => e.node).find((b) => b.id === id);
    assert.equal(resolved.status, "RESOLVED");
    assert.match(resolved.resolutionNote, /refunded by the bank/);
    await page.context().close();
  });

  test("sees a bank account held by verification; an ops key asks, an approver clears it", async () => {
    const data = await api(OPS_KEY, `{ payees(first: 100) { edges { node { id name country accountInUse { railCode } } } } }`);
    const payee = data.payees.edges.map((e) => e.node).find((p) => p.country === "DE" && p.accountInUse?.railCode === "SEPA");
    const added = await api(OPS_KEY, `mutation($input: AddBankAccountInput!) { addBankAccount(input: $input) { bankAccount { id } userErrors { message } } }`, {
      input: { payeeId: payee.id, holderName: `${payee.name} (no match)`, currency: "EUR", country: "DE", iban: "DE89370400440532013000" },
    });
    const accountId = added.addBankAccount.bankAccount.id;
    const page = await newPage();
    await signIn(page, OPS_KEY);
    await page.goto(`${base}/payees/${payee.id}`);
    const cell = page.locator(".verification").filter({ has: page.getByRole("button", { name: "Ask to clear…" }) });
    await cell.waitFor(); // the bank's answer arrives within seconds of the account
    assert.match(await cell.textContent(), /No Match|no match/i);
    assert.match(await cell.textContent(), /Held: /);
    await cell.getByRole("button", { name: "Ask to clear…" }).click();
    await shot(page, "21-payee-verification-held");
    const form = page.getByRole("form", { name: `Ask to clear the hold on account ${accountId}` });
    await form.getByRole("button", { name: "Ask to clear" }).click();
    await page.locator(`#verify-note-${accountId}-error`).waitFor(); // an empty note is refused, next to the field
    await form.getByLabel("Why it is safe to pay").fill("Called the payee: the account is theirs.");
    await form.getByRole("button", { name: "Ask to clear" }).click();
    await page.getByText(/Clearance asked: approval #\d+ waits for an approver/).waitFor();
    const pending = await api(OPS_KEY, `{ approvals(filter: {status: PENDING}, first: 50) { edges { node { id kind subjectId } } } }`);
    const approval = pending.approvals.edges.map((e) => e.node).find((a) => a.kind === "BANK_ACCOUNT" && a.subjectId === accountId);
    await api(APPROVER_KEY, `mutation { decideApproval(input: {approvalId: "${approval.id}", decision: APPROVE}) { userErrors { code } } }`);
    await page.reload();
    await page.getByText(/Cleared by approver@example.com.*Called the payee/).waitFor();
    const after = await api(OPS_KEY, `{ payee(id: "${payee.id}") { bankAccounts { id verification { held note } } } }`);
    const account = after.payee.bankAccounts.find((a) => a.id === accountId);
    assert.equal(account.verification.held, false);
    assert.match(account.verification.note, /Called the payee/);
    await page.context().close();
  });

  test("an auditor signs in by keyboard alone and sees operator screens without the key screen", async () => {
    const page = await newPage();
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.activeElement?.id === "api-key"); // the key field has the focus
    await page.keyboard.type(AUDITOR_KEY);
    await page.keyboard.press("Enter");
    const nav = page.getByRole("navigation", { name: "Main" });
    await nav.waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Overview");
    await nav.getByRole("link", { name: "Reconciliation" }).waitFor();
    assert.equal(await nav.getByRole("link", { name: "API keys" }).count(), 0);
    await page.context().close();
  });
});

/** A small event from the example file: the header and four investors; `broken` gives
 *  the third row an amount with too many decimals. */
function investorsCsv(name, { broken = false } = {}) {
  const lines = readFileSync(join(REPO, "examples/investors_1000.csv"), "utf8").trim().split("\n").slice(0, 5);
  if (broken) {
    const cells = lines[3].split(",");
    cells[5] = "1.001";
    lines[3] = cells.join(",");
  }
  const path = join(workdir, name);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

describe("four eyes", () => {
  test("an operator imports a CSV (dry run, then import) and starts a run; an approver approves it; the progress bar reaches completed; a payout's trace opens", async () => {
    const page = await newPage();
    await signIn(page, OPS_KEY);
    await navTo(page, "Events");
    await page.getByRole("heading", { name: "Import an event from a CSV" }).waitFor();
    await page.getByLabel("Event code").fill("LIQ-E2E-1");
    await page.getByLabel("Name", { exact: true }).fill("E2E Fund II distribution");
    await page.getByLabel("CSV file").setInputFiles(investorsCsv("broken.csv", { broken: true }));
    await page.getByRole("button", { name: "Check (dry run)" }).click();
    const bad = page.locator("tr.row-error");
    await bad.first().waitFor();
    assert.equal(await bad.count(), 1, "exactly the broken row is highlighted");
    assert.equal(await bad.getAttribute("data-row"), "4");
    assert.match(await bad.textContent(), /amount/);
    assert.equal(await page.getByRole("button", { name: /^Import/ }).count(), 0, "no import while the file has errors");
    await shot(page, "13-events-dry-run-errors");

    await page.getByLabel("CSV file").setInputFiles(investorsCsv("good.csv"));
    await page.getByText("The inputs changed since the check").waitFor();
    await page.getByRole("button", { name: "Check (dry run)" }).click();
    await page.getByText("The file is clean: 4 rows would be imported.").waitFor();
    assert.equal(await page.locator("tr.row-error").count(), 0);
    await shot(page, "14-events-dry-run-clean");
    const before = (await api(OPS_KEY, "{ events { code } }")).events.length;
    await page.getByRole("button", { name: "Import 4 rows" }).dblclick();
    await page.locator(".confirmation", { hasText: "LIQ-E2E-1" }).waitFor();
    const events = (await api(OPS_KEY, "{ events { code allocationCount } }")).events;
    assert.equal(events.length, before + 1, "imported once");
    assert.equal(events.find((e) => e.code === "LIQ-E2E-1").allocationCount, 4);

    await page.getByRole("button", { name: "Start a run of LIQ-E2E-1" }).click();
    await page.waitForURL(/\/runs\/\d+$/);
    const runId = page.url().split("/").pop();
    await page.getByText("Waiting for approval").waitFor();
    await page.getByRole("heading", { name: "Preview: what the run would pay" }).waitFor();
    await shot(page, "15-run-awaiting-approval");

    // Another person, with an approver key: the overview lists the run, Approvals approves it.
    const approver = await newPage();
    await signIn(approver, APPROVER_KEY);
    const waiting = approver.locator("section.card", { has: approver.getByRole("heading", { name: "Runs awaiting approval" }) });
    await waiting.getByRole("link", { name: `#${runId}` }).waitFor();
    await shot(approver, "16-approver-overview");
    await navTo(approver, "Approvals");
    const row = approver.locator("li.approval", { has: approver.getByRole("link", { name: `Run #${runId}` }) });
    await row.waitFor();
    await shot(approver, "17-approvals");
    await row.getByLabel("Note (optional)").fill("Checked against the fund's distribution notice.");
    await row.getByRole("button", { name: "Approve" }).click();
    await row.waitFor({ state: "detached" }); // the pending list no longer has it
    await approver.context().close();

    // The operator's run page follows the run live (runUpdated) to the end.
    const bar = page.getByRole("progressbar");
    await page.waitForFunction(() => document.querySelector('[role="progressbar"]')?.getAttribute("aria-valuenow") === "100", null, { timeout: 90_000 });
    await page.locator("h1 .badge", { hasText: "completed" }).waitFor();
    assert.match(await bar.getAttribute("aria-valuetext"), /completed/);
    await page.getByRole("table", { name: "By rail" }).waitFor();
    await page.getByRole("table", { name: "By status" }).locator("tbody th").first().waitFor();
    const run = await api(OPS_KEY, `{ run(id: "${runId}") { state approval { status decidedBy } progress { total evaluated } } }`);
    assert.equal(run.run.state, "COMPLETED");
    assert.equal(run.run.approval.status, "APPROVED");
    assert.equal(run.run.approval.decidedBy, "approver@example.com");
    await shot(page, "18-run-completed");

    // The CSV export downloads with the key (a plain link could not send it).
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    assert.equal(download.suggestedFilename(), `run-${runId}.csv`);
    const csv = readFileSync(await download.path(), "utf8");
    assert.equal(csv.trim().split("\n").length, 5, "a header and the run's four payouts");

    // Filter the payouts, then open one's trace.
    const payouts = page.locator("section.card", { has: page.getByRole("heading", { name: "Payouts", exact: true }) });
    await payouts.locator("tbody tr").nth(3).waitFor();
    await page.getByLabel("Rail").selectOption("BECS_AU"); // INV-00002, in Australia
    await payouts.locator("tbody tr").nth(1).waitFor({ state: "detached" }); // the only one on BECS_AU
    await payouts.locator("tbody tr").first().getByRole("cell", { name: "BECS_AU" }).waitFor();
    await payouts.getByRole("link", { name: /^#\d+$/ }).first().click();
    await page.getByRole("heading", { name: "Trace" }).waitFor();
    assert.ok((await page.getByRole("list", { name: "Trace" }).locator("li").count()) >= 2);
    await shot(page, "19-run-payout-trace");
    await page.context().close();
  });

  test("webhooks: an endpoint's secret is shown once, deliveries are listed and replayed", async () => {
    const page = await newPage();
    await signIn(page, OPS_KEY);
    await navTo(page, "Webhooks");
    await page.getByLabel("URL").fill("http://127.0.0.1:9/other");
    await page.getByLabel("Events").fill("payout.*");
    await page.getByRole("button", { name: "Create endpoint" }).click();
    const secret = page.locator(".secret code");
    await secret.waitFor();
    assert.match(await secret.textContent(), /^whsec_/);
    const replay = page.getByRole("button", { name: /^Replay event/ }).first();
    await replay.waitFor({ timeout: 30_000 });
    await shot(page, "20-webhooks");
    await replay.click();
    await page.getByText(/scheduled again/).waitFor();
    await page.reload();
    await page.getByRole("heading", { name: "Endpoints" }).waitFor();
    assert.equal(await page.locator(".secret").count(), 0, "the secret is not shown again");
    await page.context().close();
  });

  test("Pay again on a failed payout, double-clicked, makes one attempt after its approval", async () => {
    const attemptsOf = async (id) => (await api(OPS_KEY, `{ payout(id: "${id}") { attempts { id attempt status } } }`)).payout.attempts;
    let candidates = [];
    for (const until = Date.now() + 120_000; !candidates.length && Date.now() < until; await new Promise((r) => setTimeout(r, 500))) {
      const failed = await api(OPS_KEY, `{ payouts(filter: {status: FAILED}, first: 100) { edges { node { id retryable attempts { id } } } } }`);
      candidates = failed.payouts.edges.map((e) => e.node).filter((p) => p.retryable !== false && p.attempts.length === 1);
    }
    assert.ok(candidates.length, "the demo run has a failed payout to pay again");
    const id = candidates[0].id;
    const page = await newPage();
    await signIn(page, OPS_KEY);
    await page.goto(`${base}/payouts/${id}`);
    await page.getByRole("table", { name: "Attempts" }).waitFor();
    await page.getByRole("button", { name: "Pay again" }).dblclick();
    // Every retry needs an approval in the demo (RUN_APPROVAL_MIN_TOTAL 0).
    const waiting = page.getByRole("status").filter({ hasText: /Waiting for approval #\d+/ });
    await waiting.waitFor();
    const approvalId = (await waiting.textContent()).match(/approval #(\d+)/)[1];
    assert.equal((await attemptsOf(id)).length, 1, "no attempt before the approval");
    const decided = await api(APPROVER_KEY, `mutation { decideApproval(input: {approvalId: "${approvalId}", decision: APPROVE, note: "e2e retry"}) { userErrors { code } } }`);
    assert.deepEqual(decided.decideApproval.userErrors, []);
    let attempts = await attemptsOf(id);
    for (const until = Date.now() + 30_000; attempts.length < 2 && Date.now() < until; attempts = await attemptsOf(id)) await new Promise((r) => setTimeout(r, 250));
    assert.equal(attempts.length, 2, "exactly one new attempt");
    assert.equal(attempts[1].attempt, 2);
    await page.reload();
    const table = page.getByRole("table", { name: "Attempts" });
    await table.getByRole("link", { name: `#${attempts[1].id}` }).waitFor();
    await shot(page, "22-payout-attempts");
    // Paid again once: the first attempt offers no second "Pay again", and the API refuses one.
    assert.equal(await page.getByRole("button", { name: "Pay again" }).count(), 0);
    const again = await api(OPS_KEY, `mutation { retryPayout(input: {payoutId: "${id}", idempotencyKey: "e2e-again"}) { userErrors { code } } }`);
    assert.deepEqual(again.retryPayout.userErrors.map((e) => e.code), ["NOT_RETRYABLE"]);
    assert.equal((await attemptsOf(id)).length, 2, "still one new attempt");

    // The run's other failed and returned payouts, all at once: one approval for them.
    await page.goto(`${base}/runs/${demoRunId}`);
    await page.getByRole("button", { name: "Retry failed and returned" }).click();
    await page.getByRole("status").filter({ hasText: /Waiting for approval #\d+/ }).waitFor();
    await shot(page, "23-run-retry");
    await page.context().close();
  });
});

async function accountOf(payeeId) {
  const data = await api(ACME_KEY, `{ payee(id: "${payeeId}") { accountInUse { id } } }`);
  return data.payee.accountInUse.id;
}

describe("merchant", () => {
  const payouts = `{ me { payee { id } } payouts(first: 100) { edges { node { id idempotencyKey } } } }`;

  test("a double click on Request payout makes exactly one payout", async () => {
    const before = (await api(ACME_KEY, payouts)).payouts.edges.length;
    const page = await newPage();
    await signIn(page, ACME_KEY);
    await page.getByRole("heading", { name: "Balances" }).waitFor();
    await page.getByText("Available").first().waitFor();
    await shot(page, "08-merchant-balances");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Request payout" }).click();
    await page.getByLabel("Amount").fill("12.5");
    await page.getByRole("button", { name: "Request payout" }).dblclick();
    const confirmation = page.locator(".confirmation");
    await confirmation.waitFor();
    assert.match(await confirmation.textContent(), /12\.50 INR/); // Acme is paid in rupees
    await shot(page, "09-merchant-requested");
    const afterData = await api(ACME_KEY, payouts);
    assert.equal(afterData.payouts.edges.length, before + 1, "exactly one new payout");

    // A reload after the answer and sending again does not pay twice either: the form is new.
    await page.getByRole("link", { name: "See its status" }).click();
    await page.getByRole("heading", { name: "Payout history" }).waitFor();
    await page.locator(".live", { hasText: "Live" }).waitFor();
    const mine = page.locator(`tr[data-payout="${afterData.payouts.edges[0].node.id}"]`);
    await mine.getByText("pending").waitFor();

    // Live: a payout made elsewhere (another tab, the API) appears without a reload.
    const made = await api(ACME_KEY, `mutation($input: CreatePayoutInput!) { createPayout(input: $input) { payout { id } userErrors { message } } }`, {
      input: { payeeId: afterData.me.payee.id, amount: "3.00", currency: "INR", bankAccountId: await accountOf(afterData.me.payee.id), idempotencyKey: "e2e-live-1" },
    });
    const live = page.locator(`tr[data-payout="${made.createPayout.payout.id}"]`);
    await live.getByText("pending").waitFor();
    await shot(page, "10-merchant-history");

    // Cancel while pending.
    await live.getByRole("button", { name: /^Cancel payout/ }).click();
    await live.getByText("cancelled").waitFor();
    const cancelled = await api(ACME_KEY, `{ payout(id: "${made.createPayout.payout.id}") { status } }`);
    assert.equal(cancelled.payout.status, "CANCELLED");
    await page.context().close();
  });

  test("a payee key sees no operator navigation and gets nothing from an operator URL", async () => {
    const page = await newPage();
    const asked = [];
    page.on("request", (request) => {
      if (request.url().endsWith("/graphql") && request.method() === "POST") asked.push(request.postData() ?? "");
    });
    await signIn(page, ACME_KEY);
    const nav = page.getByRole("navigation", { name: "Main" });
    const links = await nav.getByRole("link").allTextContents();
    assert.deepEqual(links, ["Balances", "Request payout", "Payout history"]);
    await page.goto(`${base}/reconciliation`);
    await page.getByRole("heading", { name: "Not available" }).waitFor();
    await page.goto(`${base}/payouts/1`);
    await page.getByRole("heading", { name: "Not available" }).waitFor();
    await shot(page, "11-merchant-operator-url");
    assert.ok(!asked.some((body) => /reconciliation|Payout\(\$id/.test(body)), "no operator query was sent");
    await page.context().close();
  });
});

describe("GraphiQL", () => {
  test("loads from this server alone and answers { me { role } }", async () => {
    const page = await newPage();
    await signIn(page, OPS_KEY);
    await page.goto(`${base}/graphql`);
    const editor = page.locator(".graphiql-query-editor .CodeMirror").first();
    await editor.waitFor();
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type("{ me { role");
    await page.keyboard.press("Control+Enter");
    const result = page.locator(".result-window");
    await result.getByText('"OPS"').waitFor();
    await shot(page, "12-graphiql", { console: false });
    await page.context().close();
  });
});

describe("offline", () => {
  test("no page asked any host but 127.0.0.1, and no CSP violation happened", () => {
    assert.deepEqual(offsite, []);
    assert.deepEqual(cspViolations, []);
  });
});
