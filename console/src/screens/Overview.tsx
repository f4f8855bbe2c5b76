import { useState } from "react";
import { useQuery } from "urql";
import { Link } from "wouter";
import { graphql } from "../gql";
import { Card, Empty, Loading, Money, Page, Pager, PayoutLink, Problem, Status, Time } from "../ui";

const OverviewQuery = graphql(`
  query Overview {
    runs(first: 20) { edges { node { id status startedAt total created skipped failed inFlight event { code name } } } }
    openBreaks: reconciliationBreaks(filter: { status: OPEN }, first: 100) {
      edges { node { id kind detail provider firstSeenAt payout { id } } }
      pageInfo { hasNextPage }
    }
    failed: payouts(filter: { status: FAILED }, first: 100) { edges { node { ...ProblemPayout } } }
    returned: payouts(filter: { status: RETURNED }, first: 100) { edges { node { ...ProblemPayout } } }
    jobRuns(first: 100) { edges { node { id job status trigger startedAt finishedAt error } } }
    awaiting: approvals(filter: { status: PENDING, kind: RUN }, first: 100) {
      edges { node { id requestedBy requestedAt expiresAt run { id event { code } preview { payouts totals { amount currency } } } } }
      pageInfo { hasNextPage }
    }
  }
  fragment ProblemPayout on Payout {
    id status updatedAt country railCode failureCode failureReason amount { amount currency } payee { name }
  }
`);

const WEEK_MS = 7 * 24 * 3600 * 1000;

