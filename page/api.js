// The settings API client: JSON in and out, the project's error shape
// ({"success": false, "error": {"code", "message", "field"}}) surfaced as ApiError.
import { expired } from "./auth.js";

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `request failed (${status})`);
    this.status = status;
    this.code = error?.code || "http_error";
    this.field = error?.field || null;
  }
}

export const INTEGRATION = "/api/integrations/api-webhooks";

/** `?a=1&b=2` from the set values of `params` (empty when none is set). */
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const qs = q.toString();
  return qs ? `?${qs}` : "";
}

export function client(config, sess) {
  const base = (config.api_base_url || "").replace(/\/$/, "");
  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (sess) headers.Authorization = `Bearer ${sess.token}`;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(base + path, init);
    } catch {
      throw new ApiError(0, { code: "network", message: "The API cannot be reached. Check your connection and try again." });
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (res.status === 401 && config.auth) await expired(config);
    if (!res.ok || !data || data.success === false) {
      const err = data?.error || (data?.message ? { code: "http_error", message: data.message } : null);
      throw new ApiError(res.status, err);
    }
    return data;
  }
  return {
    integration: () => call("GET", INTEGRATION),
    patch: (fields) => call("PATCH", INTEGRATION, fields),
    generateKey: () => call("POST", `${INTEGRATION}/api-key`, {}),
    agents: () => call("GET", "/api/agents"),
    testSend: () => call("POST", `${INTEGRATION}/test`),
    deliveries: ({ outcome, cursor, limit }) => {
      const q = new URLSearchParams();
      if (outcome) q.set("outcome", outcome);
      if (cursor) q.set("cursor", cursor);
      if (limit) q.set("limit", String(limit));
      const qs = q.toString();
      return call("GET", `${INTEGRATION}/deliveries${qs ? `?${qs}` : ""}`);
    },
    redeliver: (eventId) => call("POST", `${INTEGRATION}/deliveries/${encodeURIComponent(eventId)}/redeliver`),
    recover: (range) => call("POST", `${INTEGRATION}/deliveries/recover`, range),
    signingSecret: () => call("GET", `${INTEGRATION}/signing-secret`),
    rotateSigningSecret: () => call("POST", `${INTEGRATION}/signing-secret`, {}),
    suppressions: ({ cursor, limit }) => call("GET", `${INTEGRATION}/suppressions${query({ cursor, limit })}`),
    suppress: (phone) => call("PUT", `${INTEGRATION}/suppressions/${encodeURIComponent(phone)}`),
    unsuppress: (phone) => call("DELETE", `${INTEGRATION}/suppressions/${encodeURIComponent(phone)}`),
    calls: ({ status, created_after, cursor, limit }) =>
      call("GET", `${INTEGRATION}/calls${query({ status, created_after, cursor, limit })}`),
    health: (range) => call("GET", `${INTEGRATION}/endpoint-health${query({ range })}`),
    cancelCall: (callId) => call("DELETE", `${INTEGRATION}/calls/${encodeURIComponent(callId)}`),
    checkCallingRules: (phone) => call("POST", `${INTEGRATION}/calling-rules/check`, { phone }),
    cancelScheduled: () => call("POST", `${INTEGRATION}/calls/cancel-scheduled`, {}),
  };
}
