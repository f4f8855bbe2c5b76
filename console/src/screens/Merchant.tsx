import { useEffect, useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery, useSubscription } from "urql";
import { Link } from "wouter";
import { graphql } from "../gql";
import { newKey } from "../lib/keys";
import { formatMoney, parseAmount } from "../lib/money";
import { Card, Empty, Field, FormErrors, Loading, Money, Page, Pager, Problem, Status, Time, fieldError, type UserError } from "../ui";

const MerchantQuery = graphql(`
  query Merchant($payeeId: ID!) {
    payee(id: $payeeId) {
      id name reference
      accountInUse { id holderName railCode currency details { name value } }
      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }
    }
  }
`);

export function Balances({ payeeId }: { payeeId: string }) {
  const [{ data, error, fetching }] = useQuery({ query: MerchantQuery, variables: { payeeId } });
  if (fetching && !data) return <Loading />;
  const payee = data?.payee;
  if (!payee) return <Problem error={error} />;
  return (
    <Page title="Balances" actions={<Link href="/request" className="button primary">Request payout</Link>}>
      <div className="stats">
        {payee.balances.length ? payee.balances.map((b) => (
          <div key={b.id} className="balance">
            <h2>{b.currency}</h2>
            <dl className="facts">
              <dt>Available</dt><dd className="big"><Money value={b.available} /></dd>
              <dt>Pending payouts</dt><dd><Money value={b.pendingDebits} /></dd>
              <dt>Posted</dt><dd><Money value={b.postedBalance} /></dd>
            </dl>
          </div>
        )) : <Empty>No balance yet.</Empty>}
      </div>
      <Card title="Paid to">
        {payee.accountInUse ? (
          <dl className="facts">
            <dt>Holder</dt><dd>{payee.accountInUse.holderName}</dd>
            <dt>Rail</dt><dd>{payee.accountInUse.railCode ?? "—"}</dd>
            {payee.accountInUse.details.map((d) => <FactPair key={d.name} name={d.name} value={d.value} />)}
          </dl>
        ) : <Empty>No bank account in use: ask your operator to add one.</Empty>}
      </Card>
    </Page>
  );
}

function MoneyPair({ name, value }: { name: string; value: { amount: string; currency: string } }) {
  return <><dt>{name}</dt><dd><Money value={value} /></dd></>;
}

function FactPair({ name, value }: { name: string; value: string }) {
  return <><dt>{name}</dt><dd><code>{value}</code></dd></>;
}

const CreatePayout = graphql(`
  mutation CreatePayout($input: CreatePayoutInput!) {
    createPayout(input: $input) {
      payout { id status amount { amount currency } createdAt }
      replayed
      userErrors { field code message }
    }
  }
`);

const FORM_KEY = "payout-console.request-form";

type Draft = { idempotencyKey: string; amount: string; currency: string };

/** The form's idempotency key is made once per form and kept (with what was typed) in
 *  this tab's sessionStorage until the payout is confirmed: a double click, a retry
 *  after a network error or a reload all send the same key, so the server answers
 *  with the same payout instead of making a second one. */
export function loadDraft(): Draft {
  try {
    const saved = JSON.parse(sessionStorage.getItem(FORM_KEY) ?? "null") as Draft | null;
    if (saved && typeof saved.idempotencyKey === "string") return saved;
  } catch {
    /* a damaged draft is replaced */
  }
  const draft = { idempotencyKey: newKey(), amount: "", currency: "" };
  sessionStorage.setItem(FORM_KEY, JSON.stringify(draft));
  return draft;
}

function saveDraft(draft: Draft) {
  sessionStorage.setItem(FORM_KEY, JSON.stringify(draft));
}

export type Submit = (input: { payeeId: string; amount: string; currency: string; bankAccountId: string; idempotencyKey: string }) => Promise<{
  payout?: { id: string; status: string; amount: { amount: string; currency: string } } | null;
  replayed?: boolean;
  userErrors: UserError[];
  failed?: string;
}>;

