import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { Link } from "wouter";
import { graphql } from "../gql";
import type { ApprovalStatus } from "../gql/graphql";
import { Card, Empty, Field, FormErrors, Loading, Money, Page, Pager, Problem, Status, Time, fieldError, type UserError } from "../ui";

const ApprovalsQuery = graphql(`
  query Approvals($status: ApprovalStatus, $after: String) {
    approvals(filter: { status: $status }, first: 25, after: $after) {
      edges { node { id kind subjectId status requestedBy requestedAt expiresAt decidedBy decidedAt note
        run { id state event { code name } preview { payouts totals { amount currency } } } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const DecideApproval = graphql(`
  mutation DecideApproval($input: DecideApprovalInput!) {
    decideApproval(input: $input) { approval { id status decidedBy decidedAt note } userErrors { field code message } }
  }
`);

const STATUSES: ApprovalStatus[] = ["PENDING", "APPROVED", "REJECTED", "EXPIRED", "CANCELLED"];

/** Approve or reject, with an optional note; the API refuses the requester's own owner. */
export function DecisionForm({ approvalId, onDecided }: { approvalId: string; onDecided: () => void }) {
  const [note, setNote] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [result, decide] = useMutation(DecideApproval);
  async function send(decision: "APPROVE" | "REJECT") {
    const outcome = await decide({ input: { approvalId, decision, note: note.trim() || null } });
    const payload = outcome.data?.decideApproval;
    if (payload?.userErrors.length) setErrors(payload.userErrors);
    else if (payload?.approval) { setErrors([]); onDecided(); }
  }
  const id = `note-${approvalId}`;
  return (
    <form className="decision" aria-label={`Decide approval ${approvalId}`} onSubmit={(e) => e.preventDefault()} noValidate>
      <FormErrors errors={errors} fields={["note"]} />
      <Problem error={result.error} />
      <Field id={id} label="Note (optional)" error={fieldError(errors, "note")}>
        <input id={id} value={note} onChange={(e) => setNote(e.target.value)} />
      </Field>
      <div className="actions-row">
        <button type="button" className="primary" disabled={result.fetching} onClick={() => send("APPROVE")}>Approve</button>
        <button type="button" className="danger" disabled={result.fetching} onClick={() => send("REJECT")}>Reject</button>
      </div>
    </form>
  );
}

export function Approvals({ mayDecide }: { mayDecide: boolean }) {
  const [status, setStatus] = useState<ApprovalStatus | "">("PENDING");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error, fetching }, refetch] = useQuery({ query: ApprovalsQuery, variables: { status: status || null, after: cursors[cursors.length - 1] } });
  return (
    <Page title="Approvals">
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter approvals">
        <div className="field">
          <label htmlFor="approval-status">Status</label>
          <select id="approval-status" value={status} onChange={(e) => { setStatus(e.target.value as ApprovalStatus | ""); setCursors([null]); }}>
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
          </select>
        </div>
      </form>
      {mayDecide ? null : <p className="muted">Only an approver key decides; its owner must differ from the one who asked.</p>}
      <Problem error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <Card title={`Page ${cursors.length}`} wide>
          {data.approvals.edges.length ? (
            <ul className="approvals">
              {data.approvals.edges.map(({ node: a }) => (
                <li key={a.id} data-approval={a.id} className="approval">
                  <div className="approval-what">
                    <div className="approval-title">
                      {a.run ? <Link href={`/runs/${a.run.id}`}>Run #{a.run.id}</Link> : <span>{a.kind.toLowerCase().replace(/_/g, " ")} #{a.subjectId}</span>}
                      {a.run ? <code>{a.run.event.code}</code> : null}
                      <Status value={a.status} />
                      <span className="muted small">approval #{a.id}</span>
                    </div>
                    {a.run?.preview ? (
                      <div className="approval-amount">
                        {a.run.preview.totals.map((t) => <span key={t.currency}><Money value={t} /></span>)}
                        <span className="muted"> in {a.run.preview.payouts} payouts</span>
                      </div>
                    ) : null}
                    <dl className="facts">
                      <dt>Asked by</dt><dd>{a.requestedBy}, <Time iso={a.requestedAt} /></dd>
                      <dt>Expires</dt><dd><Time iso={a.expiresAt} /></dd>
                      {a.decidedBy ? <><dt>Decided by</dt><dd>{a.decidedBy}, <Time iso={a.decidedAt} /></dd></> : null}
                      {a.note ? <><dt>Note</dt><dd>{a.note}</dd></> : null}
                    </dl>
                  </div>
                  {mayDecide && a.status === "PENDING" ? (
                    <div className="approval-decide"><DecisionForm approvalId={a.id} onDecided={() => refetch({ requestPolicy: "network-only" })} /></div>
                  ) : null}
                </li>
              ))}
            </ul>
          ) : <Empty>No approval{status ? ` is ${status.toLowerCase()}` : ""}.</Empty>}
          <Pager atFirst={cursors.length === 1} hasNext={data.approvals.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, data.approvals.pageInfo.endCursor ?? null])} />
        </Card>
      ) : null}
    </Page>
  );
}
