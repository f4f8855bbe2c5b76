import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { Link, useLocation, useSearch } from "wouter";
import { graphql } from "../gql";
import type { PayoutStatus } from "../gql/graphql";
import { Card, Empty, Json, Loading, Money, Page, Pager, PayoutLink, Problem, Status, Time } from "../ui";
import { RetryButton } from "./Retry";

export const STATUSES: PayoutStatus[] = ["PENDING", "SUBMITTING", "SUBMITTED", "COMPLETED", "FAILED", "RETURNED", "CANCELLED", "SKIPPED"];

const PayoutsQuery = graphql(`
  query Payouts($filter: PayoutFilter, $after: String) {
    payouts(filter: $filter, first: 25, after: $after) {
      edges { node { id status country railCode createdAt updatedAt amount { amount currency } targetAmount { amount currency } payee { id name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const FILTERS = ["status", "country", "rail", "runId", "payeeId"] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

export function PayoutTable({ rows }: { rows: { id: string; status: string; country?: string | null; railCode?: string | null; createdAt: string; amount: { amount: string; currency: string }; targetAmount?: { amount: string; currency: string } | null; payee: { id: string; name: string } }[] }) {
  if (!rows.length) return <Empty>No payout matches.</Empty>;
  return (
    <table>
      <thead>
        <tr><th>Payout</th><th>Status</th><th>Payee</th><th>Country</th><th>Rail</th><th className="num">Amount</th><th className="num">Paid out</th><th>Created</th></tr>
      </thead>
      <tbody>
        {rows.map((p) => (
          <tr key={p.id}>
            <td><PayoutLink id={p.id} /></td>
            <td><Status value={p.status} /></td>
            <td><Link href={`/payees/${p.payee.id}`}>{p.payee.name}</Link></td>
            <td>{p.country ?? "—"}</td>
            <td>{p.railCode ?? "—"}</td>
            <td className="num"><Money value={p.amount} /></td>
            <td className="num">{p.targetAmount ? <Money value={p.targetAmount} /> : <span className="muted">same</span>}</td>
            <td><Time iso={p.createdAt} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Payouts() {
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const filters: Filters = {};
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) filters[name] = value;
  }
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1];
  const filter = { ...filters, status: filters.status as PayoutStatus | undefined };
  const [{ data, error, fetching }] = useQuery({ query: PayoutsQuery, variables: { filter, after } });

  function apply(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = String(form.get(name) ?? "").trim();
      if (value) next.set(name, name === "country" || name === "rail" ? value.toUpperCase() : value);
    }
    setCursors([null]);
    navigate(`/payouts${next.size ? `?${next}` : ""}`);
  }

  return (
    <Page title="Payouts">
      <form className="filters" onSubmit={apply} key={search} aria-label="Filter payouts">
        <div className="field">
          <label htmlFor="f-status">Status</label>
          <select id="f-status" name="status" defaultValue={filters.status ?? ""}>
            <option value="">Any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
          </select>
        </div>
        <div className="field"><label htmlFor="f-country">Country</label><input id="f-country" name="country" defaultValue={filters.country} size={4} placeholder="JP" /></div>
        <div className="field"><label htmlFor="f-rail">Rail</label><input id="f-rail" name="rail" defaultValue={filters.rail} size={8} placeholder="SEPA" /></div>
        <div className="field"><label htmlFor="f-run">Run id</label><input id="f-run" name="runId" defaultValue={filters.runId} size={5} /></div>
        <div className="field"><label htmlFor="f-payee">Payee id</label><input id="f-payee" name="payeeId" defaultValue={filters.payeeId} size={5} /></div>
        <button type="submit" className="primary">Filter</button>
        <Link href="/payouts" className="button" onClick={() => setCursors([null])}>Clear</Link>
      </form>
      <Problem error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <Card title={`Page ${cursors.length}`} wide>
          <PayoutTable rows={data.payouts.edges.map((e) => e.node)} />
          <Pager
            atFirst={cursors.length === 1}
            hasNext={data.payouts.pageInfo.hasNextPage}
            onFirst={() => setCursors([null])}
            onNext={() => setCursors([...cursors, data.payouts.pageInfo.endCursor ?? null])}
          />
        </Card>
      ) : null}
    </Page>
  );
}

const PayoutQuery = graphql(`
  query Payout($id: ID!) {
    payout(id: $id) {
      id status idempotencyKey country railCode provider providerOrderId routingRule fxRate
      expectedSettlementDate skipReason skipDetail failureCode failureReason failureCategory failureDescription retryable createdAt updatedAt
      amount { amount currency } targetAmount { amount currency }
      rail { code name currency }
      payee { id name reference }
      event { id code name }
      attempt retryOf { id } attempts { id attempt status createdAt }
      trace { id occurredAt action actor detail }
      ledgerEntries { id transferId kind account side phase createdAt amount { amount currency } }
    }
  }
`);

const RetryPayout = graphql(`
  mutation RetryPayout($input: RetryPayoutInput!) {
    retryPayout(input: $input) {
      retry { id status approvalId skipped { code count } attempts { id status attempt } }
      replayed
      userErrors { field code message }
    }
  }
`);

// Paid again only from the last attempt: an earlier one already has a later attempt.
const PAYABLE_AGAIN = new Set(["FAILED", "RETURNED"]);

export function PayoutPage({ id, mayRetry = false }: { id: string; mayRetry?: boolean }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: PayoutQuery, variables: { id } });
  const [, retry] = useMutation(RetryPayout);
  if (fetching && !data) return <Loading />;
  const p = data?.payout;
  if (!p) return <Page title={`Payout #${id}`}><Problem error={error} />{error ? null : <Empty>No such payout.</Empty>}</Page>;
  return (
    <Page title={<>Payout #{p.id} <Status value={p.status} /></>}>
      <div className="grid">
        <Card title="Summary">
          <dl className="facts">
            <dt>Payee</dt><dd><Link href={`/payees/${p.payee.id}`}>{p.payee.name}</Link> <span className="muted">{p.payee.reference}</span></dd>
            <dt>Amount</dt><dd><Money value={p.amount} /></dd>
            {p.targetAmount ? <><dt>Paid out</dt><dd><Money value={p.targetAmount} /> <span className="muted">at {p.fxRate}</span></dd></> : null}
            <dt>Event</dt><dd>{p.event ? `${p.event.code} — ${p.event.name}` : "merchant request"}</dd>
            <dt>Created</dt><dd><Time iso={p.createdAt} /></dd>
            <dt>Changed</dt><dd><Time iso={p.updatedAt} /></dd>
            <dt>Idempotency key</dt><dd><code>{p.idempotencyKey}</code></dd>
            {p.skipReason ? <><dt>Skipped</dt><dd>{p.skipReason}{p.skipDetail ? `: ${p.skipDetail}` : ""}</dd></> : null}
          </dl>
        </Card>
        <Card title="Provider order">
          <dl className="facts">
            <dt>Rail</dt><dd>{p.rail ? `${p.rail.code} — ${p.rail.name}` : "—"}</dd>
            <dt>Country</dt><dd>{p.country ?? "—"}</dd>
            <dt>Routing rule</dt><dd>{p.routingRule ?? "—"}</dd>
            <dt>Provider</dt><dd>{p.provider ?? "—"}</dd>
            <dt>Order id</dt><dd>{p.providerOrderId ? <code>{p.providerOrderId}</code> : "none yet"}</dd>
            <dt>Settles</dt><dd>{p.expectedSettlementDate ?? "—"}</dd>
            {p.failureCode || p.failureReason ? <><dt>Failure</dt><dd className="error-text">{p.failureCode} {p.failureReason}</dd></> : null}
            {p.failureCategory ? <><dt>What it means</dt><dd>{p.failureDescription ?? p.failureCategory.toLowerCase().replace(/_/g, " ")} <span className="muted">({p.failureCategory.toLowerCase().replace(/_/g, " ")}; {p.retryable ? "paying again can work" : "paying again will not work"})</span></dd></> : null}
          </dl>
          {mayRetry && PAYABLE_AGAIN.has(p.status) && p.attempts[p.attempts.length - 1]?.id === p.id ? (
            <RetryButton
              key={p.id}
              label="Pay again"
              onDone={() => refetch({ requestPolicy: "network-only" })}
              send={async (idempotencyKey) => {
                const outcome = await retry({ input: { payoutId: p.id, idempotencyKey } });
                if (!outcome.data) return { userErrors: [], failed: outcome.error?.message ?? "No answer." };
                return outcome.data.retryPayout;
              }}
            />
          ) : null}
        </Card>
        <Card title="Attempts">
          {p.retryOf ? <p>Attempt {p.attempt}: pays payout <PayoutLink id={p.retryOf.id} /> again.</p> : null}
          <table aria-label="Attempts">
            <thead><tr><th>Attempt</th><th>Payout</th><th>Status</th><th>Created</th></tr></thead>
            <tbody>
              {p.attempts.map((a) => (
                <tr key={a.id} aria-current={a.id === p.id ? "page" : undefined}>
                  <td>{a.attempt}</td>
                  <td>{a.id === p.id ? `#${a.id} (this one)` : <PayoutLink id={a.id} />}</td>
                  <td><Status value={a.status} /></td>
                  <td><Time iso={a.createdAt} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
        <Card title="Trace" wide>
          <ol className="timeline" aria-label="Trace">
            {p.trace.map((t) => (
              <li key={t.id}>
                <div className="when"><Time iso={t.occurredAt} /></div>
                <div className="what"><strong>{t.action}</strong> <span className="muted">by {t.actor}</span></div>
                <TraceSummary detail={t.detail} />
                <details><summary>Detail</summary><Json value={t.detail} /></details>
              </li>
            ))}
          </ol>
        </Card>
        <Card title="Ledger entries" wide>
          {p.ledgerEntries.length ? (
            <table>
              <thead><tr><th>Transfer</th><th>Kind</th><th>Account</th><th>Phase</th><th className="num">Debit</th><th className="num">Credit</th><th>At</th></tr></thead>
              <tbody>
                {p.ledgerEntries.map((e) => (
                  <tr key={e.id}>
                    <td>{e.transferId}</td>
                    <td>{e.kind}</td>
                    <td><code>{e.account}</code></td>
                    <td>{e.phase}</td>
                    <td className="num">{e.side.toLowerCase() === "debit" ? <Money value={e.amount} /> : ""}</td>
                    <td className="num">{e.side.toLowerCase() === "credit" ? <Money value={e.amount} /> : ""}</td>
                    <td><Time iso={e.createdAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No ledger entry.</Empty>}
        </Card>
      </div>
    </Page>
  );
}

/** The detail's plain facts on one line ("from pending → submitted"); the rest under "Detail". */
function TraceSummary({ detail }: { detail: unknown }) {
  if (!detail || typeof detail !== "object" || Array.isArray(detail)) return null;
  const facts = Object.entries(detail as Record<string, unknown>).filter(
    ([, v]) => typeof v === "string" || typeof v === "number" || typeof v === "boolean",
  );
  const values = Object.fromEntries(facts);
  const parts: string[] = [];
  if ("from" in values && "to" in values) parts.push(`${values.from} → ${values.to}`);
  for (const [k, v] of facts) if (k !== "from" && k !== "to" && parts.length < 5) parts.push(`${k.replace(/_/g, " ")}: ${v}`);
  return parts.length ? <div className="summary">{parts.join(" · ")}</div> : null;
}
