import { createClient as createWsClient } from "graphql-ws";
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from "urql";

/** One client per key: HTTP with the Authorization header, subscriptions over
 *  graphql-transport-ws on the same origin with the key in connection_init (browsers
 *  cannot set headers on a WebSocket). */
export function makeClient(apiKey: string): Client {
  const authorization = `Api-Key ${apiKey}`;
  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const ws = createWsClient({ url: wsUrl, connectionParams: { Authorization: authorization }, lazy: true });
  return new Client({
    url: "/graphql",
    requestPolicy: "cache-and-network",
    preferGetMethod: false, // the API takes operations by POST only
    fetchOptions: () => ({ headers: { Authorization: authorization }, credentials: "omit" }),
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || "" };
          return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
        },
      }),
    ],
  });
}
