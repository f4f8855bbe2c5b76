import { useState } from "react";
import { useQuery } from "urql";
import { Link } from "wouter";
import { graphql } from "../gql";
import { Card, Empty, Loading, Page, Pager, Problem, Status, Time } from "../ui";
import { PayoutTable } from "./Payouts";

const RunsQuery = graphql(`
  query Runs($after: String) {
    runs(first: 25, after: $after) {
      edges { node { id status startedAt finishedAt total created skipped failed inFlight event { code name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export function Runs() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error, fetching }] = useQuery({ query: RunsQuery, variables: { after: cursors[cursors.length - 1] } });
  return (
    <Page title="Payout runs">
      <Problem error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <Card title={`Page ${cursors.length}`} wide>
          {data.runs.edges.length ? (
            <table>
              <thead><tr><th>Run</th><th>Event</th><th>Status</th><th>Started</th><th>Finished</th><th className="num">Total</th><th className="num">Sent</th><th className="num">Skipped</th><th className="num">Failed</th><th className="num">In flight</th></tr></thead>
              <tbody>
                {data.runs.edges.map(({ node: r }) => (
                  <tr key={r.id}>
                    <td><Link href={`/runs/${r.id}`}>#{r.id}</Link></td>
                    <td>{r.event.code}</td>
                    <td><Status value={r.status} /></td>
                    <td><Time iso={r.startedAt} /></td>
                    <td><Time iso={r.finishedAt} /></td>
                    <td className="num">{r.total}</td><td className="num">{r.created}</td><td className="num">{r.skipped}</td><td className="num">{r.failed}</td><td className="num">{r.inFlight}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No run yet.</Empty>}
          <Pager atFirst={cursors.length === 1} hasNext={data.runs.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, data.runs.pageInfo.endCursor ?? null])} />
        </Card>
      ) : null}
    </Page>
  );
}

const RunQuery = graphql(`
  query Run($id: ID!, $after: String) {
    run(id: $id) {
      id status idempotencyKey startedAt finishedAt total created skipped failed inFlight alreadySubmitted
      event { id code name fundName total { amount currency } }
      skipBreakdown { reason count }
      payouts(first: 25, after: $after) {
        edges { node { id status country railCode createdAt amount { amount currency } targetAmount { amount currency } payee { id name } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`);

export function RunPage({ id }: { id: string }) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error, fetching }] = useQuery({ query: RunQuery, variables: { id, after: cursors[cursors.length - 1] } });
  if (fetching && !data) return <Loading />;
  const r = data?.run;
  if (!r) return <Page title={`Run #${id}`}><Problem error={error} />{error ? null : <Empty>No such run.</Empty>}</Page>;
  return (
    <Page title={<>Run #{r.id} <Status value={r.status} /></>}>
      <div className="grid">
        <Card title="Summary">
          <dl className="facts">
            <dt>Event</dt><dd>{r.event.code} — {r.event.name}</dd>
            <dt>Fund</dt><dd>{r.event.fundName}</dd>
            <dt>Started</dt><dd><Time iso={r.startedAt} /></dd>
            <dt>Finished</dt><dd><Time iso={r.finishedAt} /></dd>
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
          ) : <Empty>Nothing was skipped.</Empty>}
        </Card>
        <Card title="Payouts" wide>
          <PayoutTable rows={r.payouts.edges.map((e) => e.node)} />
          <Pager atFirst={cursors.length === 1} hasNext={r.payouts.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, r.payouts.pageInfo.endCursor ?? null])} />
        </Card>
      </div>
    </Page>
  );
}
