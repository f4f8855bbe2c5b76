import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { WebhookDeliveryStatus } from "../gql/graphql";
import { Card, Empty, Field, FormErrors, Loading, Page, Pager, Problem, Status, Time, fieldError, type UserError } from "../ui";

const EndpointsQuery = graphql(`
  query WebhookEndpoints {
    webhookEndpoints { id url events payeeId enabled createdAt lastSuccessAt failingSince disabledAt disabledReason }
  }
`);

const DeliveriesQuery = graphql(`
  query WebhookDeliveries($status: WebhookDeliveryStatus, $endpointId: ID, $after: String) {
    webhookDeliveries(filter: { status: $status, endpointId: $endpointId }, first: 25, after: $after) {
      edges { node { id eventId eventType endpointId status attempts nextAttemptAt firstAttemptAt lastAttemptAt deliveredAt
        attemptLog { attemptedAt statusCode error durationMs succeeded } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const CreateEndpoint = graphql(`
  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { secret webhookEndpoint { id url } userErrors { field code message } }
  }
`);

const SetEnabled = graphql(`
  mutation SetWebhookEndpointEnabled($input: SetWebhookEndpointEnabledInput!) {
    setWebhookEndpointEnabled(input: $input) { webhookEndpoint { id enabled disabledAt disabledReason } userErrors { field code message } }
  }
`);

const Replay = graphql(`
  mutation ReplayWebhookEvent($input: ReplayWebhookEventInput!) {
    replayWebhookEvent(input: $input) { scheduled userErrors { field code message } }
  }
