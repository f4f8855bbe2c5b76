import { useState } from "react";
import { useQuery } from "urql";
import { Link } from "wouter";
import { graphql } from "../gql";
import { Card, Empty, Loading, Page, Pager, Problem, Status, Time } from "../ui";

const RunsQuery = graphql(`
  query Runs($after: String) {
    runs(first: 25, after: $after) {
      edges { node { id status state startedAt finishedAt total created skipped failed inFlight event { code name } } }
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
                    <td><Status value={r.state} /></td>
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

export { RunPage } from "./RunPage";
