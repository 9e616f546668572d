/* HTTP calls to the token endpoint and the application routes. A failure says what kind it is, so the visitor is never
   told to check their connection when the endpoint answered:
     network      the request never got an answer
     busy         429: too many attempts from here
     refused      another 4xx: the endpoint refused the request (its code is in `code`)
     unavailable  5xx, or an answer that is not what the endpoint promises */
import { page } from "./state.js";

export function failure(kind, code, status, fields) {
  return { kind, code, status, fields };
}

/** POST `body` as JSON to the token endpoint + `path`; the parsed answer, or throws a failure(). */
export function callEndpoint(path, body) {
  return callUrl(page.journey.token_endpoint.replace(/\/+$/, "") + path, body);
}

/** POST `body` as JSON to `url`; the parsed answer, or throws a failure() (with the per-field
    messages of a 422 in `fields`). */
export async function callUrl(url, body) {
  let r;
  try {
    r = await fetch(url, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    throw failure("network", "network");
  }
  const data = await r.json().catch(() => ({}));
  if (r.ok) return data;
  const kind = r.status === 429 ? "busy" : r.status < 500 ? "refused" : "unavailable";
  const error = data.error || {};
  throw failure(kind, error.code || "http_" + r.status, r.status, error.fields);
}