export function Overview() {
  const [{ data, error, fetching }] = useQuery({ query: OverviewQuery });
  if (fetching && !data) return <Loading />;
  if (!data) return <Problem error={error} />;
  const running = data.runs.edges.map((e) => e.node).filter((r) => r.status === "running");
  // "Now" is the engine's: the demo runs its clock from a fixed date, behind the browser's,
  // so the newest job run (jobs run every few seconds) stands in when it is earlier.
  const newestJob = data.jobRuns.edges[0]?.node.startedAt;
  const now = Math.min(Date.now(), newestJob ? new Date(newestJob).getTime() : Date.now());
  const since = now - WEEK_MS;
  const troubled = [...data.failed.edges, ...data.returned.edges]
    .map((e) => e.node)
    .filter((p) => new Date(p.updatedAt).getTime() >= since)
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  const latest = new Map<string, (typeof data.jobRuns.edges)[number]["node"]>();
  for (const { node } of data.jobRuns.edges) if (!latest.has(node.job)) latest.set(node.job, node);
  const breaks = data.openBreaks.edges.map((e) => e.node);
  const awaiting = data.awaiting.edges.map((e) => e.node);
  return (
    <Page title="Overview">
      <div className="stats">
        <Stat label="Runs awaiting approval" value={`${awaiting.length}${data.awaiting.pageInfo.hasNextPage ? "+" : ""}`} href="/approvals" />
        <Stat label="Runs in progress" value={running.length} href="/runs" />
        <Stat label="Open reconciliation breaks" value={`${breaks.length}${data.openBreaks.pageInfo.hasNextPage ? "+" : ""}`} href="/reconciliation" />
        <Stat label="Failed or returned, last 7 days" value={troubled.length} href="/payouts?status=FAILED" />
        <Stat label="Jobs" value={latest.size} href="/jobs" />
      </div>
      <div className="grid">
        <Card title="Runs awaiting approval" wide>
          {awaiting.length ? (
            <table>
              <thead><tr><th>Run</th><th>Event</th><th className="num">Payouts</th><th className="num">Would pay</th><th>Asked by</th><th>Asked</th><th>Expires</th></tr></thead>
              <tbody>
                {awaiting.map((a) => (
                  <tr key={a.id}>
                    <td>{a.run ? <Link href={`/runs/${a.run.id}`}>#{a.run.id}</Link> : "—"}</td>
                    <td>{a.run?.event.code ?? "—"}</td>
                    <td className="num">{a.run?.preview?.payouts ?? "—"}</td>
                    <td className="num">{a.run?.preview?.totals.map((t) => <div key={t.currency}><Money value={t} /></div>) ?? "—"}</td>
                    <td>{a.requestedBy}</td>
                    <td><Time iso={a.requestedAt} /></td>
                    <td><Time iso={a.expiresAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No run is waiting for an approval.</Empty>}
        </Card>
        <Card title="Runs in progress">
          {running.length ? (
            <table>
              <thead><tr><th>Run</th><th>Event</th><th>Started</th><th className="num">Payouts</th></tr></thead>
              <tbody>
                {running.map((r) => (
                  <tr key={r.id}>
                    <td><Link href={`/runs/${r.id}`}>#{r.id}</Link></td>
                    <td>{r.event.code}</td>
                    <td><Time iso={r.startedAt} /></td>
                    <td className="num">{r.created + r.skipped + r.failed + r.inFlight} / {r.total}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No run is in progress.</Empty>}
        </Card>
        <Card title="Open reconciliation breaks">
          {breaks.length ? (
            <table>
              <thead><tr><th>Break</th><th>Kind</th><th>Provider</th><th>First seen</th></tr></thead>
              <tbody>
                {breaks.slice(0, 8).map((b) => (
                  <tr key={b.id}>
                    <td><Link href={`/reconciliation/breaks/${b.id}`}>#{b.id}</Link></td>
                    <td><Status value={b.kind} /></td>
                    <td>{b.provider ?? "—"}</td>
                    <td><Time iso={b.firstSeenAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No open break.</Empty>}
        </Card>
        <Card title="Failed or returned in the last 7 days" wide>
          {troubled.length ? (
            <table>
              <thead><tr><th>Payout</th><th>Status</th><th>Payee</th><th>Rail</th><th className="num">Amount</th><th>Reason</th><th>Changed</th></tr></thead>
              <tbody>
                {troubled.map((p) => (
                  <tr key={p.id}>
                    <td><PayoutLink id={p.id} /></td>
                    <td><Status value={p.status} /></td>
                    <td>{p.payee.name}</td>
                    <td>{p.railCode ?? "—"}</td>
                    <td className="num"><Money value={p.amount} /></td>
                    <td>{p.failureReason ?? p.failureCode ?? ""}</td>
                    <td><Time iso={p.updatedAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No payout failed or came back in the last 7 days.</Empty>}
        </Card>
        <Card title="Last run of each job" wide>
          <JobTable rows={[...latest.values()]} />
        </Card>
      </div>
    </Page>
  );
}

function Stat({ label, value, href }: { label: string; value: number | string; href: string }) {
  return (
    <Link href={href} className="stat">
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </Link>
  );
}

type JobRow = { id: string; job: string; status: string; trigger: string; startedAt: string; finishedAt?: string | null; error?: string | null };

function JobTable({ rows }: { rows: JobRow[] }) {
  if (!rows.length) return <Empty>No job has run yet.</Empty>;
  return (
    <table>
      <thead><tr><th>Job</th><th>Status</th><th>Trigger</th><th>Started</th><th>Finished</th><th>Error</th></tr></thead>
      <tbody>
        {rows.map((j) => (
          <tr key={j.id}>
            <td>{j.job}</td>
            <td><Status value={j.status} /></td>
            <td>{j.trigger}</td>
            <td><Time iso={j.startedAt} /></td>
            <td><Time iso={j.finishedAt} /></td>
            <td>{j.error ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const JobRunsQuery = graphql(`
  query JobRuns($after: String) {
    jobRuns(first: 50, after: $after) {
      edges { node { id job status trigger startedAt finishedAt error } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export function JobRuns() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error, fetching }] = useQuery({ query: JobRunsQuery, variables: { after: cursors[cursors.length - 1] } });
  return (
    <Page title="Job runs">
      <Problem error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <Card title={`Page ${cursors.length}`} wide>
          <JobTable rows={data.jobRuns.edges.map((e) => e.node)} />
          <Pager atFirst={cursors.length === 1} hasNext={data.jobRuns.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, data.jobRuns.pageInfo.endCursor ?? null])} />
        </Card>
      ) : null}
    </Page>
  );
}
