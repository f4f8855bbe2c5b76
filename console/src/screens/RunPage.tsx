import { useEffect, useState } from "react";
import { useClient, useMutation, useQuery, useSubscription } from "urql";
import { graphql } from "../gql";
import type { ChartPayoutsQuery, PayoutStatus } from "../gql/graphql";
import { groupPayouts, scale, type ChartPayout, type Group } from "../lib/chart";
import { formatAmount } from "../lib/money";
import { hasEnded, runPercent } from "../lib/progress";
import type { Role } from "../lib/roles";
import { Card, DownloadButton, Empty, FormErrors, Loading, Money, Page, Pager, Problem, Status, Time, type UserError } from "../ui";
import { DecisionForm } from "./Approvals";
import { PayoutTable } from "./Payouts";
import { RetryButton } from "./Retry";

const RunQuery = graphql(`
  query Run($id: ID!) {
    run(id: $id) {
      id status state idempotencyKey startedAt finishedAt total created skipped failed inFlight alreadySubmitted
      event { id code name fundName total { amount currency } }
      skipBreakdown { reason count }
      progress { total evaluated submitted failed skipped }
      preview { payouts totals { amount currency } byRail { key count total { amount currency } } cashByProvider { key count total { amount currency } } skips { reason count } }
      approval { id status requestedBy requestedAt expiresAt decidedBy decidedAt note }
    }
  }
`);

const RunUpdated = graphql(`
  subscription RunUpdated($runId: ID!) {
    runUpdated(runId: $runId) { id state status finishedAt progress { total evaluated submitted failed skipped } }
  }
`);