`);

const DELIVERY_STATUSES: WebhookDeliveryStatus[] = ["PENDING", "SUCCEEDED", "FAILED"];

export function Webhooks({ mayChange }: { mayChange: boolean }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: EndpointsQuery });
  const [toggled, setEnabled] = useMutation(SetEnabled);
  const [toggleErrors, setToggleErrors] = useState<UserError[]>([]);
  const refresh = () => refetch({ requestPolicy: "network-only" });
  async function toggle(id: string, enabled: boolean) {
    const outcome = await setEnabled({ input: { id, enabled } });
    const payload = outcome.data?.setWebhookEndpointEnabled;
    setToggleErrors(payload?.userErrors ?? []);
    if (payload?.webhookEndpoint) refresh();
  }
  return (
    <Page title="Webhooks">
      <div className="grid">
        {mayChange ? <NewEndpoint onCreated={refresh} /> : null}
        <Card title="Endpoints" wide>
          <Problem error={error ?? toggled.error} />
          <FormErrors errors={toggleErrors} fields={[]} />
          {fetching && !data ? <Loading /> : data?.webhookEndpoints.length ? (
            <table>
              <thead><tr><th>Endpoint</th><th>URL</th><th>Events</th><th>State</th><th>Last success</th>{mayChange ? <th><span className="sr-only">Actions</span></th> : null}</tr></thead>
              <tbody>
                {data.webhookEndpoints.map((e) => (
                  <tr key={e.id}>
                    <td>#{e.id}{e.payeeId ? <div className="muted">payee #{e.payeeId}</div> : null}</td>
                    <td className="detail"><code>{e.url}</code></td>
                    <td>{e.events.length ? e.events.map((t) => <code key={t} className="tag">{t}</code>) : <span className="muted">all</span>}</td>
                    <td>
                      <Status value={e.enabled ? "enabled" : "disabled"} />
                      {e.failingSince ? <div className="error-text small">failing since <Time iso={e.failingSince} /></div> : null}
                      {e.disabledReason ? <div className="muted small">{e.disabledReason}</div> : null}
                    </td>
                    <td><Time iso={e.lastSuccessAt} /></td>
                    {mayChange ? <td><button type="button" onClick={() => toggle(e.id, !e.enabled)} disabled={toggled.fetching}>{e.enabled ? "Disable" : "Enable"}</button></td> : null}
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No endpoint yet.</Empty>}
        </Card>
        <Deliveries mayReplay={mayChange} endpoints={data?.webhookEndpoints.map((e) => e.id) ?? []} />
      </div>
    </Page>
  );
}

function NewEndpoint({ onCreated }: { onCreated: () => void }) {
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [secret, setSecret] = useState<string>();
  const [result, create] = useMutation(CreateEndpoint);
  async function submit(event: FormEvent) {
    event.preventDefault();
    setSecret(undefined);
    const list = events.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
    const outcome = await create({ input: { url: url.trim(), events: list } });
    const payload = outcome.data?.createWebhookEndpoint;
    if (payload?.userErrors.length) setErrors(payload.userErrors);
    else if (payload?.secret) {
      setErrors([]);
      setSecret(payload.secret);
      setUrl("");
      setEvents("");
      onCreated();
    }
  }
  const err = (f: string) => fieldError(errors, f);
  return (
    <Card title="New endpoint" wide>
      {secret ? (
        <div className="secret" role="status">
          <p><strong>Copy the signing secret now: it is shown once, never again.</strong></p>
          <code>{secret}</code>
        </div>
      ) : null}
      <form onSubmit={submit} noValidate aria-label="Create webhook endpoint" className="inline-form">
        <FormErrors errors={errors} fields={["url", "events"]} />
        <Problem error={result.error} />
        <div className="row">
        <Field id="hook-url" label="URL" error={err("url")} hint="https, on a public address">
          <input id="hook-url" value={url} aria-invalid={!!err("url")} onChange={(e) => setUrl(e.target.value)} placeholder="https://example.com/hooks/payouts" />
        </Field>
        <Field id="hook-events" label="Events" error={err("events")} hint="payout.*, run.completed, … separated by commas; empty for all">
          <input id="hook-events" value={events} aria-invalid={!!err("events")} onChange={(e) => setEvents(e.target.value)} />
        </Field>
        </div>
        <button type="submit" className="primary" disabled={result.fetching}>Create endpoint</button>
      </form>
    </Card>
  );
}

function Deliveries({ mayReplay, endpoints }: { mayReplay: boolean; endpoints: string[] }) {
  const [status, setStatus] = useState<WebhookDeliveryStatus | "">("");
  const [endpointId, setEndpointId] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data, error, fetching }, refetch] = useQuery({ query: DeliveriesQuery, variables: { status: status || null, endpointId: endpointId || null, after: cursors[cursors.length - 1] } });
  const [replayed, replay] = useMutation(Replay);
  const [message, setMessage] = useState<{ text: string; bad: boolean }>();
  async function again(eventId: string, endpoint: string) {
    const outcome = await replay({ input: { eventId, endpointId: endpoint } });
    const payload = outcome.data?.replayWebhookEvent;
    if (!payload) return;
    if (payload.userErrors.length) setMessage({ text: payload.userErrors.map((e) => e.message).join(" "), bad: true });
    else {
      setMessage({ text: `Event ${eventId}: ${payload.scheduled} deliver${payload.scheduled === 1 ? "y" : "ies"} scheduled again.`, bad: false });
      refetch({ requestPolicy: "network-only" });
    }
  }
  return (
    <Card title="Deliveries" wide>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter deliveries">
        <div className="field">
          <label htmlFor="delivery-status">Status</label>
          <select id="delivery-status" value={status} onChange={(e) => { setStatus(e.target.value as WebhookDeliveryStatus | ""); setCursors([null]); }}>
            <option value="">any</option>
            {DELIVERY_STATUSES.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="delivery-endpoint">Endpoint</label>
          <select id="delivery-endpoint" value={endpointId} onChange={(e) => { setEndpointId(e.target.value); setCursors([null]); }}>
            <option value="">any</option>
            {endpoints.map((id) => <option key={id} value={id}>#{id}</option>)}
          </select>
        </div>
      </form>
      {message ? <p className={message.bad ? "error" : "notice good"} role="status">{message.text}</p> : null}
      <Problem error={error ?? replayed.error} />
      {fetching && !data ? <Loading /> : data?.webhookDeliveries.edges.length ? (
        <>
          <table>
            <thead><tr><th>Delivery</th><th>Event</th><th>Endpoint</th><th>Status</th><th className="num">Attempts</th><th>Last attempt</th><th>Next attempt</th>{mayReplay ? <th><span className="sr-only">Actions</span></th> : null}</tr></thead>
            <tbody>
              {data.webhookDeliveries.edges.map(({ node: d }) => {
                const last = d.attemptLog[d.attemptLog.length - 1];
                return (
                  <tr key={d.id}>
                    <td>#{d.id}</td>
                    <td><code>{d.eventType}</code><div className="muted small">event #{d.eventId}</div></td>
                    <td>#{d.endpointId}</td>
                    <td><Status value={d.status} /></td>
                    <td className="num">{d.attempts}</td>
                    <td>
                      <Time iso={d.lastAttemptAt} />
                      {last ? <div className={last.succeeded ? "muted small" : "error-text small"}>{last.statusCode ? `HTTP ${last.statusCode}` : last.error ?? ""} · {last.durationMs} ms</div> : null}
                    </td>
                    <td><Time iso={d.nextAttemptAt} /></td>
                    {mayReplay ? <td><button type="button" onClick={() => again(d.eventId, d.endpointId)} disabled={replayed.fetching} aria-label={`Replay event ${d.eventId} to endpoint ${d.endpointId}`}>Replay</button></td> : null}
                  </tr>
                );
              })}
            </tbody>
          </table>
          <Pager atFirst={cursors.length === 1} hasNext={data.webhookDeliveries.pageInfo.hasNextPage} onFirst={() => setCursors([null])} onNext={() => setCursors([...cursors, data.webhookDeliveries.pageInfo.endCursor ?? null])} />
        </>
      ) : <Empty>No delivery{status ? ` is ${status.toLowerCase()}` : ""}.</Empty>}
    </Card>
  );
}
