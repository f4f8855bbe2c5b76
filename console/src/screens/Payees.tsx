import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { Link } from "wouter";
import { graphql } from "../gql";
import { Card, Empty, Field, FormErrors, Loading, Money, Page, Pager, Problem, Status, Time, fieldError, type UserError } from "../ui";

const PayeesQuery = graphql(`
  query Payees($search: String, $after: String) {
    payees(filter: { search: $search }, first: 25, after: $after) {
      edges { node { id reference name kind country paymentMethod createdAt accountInUse { id railCode } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export function Payees() {
  const [search, setSearch] = useState("");
  const [typed, setTyped] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error, fetching }] = useQuery({ query: PayeesQuery, variables: { search: search || null, after: cursors[cursors.length - 1] } });
  function onSearch(event: FormEvent) {
    event.preventDefault();
    setSearch(typed.trim());
    setCursors([null]);
  }
  return (
    <Page title="Payees">
      <form className="filters" onSubmit={onSearch} role="search">
        <div className="field"><label htmlFor="payee-search">Name or external id</label><input id="payee-search" value={typed} onChange={(e) => setTyped(e.target.value)} /></div>
        <button type="submit" className="primary">Search</button>
      </form>
      <Problem error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <Card title={`Page ${cursors.length}`} wide>
          {data.payees.edges.length ? (
            <table>
              <thead><tr><th>Payee</th><th>External id</th><th>Kind</th><th>Country</th><th>Method</th><th>Rail</th><th>Since</th></tr></thead>
              <tbody>
                {data.payees.edges.map(({ node: p }) => (
                  <tr key={p.id}>
                    <td><Link href={`/payees/${p.id}`}>{p.name}</Link></td>
                    <td><code>{p.reference}</code></td>
                    <td>{p.kind.toLowerCase()}</td>
                    <td>{p.country ?? "—"}</td>
                    <td>{p.paymentMethod.toLowerCase().replace(/_/g, " ")}</td>
                    <td>{p.accountInUse?.railCode ?? <span className="muted">no account</span>}</td>
                    <td><Time iso={p.createdAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No payee matches.</Empty>}
          <Pager atFirst={cursors.length === 1} hasNext={data.payees.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, data.payees.pageInfo.endCursor ?? null])} />
        </Card>
      ) : null}
    </Page>
  );
}

const PayeeQuery = graphql(`
  query Payee($id: ID!) {
    payee(id: $id) {
      id reference name kind country paymentMethod email createdAt
      bankAccounts { id holderName country currency railCode inUse retiredAt createdAt details { name value }
        verification { status bankHeldName checkedAt replacesPaidAccount held holdReason clearedAt clearedBy note }
        flag { code category description flaggedAt payoutId } }
      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }
    }
    rails { code name currency countries requiredFields }
  }
`);

const AddBankAccount = graphql(`
  mutation AddBankAccount($input: AddBankAccountInput!) {
    addBankAccount(input: $input) {
      bankAccount { id }
      userErrors { field code message }
    }
  }
`);

const VerifyAccount = graphql(`
  mutation VerifyBankAccount($input: VerifyBankAccountInput!) {
    verifyBankAccount(input: $input) { bankAccount { id verification { status held clearedAt clearedBy note } } approval { id status } userErrors { field code message } }
  }
