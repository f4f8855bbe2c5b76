import { useMemo, useState, type FormEvent } from "react";
import { Provider, useQuery } from "urql";
import { Link, Route, Switch, useLocation } from "wouter";
import { graphql } from "./gql";
import { makeClient } from "./lib/client";
import { isOperator, mayOpen, navFor, type Role } from "./lib/roles";
import { clearSession, getApiKey, setApiKey } from "./lib/session";
import { ApiKeys } from "./screens/ApiKeys";
import { Balances, History, RequestPayout } from "./screens/Merchant";
import { JobRuns, Overview } from "./screens/Overview";
import { PayeePage, Payees } from "./screens/Payees";
import { PayoutPage, Payouts } from "./screens/Payouts";
import { BreakPage, Reconciliation } from "./screens/Reconciliation";
import { RunPage, Runs } from "./screens/Runs";
import { Approvals } from "./screens/Approvals";
import { Events } from "./screens/Events";
import { Webhooks } from "./screens/Webhooks";
import { Empty, Loading, Page } from "./ui";

export const MeQuery = graphql(`
  query Me {
    me { id name role owner prefix payee { id name } }
  }
`);

export function App() {
  const [key, setKey] = useState<string | null>(() => getApiKey());
  const client = useMemo(() => (key ? makeClient(key) : null), [key]);
  if (!key || !client) {
    return <Login onKey={(k) => { setApiKey(k); setKey(k); }} />;
  }
  const logout = () => {
    clearSession();
    setKey(null);
  };
  return (
    <Provider value={client}>
      <Session onLogout={logout} />
    </Provider>
  );
}

function Login({ onKey }: { onKey: (key: string) => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const key = value.trim();
    if (!key) return setError("Paste an API key.");
    setBusy(true);
    try {
      const response = await fetch("/graphql", {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json", Authorization: `Api-Key ${key}` },
        body: JSON.stringify({ query: "{ me { role } }" }),
      });
      if (response.status === 401) setError("This key is unknown or revoked.");
      else if (!response.ok) setError(`The server answered ${response.status}; try again.`);
      else onKey(key);
    } catch {
      setError("The server cannot be reached.");
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="login">
      <form onSubmit={submit} noValidate>
        <h1>Payout Engine</h1>
        <p className="muted">Sign in with an API key. It is kept in this tab only and forgotten when the tab closes.</p>
        <div className={error ? "field invalid" : "field"}>
          <label htmlFor="api-key">API key</label>
          <input
            id="api-key" name="api-key" type="password" autoComplete="off" autoFocus value={value}
            aria-invalid={!!error} aria-describedby={error ? "api-key-error" : undefined}
            onChange={(e) => { setValue(e.target.value); setError(undefined); }}
          />
          {error ? <small className="field-error" id="api-key-error" role="alert">{error}</small> : null}
        </div>
        <button type="submit" className="primary" disabled={busy}>Sign in</button>
      </form>
    </main>
  );
}

function Session({ onLogout }: { onLogout: () => void }) {
  const [{ data, error, fetching }] = useQuery({ query: MeQuery, requestPolicy: "network-only" });
  if (fetching && !data) return <Loading />;
  if (error || !data) {
    return (
      <main className="login">
        <div>
          <p className="error" role="alert">{error?.response?.status === 401 ? "This key is no longer valid." : "The console could not reach the API."}</p>
          <button type="button" onClick={onLogout}>Sign in again</button>
        </div>
      </main>
    );
  }
  const me = data.me;
  return <Shell role={me.role} name={me.name} payeeId={me.payee?.id ?? null} payeeName={me.payee?.name} onLogout={onLogout} />;
}

export function Shell({
  role, name, payeeId, payeeName, onLogout,
}: { role: Role; name: string; payeeId: string | null; payeeName?: string; onLogout: () => void }) {
  const [location] = useLocation();
  const nav = navFor(role);
  const current = (path: string) => (path === "/" ? location === "/" : location === path || location.startsWith(`${path}/`));
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <aside className="sidebar">
        <div className="brand">Payout Engine</div>
        <nav aria-label="Main">
          <ul>
            {nav.map((item) => (
              <li key={item.path}>
                <Link href={item.path} aria-current={current(item.path) ? "page" : undefined}>{item.label}</Link>
              </li>
            ))}
            {isOperator(role) ? (
              <li><a href="/graphql">GraphiQL</a></li>
            ) : null}
          </ul>
        </nav>
        <div className="who">
          <div className="who-name">{payeeName ?? name}</div>
          <div className="who-role">{role.toLowerCase()} key</div>
          <button type="button" onClick={onLogout}>Sign out</button>
        </div>
      </aside>
      <main id="main" className="content" tabIndex={-1}>
        {mayOpen(role, location) ? <Routes role={role} payeeId={payeeId} /> : <NotForYou />}
      </main>
    </div>
  );
}

function NotForYou() {
  return (
    <Page title="Not available">
      <Empty>This page is not part of what your key may see. <Link href="/">Back to the start</Link>.</Empty>
    </Page>
  );
}

function Routes({ role, payeeId }: { role: Role; payeeId: string | null }) {
  if (role === "PAYEE") {
    if (!payeeId) return <Empty>This key has no payee.</Empty>;
    return (
      <Switch>
        <Route path="/"><Balances payeeId={payeeId} /></Route>
        <Route path="/request"><RequestPayout payeeId={payeeId} /></Route>
        <Route path="/history"><History payeeId={payeeId} /></Route>
        <Route><NotForYou /></Route>
      </Switch>
    );
  }
  const mayChange = role === "OPS";
  return (
    <Switch>
      <Route path="/"><Overview /></Route>
      <Route path="/payouts"><Payouts /></Route>
      <Route path="/payouts/:id">{(p) => <PayoutPage id={p.id} mayRetry={mayChange} />}</Route>
      <Route path="/runs"><Runs /></Route>
      <Route path="/runs/:id">{(p) => <RunPage id={p.id} role={role} />}</Route>
      <Route path="/events"><Events mayChange={mayChange} /></Route>
      <Route path="/approvals"><Approvals mayDecide={role === "APPROVER"} /></Route>
      <Route path="/webhooks"><Webhooks mayChange={mayChange} /></Route>
      <Route path="/reconciliation"><Reconciliation mayChange={mayChange} /></Route>
      <Route path="/reconciliation/breaks/:id">{(p) => <BreakPage id={p.id} mayChange={mayChange} />}</Route>
      <Route path="/payees"><Payees /></Route>
      <Route path="/payees/:id">{(p) => <PayeePage id={p.id} mayChange={mayChange} />}</Route>
      <Route path="/jobs"><JobRuns /></Route>
      <Route path="/keys"><ApiKeys /></Route>
      <Route><NotForYou /></Route>
    </Switch>
  );
}