const RunPayouts = graphql(`
  query RunPayouts($runId: ID!, $status: PayoutStatus, $rail: String, $after: String) {
    payouts(filter: { runId: $runId, status: $status, rail: $rail }, first: 25, after: $after) {
      edges { node { id status country railCode createdAt amount { amount currency } targetAmount { amount currency } payee { id name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const ChartPayouts = graphql(`
  query ChartPayouts($runId: ID!, $after: String) {
    payouts(filter: { runId: $runId }, first: 100, after: $after) {
      edges { node { id status railCode amount { amount currency } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const CancelRun = graphql(`
  mutation CancelRun($input: CancelRunInput!) {
    cancelRun(input: $input) { run { id state status } userErrors { field code message } }
  }
`);

const RetryPayouts = graphql(`
  mutation RetryPayouts($input: RetryPayoutsInput!) {
    retryPayouts(input: $input) {
      retry { id status approvalId skipped { code count } attempts { id status attempt } }
      replayed
      userErrors { field code message }
    }
  }
`);

const CANCELLABLE = new Set(["AWAITING_APPROVAL", "QUEUED", "RUNNING"]);
const STATUSES: PayoutStatus[] = ["PENDING", "SUBMITTING", "SUBMITTED", "COMPLETED", "FAILED", "RETURNED", "SKIPPED", "CANCELLED"];
const CHART_PAGES = 50; // 5,000 payouts

export function RunPage({ id, role }: { id: string; role: Role }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: RunQuery, variables: { id } });
  const [, retryRun] = useMutation(RetryPayouts);
  const r = data?.run;
  const ended = r ? hasEnded(r.state) : true;
  const [live] = useSubscription({ query: RunUpdated, variables: { runId: id }, pause: !r || ended });
  const update = live.data?.runUpdated;
  const state = update?.state ?? r?.state;
  // When the live feed sees the run end (or move on from approval), read it all again.
  useEffect(() => {
    if (update && r && update.state !== r.state) refetch({ requestPolicy: "network-only" });
  }, [update?.state]); // eslint-disable-line react-hooks/exhaustive-deps
  if (fetching && !data) return <Loading />;
  if (!r || !state) return <Page title={`Run #${id}`}><Problem error={error} />{error ? null : <Empty>No such run.</Empty>}</Page>;
  const progress = update?.progress ?? r.progress;
  const refresh = () => refetch({ requestPolicy: "network-only" });
  return (
    <Page
      title={<>Run #{r.id} <Status value={state} /></>}
      actions={<>
        <DownloadButton path={`/reports/runs/${r.id}.csv`} name={`run-${r.id}.csv`} label="Export CSV" />
        {role === "OPS" && CANCELLABLE.has(state) ? <CancelButton runId={r.id} onDone={refresh} /> : null}
      </>}
    >
      {role === "OPS" && hasEnded(state) ? (
        <Card title="Pay failed and returned payouts again" wide>
          <RetryButton key={r.id} label="Retry failed and returned" send={async (idempotencyKey) => {
            const outcome = await retryRun({ input: { runId: r.id, idempotencyKey, filter: { status: ["FAILED", "RETURNED"] } } });
            if (!outcome.data) return { userErrors: [], failed: outcome.error?.message ?? "No answer." };
            return outcome.data.retryPayouts;
          }} />
        </Card>
      ) : null}
      <Card title="Progress" wide>
        <ProgressBar state={state} progress={progress} live={!!update && !hasEnded(state)} />
      </Card>
      <div className="grid">
        <Card title="Summary">
          <dl className="facts">
            <dt>Event</dt><dd>{r.event.code} — {r.event.name}</dd>
            <dt>Fund</dt><dd>{r.event.fundName}</dd>
            <dt>Event total</dt><dd><Money value={r.event.total} /></dd>
            <dt>Started</dt><dd><Time iso={r.startedAt} /></dd>
            <dt>Finished</dt><dd><Time iso={update?.finishedAt ?? r.finishedAt} /></dd>
            <dt>Idempotency key</dt><dd><code>{r.idempotencyKey}</code></dd>
          </dl>
          <div className="stats small">
            <div className="stat"><span className="stat-value">{r.total}</span><span className="stat-label">payouts</span></div>
            <div className="stat"><span className="stat-value">{r.created}</span><span className="stat-label">sent</span></div>
            <div className="stat"><span className="stat-value">{r.skipped}</span><span className="stat-label">skipped</span></div>
            <div className="stat"><span className="stat-value">{r.failed}</span><span className="stat-label">failed</span></div>
            <div className="stat"><span className="stat-value">{r.inFlight}</span><span className="stat-label">in flight</span></div>
            <div className="stat"><span className="stat-value">{r.alreadySubmitted}</span><span className="stat-label">already sent</span></div>
          </div>
        </Card>
        <Card title="Approval">
          {r.approval ? (
            <>
              <dl className="facts">
                <dt>Status</dt><dd><Status value={r.approval.status} /></dd>
                <dt>Asked by</dt><dd>{r.approval.requestedBy}</dd>
                <dt>Asked</dt><dd><Time iso={r.approval.requestedAt} /></dd>
                <dt>Expires</dt><dd><Time iso={r.approval.expiresAt} /></dd>
                {r.approval.decidedBy ? <><dt>Decided by</dt><dd>{r.approval.decidedBy}, <Time iso={r.approval.decidedAt} /></dd></> : null}
                {r.approval.note ? <><dt>Note</dt><dd>{r.approval.note}</dd></> : null}
              </dl>
              {r.approval.status === "PENDING" && role === "APPROVER" ? <DecisionForm approvalId={r.approval.id} onDecided={refresh} /> : null}
              {r.approval.status === "PENDING" && role !== "APPROVER" ? <p className="muted">Waiting for an approver (another person than the one who started it).</p> : null}
            </>
          ) : <Empty>This run needed no approval.</Empty>}
        </Card>
        <Card title="Preview: what the run would pay">
          {r.preview ? (
            <>
              <p><b>{r.preview.payouts}</b> payouts, {r.preview.totals.map((t, i) => <span key={t.currency}>{i ? ", " : ""}<Money value={t} /></span>)}</p>
              <PreviewLines title="By rail" lines={r.preview.byRail} />
              <PreviewLines title="Cash each provider needs" lines={r.preview.cashByProvider} />
              {r.preview.skips.length ? <p className="chips">{r.preview.skips.map((s) => <span key={s.reason} className="chip warn">{s.reason.replace(/_/g, " ")} <b>{s.count}</b></span>)}</p> : null}
            </>
          ) : <Empty>No preview was recorded.</Empty>}
        </Card>
        <Card title="Why payouts were skipped">
          {r.skipBreakdown.length ? (
            <table>
              <thead><tr><th>Reason</th><th className="num">Payouts</th></tr></thead>
              <tbody>
                {r.skipBreakdown.map((s) => (
                  <tr key={s.reason}><td>{s.reason.replace(/_/g, " ")}</td><td className="num">{s.count}</td></tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>Nothing was skipped{hasEnded(state) ? "" : " yet"}.</Empty>}
        </Card>
        <RunChart runId={r.id} version={`${state}-${progress?.evaluated ?? 0}-${hasEnded(state)}`} />
        <RunPayoutsCard runId={r.id} rails={r.preview?.byRail.map((l) => l.key) ?? []} version={state} />
      </div>
    </Page>
  );
}

export function ProgressBar({ state, progress, live }: { state: string; progress: { total: number; evaluated: number; submitted: number; failed: number; skipped: number } | null | undefined; live: boolean }) {
  const pct = runPercent(state, progress);
  const label = state === "AWAITING_APPROVAL" ? "Waiting for approval" : state === "QUEUED" ? "Queued for the job runner" : `${pct}%`;
  return (
    <div className="progress-block">
      <div className="progress-head">
        <span id="run-progress-label">{label}</span>
        {progress ? <span className="muted">{progress.evaluated} of {progress.total} evaluated · {progress.submitted} sent · {progress.failed} failed · {progress.skipped} skipped</span> : null}
        {live ? <span className="live">Live</span> : null}
      </div>
      <div className={`progress progress-${state.toLowerCase()}`} role="progressbar" aria-labelledby="run-progress-label" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-valuetext={`${pct}%, ${state.toLowerCase().replace(/_/g, " ")}`}>
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

function PreviewLines({ title, lines }: { title: string; lines: { key: string; count: number; total: { amount: string; currency: string } }[] }) {
  if (!lines.length) return null;
  return (
    <table>
      <thead><tr><th>{title}</th><th className="num">Payouts</th><th className="num">Total</th></tr></thead>
      <tbody>{lines.map((l) => <tr key={`${l.key}-${l.total.currency}`}><td>{l.key}</td><td className="num">{l.count}</td><td className="num"><Money value={l.total} /></td></tr>)}</tbody>
    </table>
  );
}

function CancelButton({ runId, onDone }: { runId: string; onDone: () => void }) {
  const [result, cancel] = useMutation(CancelRun);
  const [errors, setErrors] = useState<UserError[]>([]);
  async function go() {
    if (!window.confirm(`Cancel run #${runId}? What a provider already has goes on to its outcome.`)) return;
    const outcome = await cancel({ input: { runId } });
    const payload = outcome.data?.cancelRun;
    if (payload?.userErrors.length) setErrors(payload.userErrors);
    else onDone();
  }
  return (
    <>
      <button type="button" className="danger" onClick={go} disabled={result.fetching}>Cancel run</button>
      <FormErrors errors={errors} fields={[]} />
    </>
  );
}

/** Every payout of the run (up to 5,000), counted and summed by rail and by status. */
function RunChart({ runId, version }: { runId: string; version: string }) {
  const client = useClient();
  const [rows, setRows] = useState<{ payouts: ChartPayout[]; truncated: boolean }>();
  useEffect(() => {
    let stop = false;
    (async () => {
      const payouts: ChartPayout[] = [];
      let after: string | null = null;
      for (let page = 0; page < CHART_PAGES; page++) {
        const result: { data?: ChartPayoutsQuery } = await client.query(ChartPayouts, { runId, after }, { requestPolicy: "network-only" }).toPromise();
        const conn: ChartPayoutsQuery["payouts"] | undefined = result.data?.payouts;
        if (!conn || stop) return;
        payouts.push(...conn.edges.map((e) => e.node));
        if (!conn.pageInfo.hasNextPage) return setRows({ payouts, truncated: false });
        after = conn.pageInfo.endCursor ?? null;
      }
      if (!stop) setRows({ payouts, truncated: true });
    })();
    return () => { stop = true; };
  }, [client, runId, version]);
  return (
    <Card title="Amounts and counts" wide>
      {!rows ? <Loading /> : rows.payouts.length ? (
        <div className="charts">
          <BarChart title="By rail" groups={groupPayouts(rows.payouts, "rail")} />
          <BarChart title="By status" groups={groupPayouts(rows.payouts, "status")} />
          {rows.truncated ? <p className="muted">The first {rows.payouts.length} payouts.</p> : null}
        </div>
      ) : <Empty>No payout yet.</Empty>}
    </Card>
  );
}

/** A bar chart that is a table: every number is text a screen reader reads; the bars are
 *  drawn beside them and hidden from it. Amount bars compare within one currency. */
export function BarChart({ title, groups }: { title: string; groups: Group[] }) {
  const counts = scale(groups.map((g) => g.count));
  const currency = groups[0]?.totals[0]?.currency;
  const single = groups.every((g) => g.totals.length <= 1 && (!g.totals[0] || g.totals[0].currency === currency));
  const amounts = single ? scale(groups.map((g) => g.totals[0]?.minor ?? 0n)) : groups.map(() => 0);
  return (
    <table className="chart">
      <caption>{title}</caption>
      <thead><tr><th scope="col">{title.replace(/^By /, "")}</th><th scope="col">Payouts</th><th scope="col">Amount{single && currency ? ` (${currency})` : ""}</th></tr></thead>
      <tbody>
        {groups.map((g, i) => (
          <tr key={g.key}>
            <th scope="row">{title === "By status" ? g.key.toLowerCase().replace(/_/g, " ") : g.key}</th>
            <td><div className="bar-cell"><span className="bar-track" aria-hidden="true"><span className="bar count" style={{ width: `${counts[i]}%` }} /></span><span className="bar-value">{g.count}</span></div></td>
            <td><div className="bar-cell"><span className="bar-track" aria-hidden="true"><span className="bar amount" style={{ width: `${amounts[i]}%` }} /></span><span className="bar-value">{g.totals.map((t) => `${formatAmount(t.amount, t.currency)}${single ? "" : ` ${t.currency}`}`).join(", ") || "—"}</span></div></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RunPayoutsCard({ runId, rails, version }: { runId: string; rails: string[]; version: string }) {
  const [status, setStatus] = useState<PayoutStatus | "">("");
  const [rail, setRail] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error }, refetch] = useQuery({ query: RunPayouts, variables: { runId, status: status || null, rail: rail || null, after: cursors[cursors.length - 1] } });
  useEffect(() => { refetch({ requestPolicy: "network-only" }); }, [version]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <Card title="Payouts" wide>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter the run's payouts">
        <div className="field">
          <label htmlFor="run-status">Status</label>
          <select id="run-status" value={status} onChange={(e) => { setStatus(e.target.value as PayoutStatus | ""); setCursors([null]); }}>
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="run-rail">Rail</label>
          <select id="run-rail" value={rail} onChange={(e) => { setRail(e.target.value); setCursors([null]); }}>
            <option value="">any</option>
            {[...new Set(rails)].sort().map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </div>
      </form>
      <Problem error={error} />
      {data ? (
        <>
          <PayoutTable rows={data.payouts.edges.map((e) => e.node)} />
          <Pager atFirst={cursors.length === 1} hasNext={data.payouts.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, data.payouts.pageInfo.endCursor ?? null])} />
        </>
      ) : <Loading />}
    </Card>
  );
}
