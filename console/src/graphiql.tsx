// GraphiQL, built from its npm package and served by the engine itself: no CDN, so it
// works on a network without internet. It uses the key the console signed in with
// (sessionStorage, this tab); a header typed in its Headers tab wins.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/style.css";
import { createRoot } from "react-dom/client";
import { createClient } from "graphql-ws";
import { getApiKey } from "./lib/session";
import "./graphiql.css";

const key = getApiKey();
const authorization = key ? `Api-Key ${key}` : undefined;
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  headers: authorization ? { Authorization: authorization } : undefined,
  wsClient: createClient({ url: wsUrl, lazy: true, connectionParams: authorization ? { Authorization: authorization } : {} }),
});

const placeholder = JSON.stringify({ Authorization: "Api-Key <paste a key, or sign in at / first>" }, null, 2);

createRoot(document.getElementById("graphiql")!).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={"# Signed-in key: " + (key ? "this tab's console session" : "none; use the Headers tab") + "\n{ me { name role } }\n"}
    defaultHeaders={key ? undefined : placeholder}
    shouldPersistHeaders={false}
  />,
);
