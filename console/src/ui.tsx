import { useState } from "react";
import type { ReactNode } from "react";
import type { CombinedError } from "urql";
import { Link } from "wouter";
import { localTime, utcTitle } from "./lib/dates";
import { downloadWithKey } from "./lib/download";
import { formatAmount } from "./lib/money";

export function Money({ value }: { value: { amount: string; currency: string } | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  return (
    <span className="money">
      {formatAmount(value.amount, value.currency)} <span className="ccy">{value.currency}</span>
    </span>
  );
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={utcTitle(iso)}>
      {localTime(iso)}
    </time>
  );
}

export function Status({ value }: { value: string }) {
  return <span className={`badge badge-${value.toLowerCase()}`}>{value.toLowerCase().replace(/_/g, " ")}</span>;
}

export function Page({ title, actions, children }: { title: ReactNode; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="page">
      <header className="page-head">
        <h1>{title}</h1>
        {actions ? <div className="actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

export function Card({ title, children, wide }: { title: ReactNode; children: ReactNode; wide?: boolean }) {
  return (
    <section className={wide ? "card wide" : "card"}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Loading() {
  return <p className="muted" role="status">Loading…</p>;
}

export function Problem({ error }: { error: CombinedError | undefined }) {
  if (!error) return null;
  const forbidden = error.graphQLErrors.some((e) => e.extensions?.code === "FORBIDDEN");
  return (
    <p className="error" role="alert">
      {forbidden ? "Your key may not see this." : error.message.replace(/^\[\w+\]\s*/, "")}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function PayoutLink({ id }: { id: string }) {
  return <Link href={`/payouts/${id}`}>#{id}</Link>;
}

export function Pager({ hasNext, onNext, onFirst, atFirst }: { hasNext: boolean; onNext: () => void; onFirst: () => void; atFirst: boolean }) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" onClick={onFirst} disabled={atFirst}>First page</button>
      <button type="button" onClick={onNext} disabled={!hasNext}>Next page</button>
    </nav>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

/** The userErrors of a mutation: the one for `field` next to that field, the rest on top. */
export type UserError = { field?: string[] | null; code: string; message: string };

export function fieldError(errors: UserError[], field: string): string | undefined {
  return errors.find((e) => e.field?.[e.field.length - 1] === field)?.message;
}

export function FormErrors({ errors, fields }: { errors: UserError[]; fields: string[] }) {
  const general = errors.filter((e) => !e.field || !fields.includes(e.field[e.field.length - 1]));
  if (!general.length) return null;
  return (
    <div className="error" role="alert">
      {general.map((e, i) => (
        <p key={i}>{e.message}</p>
      ))}
    </div>
  );
}

export function Field({
  id, label, error, hint, children,
}: { id: string; label: string; error?: string; hint?: string; children: ReactNode }) {
  return (
    <div className={error ? "field invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && !error ? <small id={`${id}-hint`}>{hint}</small> : null}
      {error ? (
        <small className="field-error" id={`${id}-error`} role="alert">
          {error}
        </small>
      ) : null}
    </div>
  );
}

/** A button that downloads a report with the key (see lib/download.ts). */
export function DownloadButton({ path, name, label }: { path: string; name: string; label: string }) {
  const [state, setState] = useState<{ busy: boolean; error?: string }>({ busy: false });
  async function go() {
    setState({ busy: true });
    try {
      await downloadWithKey(path, name);
      setState({ busy: false });
    } catch (e) {
      setState({ busy: false, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return (
    <span className="download">
      <button type="button" onClick={go} disabled={state.busy}>{state.busy ? "Preparing…" : label}</button>
      {state.error ? <small className="error-text" role="alert">{state.error}</small> : null}
    </span>
  );
}
