// The typed TypeScript client at work against a running stack (`make run`): the types are
// generated from docs/openapi.yaml by openapi-typescript (`make clients`), the requests made
// by openapi-fetch, so a wrong path, parameter or field does not compile (tsc, strict).
//
//     BVAI_API=http://127.0.0.1:3000 BVAI_API_KEY=bvai_live_... \
//       RECEIVER_URL=http://127.0.0.1:4002/webhooks node dist/src/example.js
//
// Points the account's webhook URL at RECEIVER_URL (settings API), places a call
// (trigger-call), reads it until it is completed, sends a test webhook, and lists the
// deliveries until both events were delivered there; prints one JSON line with what it saw.
// BVAI_ID_TOKEN is the dashboard's ID token for the settings API of a deployed stack (the
// local stack needs none).

import createClient from "openapi-fetch";
import type { paths } from "../generated/schema.js";

const baseUrl = process.env.BVAI_API ?? "http://127.0.0.1:3000";
const receiverUrl = process.env.RECEIVER_URL ?? "http://127.0.0.1:4002/webhooks";
const WITHIN_MS = 60_000;

// kit:start ts-client
const api = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${process.env.BVAI_API_KEY}` }, // the public API
});
const settings = createClient<paths>({
  baseUrl,
  headers: process.env.BVAI_ID_TOKEN ? { Authorization: `Bearer ${process.env.BVAI_ID_TOKEN}` } : {},
});
// kit:end ts-client

function fail(what: string, detail: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

/** Calls `probe` every 200 ms until it returns a value, for at most WITHIN_MS. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WITHIN_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) fail(`not within ${WITHIN_MS} ms`, what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const patched = await settings.PATCH("/api/integrations/api-webhooks", {
    body: { webhook_url: receiverUrl },
  });
  if (!patched.data) fail("set the webhook URL", patched.error);

  // kit:start ts-call
  const placed = await api.POST("/api/trigger-call", {
    body: { phone: "+14155550123", name: "Jane Smith", metadata: { client: "typescript" } },
  });
  if (placed.response.status !== 200 || !placed.data) fail("trigger-call", placed.error);
  const callId = placed.data.call_id;
  const call = await api.GET("/api/calls/{call_id}", { params: { path: { call_id: callId } } });
  console.error(`call ${callId}: ${call.data?.status}`); // queued, dialing, in_progress, ...
  // kit:end ts-call

  await until("the call completed", async () => {
    const { data } = await api.GET("/api/calls/{call_id}", {
      params: { path: { call_id: callId } },
    });
    return data?.status === "completed" ? data : undefined;
  });

  const sent = await settings.POST("/api/integrations/api-webhooks/test");
  if (!sent.data?.delivered) fail("test send", sent.data ?? sent.error);
  const testEventId = sent.data.event_id;

  // kit:start ts-deliveries
  const { data: page } = await settings.GET("/api/integrations/api-webhooks/deliveries", {
    params: { query: { outcome: "delivered", limit: 100 } },
  });
  for (const row of page?.deliveries ?? []) {
    console.error(`${row.attempted_at} ${row.event_id} attempt ${row.attempt}: ${row.http_status}`);
  }
  // kit:end ts-deliveries

  const delivered = await until("both deliveries in the log", async () => {
    const { data } = await settings.GET("/api/integrations/api-webhooks/deliveries", {
      params: { query: { outcome: "delivered", limit: 100 } },
    });
    const rows = (data?.deliveries ?? []).filter((d) => d.url === receiverUrl);
    const done =
      rows.some((d) => d.event_id === testEventId) &&
      rows.some((d) => d.call_id === callId && d.trigger === "automatic");
    return done ? rows : undefined;
  });
  const callEventId = delivered.find((d) => d.call_id === callId && d.trigger === "automatic")?.event_id;
  console.log(
    JSON.stringify({
      client: "typescript",
      call_id: callId,
      call_event_id: callEventId,
      test_event_id: testEventId,
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