`);

type Verification = { status: string; bankHeldName?: string | null; checkedAt?: string | null; replacesPaidAccount: boolean; held: boolean; holdReason?: string | null; clearedAt?: string | null; clearedBy?: string | null; note?: string | null };
type Flag = { code: string; category: string; description: string; flaggedAt: string; payoutId?: string | null } | null | undefined;

/** The bank's answer to the name check, why runs hold the account, and (ops) asking for
 *  the hold to be cleared, with why: an approver of another owner decides it. */
function VerificationCell({ accountId, v, flag, mayChange, onChanged }: { accountId: string; v: Verification; flag: Flag; mayChange: boolean; onChanged: () => void }) {
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [asked, setAsked] = useState<string | null>(null);
  const [result, verify] = useMutation(VerifyAccount);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const outcome = await verify({ input: { id: accountId, note } });
    const payload = outcome.data?.verifyBankAccount;
    if (payload?.userErrors.length) setErrors(payload.userErrors);
    else if (payload?.approval) { setErrors([]); setOpen(false); setAsked(payload.approval.id); onChanged(); }
  }
  const id = `verify-note-${accountId}`;
  return (
    <div className="verification">
      <Status value={v.status} />
      {v.held ? <Status value="held" /> : null}
      {v.bankHeldName ? <div className="small">Bank holds the name <b>{v.bankHeldName}</b></div> : null}
      {v.checkedAt ? <div className="muted small">checked <Time iso={v.checkedAt} /></div> : null}
      {v.replacesPaidAccount ? <div className="small warn-text">Replaces an account already paid</div> : null}
      {v.held && v.holdReason ? <div className="small error-text">Held: {v.holdReason.replace(/_/g, " ")}</div> : null}
      {v.clearedAt ? <div className="small">Cleared by {v.clearedBy}, <Time iso={v.clearedAt} />{v.note ? <> — “{v.note}”</> : null}</div> : null}
      {flag ? <div className="small error-text">Flagged {flag.code}: {flag.description} (<Time iso={flag.flaggedAt} />{flag.payoutId ? <>, payout <PayoutLinkInline id={flag.payoutId} /></> : null})</div> : null}
      {asked && v.held ? <div className="small">Clearance asked: <Link href="/approvals">approval #{asked}</Link> waits for an approver of another owner.</div> : null}
      {mayChange && v.held && !asked ? (
        open ? (
          <form onSubmit={submit} noValidate aria-label={`Ask to clear the hold on account ${accountId}`} className="decision">
            <FormErrors errors={errors} fields={["note"]} />
            <Problem error={result.error} />
            <Field id={id} label="Why it is safe to pay" error={fieldError(errors, "note")}>
              <input id={id} value={note} aria-invalid={!!fieldError(errors, "note")} onChange={(e) => setNote(e.target.value)} />
            </Field>
            <button type="submit" className="primary" disabled={result.fetching}>Ask to clear</button>
          </form>
        ) : <button type="button" onClick={() => setOpen(true)}>Ask to clear…</button>
      ) : null}
    </div>
  );
}

function PayoutLinkInline({ id }: { id: string }) {
  return <Link href={`/payouts/${id}`}>#{id}</Link>;
}

const ACCOUNT_FIELDS: Record<string, string> = {
  iban: "IBAN", bic: "BIC (SWIFT)", abaRouting: "ABA routing number", accountNumber: "Account number",
  accountType: "Account type", sortCode: "Sort code", bsb: "BSB", ifsc: "IFSC", clabe: "CLABE",
  institutionNumber: "Institution number", transitNumber: "Transit number", bankCode: "Bank code", branchCode: "Branch code",
};

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function AddAccountForm({ payeeId, country, rails, onAdded }: { payeeId: string; country: string | null; rails: { code: string; name: string; currency: string; countries: string[]; requiredFields: string[] }[]; onAdded: () => void }) {
  const suggested = rails.find((r) => country && r.countries.includes(country)) ?? rails[0];
  const [railCode, setRailCode] = useState(suggested?.code ?? "");
  const rail = rails.find((r) => r.code === railCode);
  const [values, setValues] = useState<Record<string, string>>({ holderName: "", country: country ?? "" });
  const [errors, setErrors] = useState<UserError[]>([]);
  const [result, add] = useMutation(AddBankAccount);
  const needed = (rail?.requiredFields ?? []).map(camel).filter((f) => f in ACCOUNT_FIELDS);
  const fields = ["holderName", "country", ...needed];
  async function submit(event: FormEvent) {
    event.preventDefault();
    const text = (f: string) => values[f]?.trim() || null;
    const details: Record<string, string | null> = {};
    for (const f of needed) details[f] = text(f);
    const input = { ...details, payeeId, currency: rail?.currency ?? "", holderName: values.holderName?.trim() ?? "", country: text("country") };
    const outcome = await add({ input });
    const payload = outcome.data?.addBankAccount;
    if (payload?.userErrors.length) setErrors(payload.userErrors);
    else if (payload?.bankAccount) { setErrors([]); setValues({ holderName: "", country: country ?? "" }); onAdded(); }
  }
  const label = (f: string) => (f === "holderName" ? "Holder name" : f === "country" ? "Country" : ACCOUNT_FIELDS[f]);
  return (
    <form onSubmit={submit} noValidate aria-label="Add bank account">
      <FormErrors errors={errors} fields={[...fields, "currency"]} />
      <Problem error={result.error} />
      <Field id="acct-rail" label="Rail">
        <select id="acct-rail" value={railCode} onChange={(e) => setRailCode(e.target.value)}>
          {rails.map((r) => <option key={r.code} value={r.code}>{r.code} — {r.name} ({r.currency})</option>)}
        </select>
      </Field>
      {fields.map((f) => {
        const error = fieldError(errors, f);
        return (
          <Field key={f} id={`acct-${f}`} label={label(f)} error={error}>
            <input id={`acct-${f}`} value={values[f] ?? ""} aria-invalid={!!error} aria-describedby={error ? `acct-${f}-error` : undefined} onChange={(e) => setValues({ ...values, [f]: e.target.value })} />
          </Field>
        );
      })}
      <button type="submit" className="primary" disabled={result.fetching}>Add account</button>
    </form>
  );
}

export function PayeePage({ id, mayChange }: { id: string; mayChange: boolean }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: PayeeQuery, variables: { id } });
  if (fetching && !data) return <Loading />;
  const p = data?.payee;
  if (!p) return <Page title={`Payee #${id}`}><Problem error={error} />{error ? null : <Empty>No such payee.</Empty>}</Page>;
  return (
    <Page title={p.name} actions={<Link href={`/payouts?payeeId=${p.id}`} className="button">Payouts</Link>}>
      <div className="grid">
        <Card title="Payee">
          <dl className="facts">
            <dt>External id</dt><dd><code>{p.reference}</code></dd>
            <dt>Kind</dt><dd>{p.kind.toLowerCase()}</dd>
            <dt>Country</dt><dd>{p.country ?? "—"}</dd>
            <dt>Method</dt><dd>{p.paymentMethod.toLowerCase().replace(/_/g, " ")}</dd>
            <dt>E-mail</dt><dd>{p.email ?? "—"}</dd>
            <dt>Since</dt><dd><Time iso={p.createdAt} /></dd>
          </dl>
        </Card>
        <Card title="Balances">
          {p.balances.length ? (
            <table>
              <thead><tr><th>Currency</th><th className="num">Available</th><th className="num">Pending</th><th className="num">Posted</th></tr></thead>
              <tbody>{p.balances.map((b) => <tr key={b.id}><td>{b.currency}</td><td className="num"><Money value={b.available} /></td><td className="num"><Money value={b.pendingDebits} /></td><td className="num"><Money value={b.postedBalance} /></td></tr>)}</tbody>
            </table>
          ) : <Empty>No ledger account yet.</Empty>}
        </Card>
        <Card title="Bank accounts" wide>
          {p.bankAccounts.length ? (
            <table>
              <thead><tr><th>Account</th><th>Holder</th><th>Rail</th><th>Details</th><th>State</th><th>Verification</th><th>Added</th></tr></thead>
              <tbody>
                {p.bankAccounts.map((a) => (
                  <tr key={a.id}>
                    <td>#{a.id}</td><td>{a.holderName}</td><td>{a.railCode ?? "—"}</td>
                    <td>{a.details.map((d) => <div key={d.name}><span className="muted">{d.name}</span> <code>{d.value}</code></div>)}</td>
                    <td>{a.inUse ? <Status value="in_use" /> : a.retiredAt ? <Status value="retired" /> : <Status value="kept" />}</td>
                    <td><VerificationCell accountId={a.id} v={a.verification} flag={a.flag} mayChange={mayChange} onChanged={() => refetch({ requestPolicy: "network-only" })} /></td>
                    <td><Time iso={a.createdAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No bank account.</Empty>}
        </Card>
        {mayChange && data ? (
          <Card title="Add a bank account" wide>
            <AddAccountForm payeeId={p.id} country={p.country ?? null} rails={data.rails} onAdded={() => refetch({ requestPolicy: "network-only" })} />
          </Card>
        ) : null}
      </div>
    </Page>
  );
}
