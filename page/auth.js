// Sign-in for the deployed page: the stack's Cognito user pool's hosted UI, authorization code
// with PKCE (no client secret in the browser). The ID token is kept in sessionStorage only and
// sent to the settings API as `Authorization: Bearer <id token>` (its JWT authorizer checks it).
// Locally (`make run`) config.json has "auth": null and the gateway injects the demo account.

const TOKEN = "bvai.id_token";
const VERIFIER = "bvai.pkce_verifier";
const STATE = "bvai.pkce_state";

function base64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(n = 32) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return base64url(b);
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

/** The stored ID token if it is valid for at least another minute. */
function storedToken() {
  const t = sessionStorage.getItem(TOKEN);
  const c = t && claims(t);
  if (!c || typeof c.exp !== "number" || c.exp * 1000 < Date.now() + 60_000) return null;
  return t;
}

async function redirectToSignIn(auth) {
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem(VERIFIER, verifier);
  sessionStorage.setItem(STATE, state);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const u = new URL(`${auth.domain}/oauth2/authorize`);
  u.search = new URLSearchParams({
    response_type: "code",
    client_id: auth.client_id,
    redirect_uri: auth.redirect_uri,
    scope: auth.scope || "openid email",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(u.toString());
  return new Promise(() => {}); // the page is leaving
}

async function exchangeCode(auth, code, state) {
  const verifier = sessionStorage.getItem(VERIFIER);
  const expected = sessionStorage.getItem(STATE);
  sessionStorage.removeItem(VERIFIER);
  sessionStorage.removeItem(STATE);
  if (!verifier || !expected || state !== expected) throw new Error("the sign-in answer did not match this page's request; sign in again");
  const res = await fetch(`${auth.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: auth.client_id,
      code,
      redirect_uri: auth.redirect_uri,
      code_verifier: verifier,
    }),
  });
  if (!res.ok) throw new Error(`sign-in failed (${res.status})`);
  const body = await res.json();
  if (!body.id_token) throw new Error("sign-in returned no ID token");
  sessionStorage.setItem(TOKEN, body.id_token);
  return body.id_token;
}

/**
 * The session: `{token, email}`, or null when the page runs without sign-in (local stack).
 * Redirects to the hosted UI when a sign-in is needed.
 */
export async function session(config) {
  const auth = config.auth;
  if (!auth) return null;
  const params = new URLSearchParams(location.search);
  let token = storedToken();
  if (!token && params.has("code")) {
    token = await exchangeCode(auth, params.get("code"), params.get("state"));
  }
  if (params.has("code") || params.has("state") || params.has("error")) {
    history.replaceState(null, "", location.pathname);
  }
  if (!token) return redirectToSignIn(auth);
  const c = claims(token) || {};
  return { token, email: c.email || c["cognito:username"] || "" };
}

/** Forgets the token and goes through the hosted UI's sign-out. */
export function signOut(config) {
  sessionStorage.removeItem(TOKEN);
  const auth = config.auth;
  if (!auth) return;
  const u = new URL(`${auth.domain}/logout`);
  u.search = new URLSearchParams({ client_id: auth.client_id, logout_uri: auth.redirect_uri }).toString();
  location.assign(u.toString());
}

/** Called on a 401: the token was refused, sign in again. */
export function expired(config) {
  sessionStorage.removeItem(TOKEN);
  return redirectToSignIn(config.auth);
}