export function PayoutForm({
  payeeId, bankAccountId, currencies, submit,
}: { payeeId: string; bankAccountId: string | null; currencies: string[]; submit: Submit }) {
  const [draft, setDraft] = useState<Draft>(() => loadDraft());
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failed, setFailed] = useState<string>();
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false); // set at once, before React re-renders: a second click sees it
  const [done, setDone] = useState<{ id: string; text: string; replayed: boolean }>();
  const currency = draft.currency || currencies[0] || "";
  useEffect(() => saveDraft(draft), [draft]);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (inFlight.current) return;
    const parsed = parseAmount(draft.amount, currency);
    if (!parsed.ok) {
      setErrors([{ field: ["input", "amount"], code: "INVALID_AMOUNT", message: parsed.error }]);
      return;
    }
    if (!bankAccountId) {
      setErrors([{ field: ["input", "bankAccountId"], code: "NOT_FOUND", message: "No bank account in use to pay." }]);
      return;
    }
    inFlight.current = true;
    setBusy(true);
    setErrors([]);
    setFailed(undefined);
    try {
      const result = await submit({ payeeId, amount: parsed.amount, currency, bankAccountId, idempotencyKey: draft.idempotencyKey });
      if (result.failed) setFailed(`${result.failed} Sending again is safe: the same request cannot make a second payout.`);
      else if (result.userErrors.length) setErrors(result.userErrors);
      else if (result.payout) {
        setDone({ id: result.payout.id, text: formatMoney(result.payout.amount), replayed: !!result.replayed });
        sessionStorage.removeItem(FORM_KEY);
      }
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  function another() {
    const fresh = { idempotencyKey: newKey(), amount: "", currency: "" };
    setDraft(fresh);
    setDone(undefined);
    setErrors([]);
  }

  if (done) {
    return (
      <div className="confirmation" role="status">
        <p>Payout <strong>#{done.id}</strong> of <strong>{done.text}</strong> is requested{done.replayed ? " (it had already been received)" : ""}.</p>
        <p><Link href="/history">See its status</Link> · <button type="button" onClick={another}>Request another payout</button></p>
      </div>
    );
  }
  const amountError = fieldError(errors, "amount");
  const currencyError = fieldError(errors, "currency");
  return (
    <form onSubmit={onSubmit} noValidate aria-label="Request payout">
      <FormErrors errors={errors} fields={["amount", "currency"]} />
      {failed ? <p className="error" role="alert">{failed}</p> : null}
      <Field id="amount" label="Amount" error={amountError} hint={`In ${currency}; exact, e.g. 1250.00`}>
        <input
          id="amount" name="amount" inputMode="decimal" autoComplete="off" value={draft.amount}
          aria-invalid={!!amountError} aria-describedby={amountError ? "amount-error" : "amount-hint"}
          onChange={(e) => setDraft({ ...draft, amount: e.target.value })}
        />
      </Field>
      <Field id="currency" label="Currency" error={currencyError}>
        <select id="currency" name="currency" value={currency} onChange={(e) => setDraft({ ...draft, currency: e.target.value })}>
          {currencies.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
      </Field>
      <button type="submit" className="primary" aria-busy={busy}>{busy ? "Requesting…" : "Request payout"}</button>
    </form>
  );
}

export function RequestPayout({ payeeId }: { payeeId: string }) {
  const [{ data, error, fetching }] = useQuery({ query: MerchantQuery, variables: { payeeId } });
  const [, create] = useMutation(CreatePayout);
  if (fetching && !data) return <Loading />;
  const payee = data?.payee;
  if (!payee) return <Problem error={error} />;
  const submit: Submit = async (input) => {
    const result = await create({ input });
    if (result.error) return { userErrors: [], failed: result.error.networkError ? "The request did not get through." : result.error.message };
    const payload = result.data!.createPayout;
    return { payout: payload.payout, replayed: payload.replayed, userErrors: payload.userErrors };
  };
  const account = payee.accountInUse;
  return (
    <Page title="Request payout">
      <div className="grid">
        <Card title="New payout">
          <PayoutForm payeeId={payeeId} bankAccountId={account?.id ?? null} currencies={payee.balances.map((b) => b.currency)} submit={submit} />
        </Card>
        <Card title="Available">
          <dl className="facts">
            {payee.balances.map((b) => <MoneyPair key={b.id} name={b.currency} value={b.available} />)}
            <dt>To</dt><dd>{account ? `${account.holderName}, ${account.railCode ?? ""} ${account.details.map((d) => d.value).join(" ")}` : "no account in use"}</dd>
          </dl>
        </Card>
      </div>
    </Page>
  );
}

const HistoryQuery = graphql(`
  query History($payeeId: ID!, $after: String) {
    payouts(filter: { payeeId: $payeeId }, first: 25, after: $after) {
      edges { node { ...HistoryRow } }
      pageInfo { hasNextPage endCursor }
    }
  }
  fragment HistoryRow on Payout {
    id status createdAt updatedAt failureReason railCode amount { amount currency } idempotencyKey
  }
`);

const PayoutUpdated = graphql(`
  subscription PayoutUpdated($payeeId: ID!) {
    payoutUpdated(payeeId: $payeeId) { ...HistoryRow }
  }
`);

const CancelPayout = graphql(`
  mutation CancelPayout($input: CancelPayoutInput!) {
    cancelPayout(input: $input) {
      payout { ...HistoryRow }
      userErrors { field code message }
    }
  }
`);

type Row = { id: string; status: string; createdAt: string; updatedAt: string; failureReason?: string | null; railCode?: string | null; amount: { amount: string; currency: string } };

export function History({ payeeId }: { payeeId: string }) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error, fetching }] = useQuery({ query: HistoryQuery, variables: { payeeId, after: cursors[cursors.length - 1] } });
  const [live, setLive] = useState<Record<string, Row>>({});
  const [{ error: liveError }] = useSubscription({ query: PayoutUpdated, variables: { payeeId } }, (_, event) => {
    setLive((seen) => ({ ...seen, [event.payoutUpdated.id]: event.payoutUpdated }));
    return event;
  });
  const [cancelled, cancel] = useMutation(CancelPayout);
  const cancelErrors = cancelled.data?.cancelPayout.userErrors ?? [];
  const listed = data?.payouts.edges.map((e) => e.node) ?? [];
  const ids = new Set(listed.map((p) => p.id));
  const fresh = cursors.length === 1 ? Object.values(live).filter((p) => !ids.has(p.id)).sort((a, b) => Number(b.id) - Number(a.id)) : [];
  const rows: Row[] = [...fresh, ...listed.map((p) => live[p.id] ?? p)];
  async function onCancel(id: string) {
    const result = await cancel({ input: { payoutId: id } });
    const payout = result.data?.cancelPayout.payout;
    if (payout) setLive((seen) => ({ ...seen, [payout.id]: payout }));
  }
  return (
    <Page title="Payout history" actions={<span className={liveError ? "live off" : "live"} role="status">{liveError ? "Live updates unavailable" : "Live"}</span>}>
      <Problem error={error} />
      <FormErrors errors={cancelErrors} fields={[]} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <Card title="Your payouts" wide>
          {rows.length ? (
            <table>
              <thead><tr><th>Payout</th><th>Status</th><th className="num">Amount</th><th>Rail</th><th>Requested</th><th>Changed</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {rows.map((p) => (
                  <tr key={p.id} data-payout={p.id}>
                    <td>#{p.id}</td>
                    <td><Status value={p.status} />{p.failureReason ? <div className="muted">{p.failureReason}</div> : null}</td>
                    <td className="num"><Money value={p.amount} /></td>
                    <td>{p.railCode ?? "—"}</td>
                    <td><Time iso={p.createdAt} /></td>
                    <td><Time iso={p.updatedAt} /></td>
                    <td>{p.status === "PENDING" ? <button type="button" onClick={() => onCancel(p.id)} disabled={cancelled.fetching} aria-label={`Cancel payout ${p.id}`}>Cancel</button> : null}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No payout yet. <Link href="/request">Request one</Link>.</Empty>}
          <Pager atFirst={cursors.length === 1} hasNext={data.payouts.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, data.payouts.pageInfo.endCursor ?? null])} />
        </Card>
      ) : null}
    </Page>
  );
}
