import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { Link, useLocation } from "wouter";
import { graphql } from "../gql";
import type { BreakStatus } from "../gql/graphql";
import { Card, DownloadButton, Empty, Field, FormErrors, Json, Loading, Page, Pager, PayoutLink, Problem, Status, Time, fieldError, type UserError } from "../ui";

const ReconciliationQuery = graphql(`
  query Reconciliation($status: BreakStatus, $after: String) {
    reconciliationRuns(first: 10) {
      edges { node { id businessDate status trigger attempts startedAt finishedAt error } }
    }
    reconciliationBreaks(filter: { status: $status }, first: 25, after: $after) {
      edges { node { id kind status detail provider providerOrderId firstSeenAt lastSeenAt payout { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const RunReconciliation = graphql(`
  mutation RunReconciliation {
    runReconciliation(input: {}) {
      reconciliationRun { id businessDate status }
      userErrors { field code message }
    }
  }
`);

export function Reconciliation({ mayChange }: { mayChange: boolean }) {
  const [status, setStatus] = useState<BreakStatus | "">("OPEN");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error, fetching }, refetch] = useQuery({
    query: ReconciliationQuery,
    variables: { status: status || null, after: cursors[cursors.length - 1] },
  });
  const [run, startRun] = useMutation(RunReconciliation);
  const runErrors = run.data?.runReconciliation.userErrors ?? [];
  async function reconcile() {
    await startRun({});
    refetch({ requestPolicy: "network-only" });
  }
  return (
    <Page
      title="Reconciliation"
      actions={<>
        <DownloadButton path="/reports/breaks.csv" name="breaks.csv" label="Export breaks CSV" />
        {mayChange ? <button type="button" className="primary" onClick={reconcile} disabled={run.fetching}>{run.fetching ? "Reconciling…" : "Reconcile now"}</button> : null}
      </>}
    >
      <Problem error={error ?? run.error} />
      <FormErrors errors={runErrors} fields={[]} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <div className="grid">
          <Card title="Breaks" wide>
            <div className="filters">
              <div className="field">
                <label htmlFor="break-status">Status</label>
                <select id="break-status" value={status} onChange={(e) => { setStatus(e.target.value as BreakStatus | ""); setCursors([null]); }}>
                  <option value="OPEN">open</option>
                  <option value="RESOLVED">resolved</option>
                  <option value="AUTO_RESOLVED">auto-resolved</option>
                  <option value="">any</option>
                </select>
              </div>
            </div>
            {data.reconciliationBreaks.edges.length ? (
              <table>
                <thead><tr><th>Break</th><th>Kind</th><th>Status</th><th>Detail</th><th>Payout</th><th>First seen</th><th>Last seen</th></tr></thead>
                <tbody>
                  {data.reconciliationBreaks.edges.map(({ node: b }) => (
                    <tr key={b.id}>
                      <td><Link href={`/reconciliation/breaks/${b.id}`}>#{b.id}</Link></td>
                      <td><Status value={b.kind} /></td>
                      <td><Status value={b.status} /></td>
                      <td className="detail">{b.detail}</td>
                      <td>{b.payout ? <PayoutLink id={b.payout.id} /> : "—"}</td>
                      <td><Time iso={b.firstSeenAt} /></td>
                      <td><Time iso={b.lastSeenAt} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : <Empty>No break{status ? ` ${status.toLowerCase().replace("_", "-")}` : ""}.</Empty>}
            <Pager atFirst={cursors.length === 1} hasNext={data.reconciliationBreaks.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, data.reconciliationBreaks.pageInfo.endCursor ?? null])} />
          </Card>
          <Card title="Reconciliation runs" wide>
            {data.reconciliationRuns.edges.length ? (
              <table>
                <thead><tr><th>Run</th><th>Business date</th><th>Status</th><th>Trigger</th><th className="num">Attempts</th><th>Started</th><th>Finished</th><th>Error</th></tr></thead>
                <tbody>
                  {data.reconciliationRuns.edges.map(({ node: r }) => (
                    <tr key={r.id}>
                      <td>#{r.id}</td><td>{r.businessDate}</td><td><Status value={r.status} /></td><td>{r.trigger}</td>
                      <td className="num">{r.attempts}</td><td><Time iso={r.startedAt} /></td><td><Time iso={r.finishedAt} /></td><td>{r.error ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : <Empty>No reconciliation has run yet.</Empty>}
          </Card>
        </div>
      ) : null}
    </Page>
  );
}

const BreakDetailQuery = graphql(`
  query BreakDetail($after: String) {
    reconciliationBreaks(first: 100, after: $after) {
      edges { node { id kind status detail evidence provider providerOrderId firstSeenAt lastSeenAt resolvedAt resolvedBy resolutionNote payout { id status } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const ResolveBreak = graphql(`
  mutation ResolveBreak($input: ResolveBreakInput!) {
    resolveBreak(input: $input) {
      break { id status resolvedAt resolvedBy resolutionNote }
      userErrors { field code message }
    }
  }
`);

function Side({ title, value }: { title: string; value: unknown }) {
  return (
    <div className="side">
      <h3>{title}</h3>
      {value && typeof value === "object" && !Array.isArray(value) ? (
        <dl className="facts">
          {Object.entries(value as Record<string, unknown>).map(([k, v]) => (
            <FactRow key={k} name={k} value={v} />
          ))}
        </dl>
      ) : value == null ? <Empty>Nothing on this side.</Empty> : <Json value={value} />}
    </div>
  );
}

function FactRow({ name, value }: { name: string; value: unknown }) {
  return (
    <>
      <dt>{name.replace(/_/g, " ")}</dt>
      <dd>{value == null ? "—" : typeof value === "object" ? <Json value={value} /> : String(value)}</dd>
    </>
  );
}

export function BreakPage({ id, mayChange }: { id: string; mayChange: boolean }) {
  // The API lists breaks (no single-break field yet); the page finds its own in the list.
  const [{ data, error, fetching }] = useQuery({ query: BreakDetailQuery, variables: { after: null } });
  const [result, resolve] = useMutation(ResolveBreak);
  const [note, setNote] = useState("");
  const [, navigate] = useLocation();
  if (fetching && !data) return <Loading />;
  const b = data?.reconciliationBreaks.edges.map((e) => e.node).find((n) => n.id === id);
  if (!b) return <Page title={`Break #${id}`}><Problem error={error} />{error ? null : <Empty>No such break among the latest 100.</Empty>}</Page>;
  const evidence = (b.evidence ?? {}) as Record<string, unknown>;
  const { ours, provider, ...rest } = evidence;
  const errors: UserError[] = result.data?.resolveBreak.userErrors ?? [];
  const noteError = fieldError(errors, "note");
  async function submit(event: FormEvent) {
    event.preventDefault();
    const outcome = await resolve({ input: { breakId: id, note } });
    if (outcome.data?.resolveBreak.break && !outcome.data.resolveBreak.userErrors.length) navigate("/reconciliation");
  }
  return (
    <Page title={<>Break #{b.id} <Status value={b.kind} /> <Status value={b.status} /></>}>
      <p className="lead">{b.detail}</p>
      <div className="grid">
        <Card title="Evidence" wide>
          <div className="sides">
            <Side title="Our records" value={ours} />
            <Side title={`Provider${b.provider ? ` (${b.provider})` : ""}`} value={provider} />
          </div>
          {Object.keys(rest).length ? <Json value={rest} /> : null}
          <dl className="facts">
            <dt>Payout</dt><dd>{b.payout ? <><PayoutLink id={b.payout.id} /> <Status value={b.payout.status} /></> : "none"}</dd>
            <dt>Provider order</dt><dd>{b.providerOrderId ? <code>{b.providerOrderId}</code> : "—"}</dd>
            <dt>First seen</dt><dd><Time iso={b.firstSeenAt} /></dd>
            <dt>Last seen</dt><dd><Time iso={b.lastSeenAt} /></dd>
          </dl>
        </Card>
        <Card title="Resolution" wide>
          {b.status !== "OPEN" ? (
            <dl className="facts">
              <dt>Resolved</dt><dd><Time iso={b.resolvedAt} /> by {b.resolvedBy ?? "the system"}</dd>
              <dt>Note</dt><dd>{b.resolutionNote ?? "—"}</dd>
            </dl>
          ) : mayChange ? (
            <form onSubmit={submit} noValidate>
              <FormErrors errors={errors} fields={["note"]} />
              <Problem error={result.error} />
              <Field id="note" label="What was done about it" error={noteError} hint="1-2000 characters; kept in the audit trail.">
                <textarea id="note" rows={3} value={note} onChange={(e) => setNote(e.target.value)} aria-invalid={!!noteError} aria-describedby={noteError ? "note-error" : "note-hint"} />
              </Field>
              <button type="submit" className="primary" disabled={result.fetching}>Resolve break</button>
            </form>
          ) : <Empty>Open. Only an ops key may resolve it.</Empty>}
        </Card>
      </div>
    </Page>
  );
}
