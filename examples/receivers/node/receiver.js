// A BuildVoiceAI webhook receiver in Node (the standard `http` module), as
// docs/clients-and-receivers.md shows.
//
//     npm ci
//     BVAI_API_KEY=bvai_live_... WEBHOOK_SECRET=whsec_... PORT=4002 node receiver.js
//
// Every delivery is checked twice before anything else reads it: `X-Signature` (lowercase hex
// HMAC-SHA256 of the raw body, keyed with the API key, compared with crypto.timingSafeEqual)
// and `webhook-signature` (Standard Webhooks, keyed with the `whsec_` signing secret; the
// official `standardwebhooks` package also refuses a `webhook-timestamp` more than 5 minutes
// off). A refused delivery gets 401. A verified one is de-duplicated on `webhook-id` (a repeat
// gets 200 and nothing more), queued and answered 204 at once; the queue is worked off later.
//
// `GET /accepted` shows what the worker took and what was refused (the kit test reads it).
// Listens on 127.0.0.1:$PORT (0 picks a free port); the first line printed is the address.

import crypto from "node:crypto";
import http from "node:http";
import { Webhook } from "standardwebhooks";

// kit:start node-setup
const apiKey = process.env.BVAI_API_KEY; // signs X-Signature (the spec's signature)
const webhook = new Webhook(process.env.WEBHOOK_SECRET); // "whsec_...": signs webhook-signature
const work = []; // handed to the worker below
// kit:end node-setup

const seen = new Set(); // webhook-ids already taken (keep them 24 h or more in a real store)
const accepted = [];
const counts = { duplicates: 0, refused: 0 };

// kit:start node-verify
function xSignatureOk(body, header) {
  const expected = crypto.createHmac("sha256", apiKey).update(body).digest();
  const given = Buffer.from(header ?? "", "hex");
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

function receive(req, body, res) {
  // body: the raw bytes (a Buffer): verify before any JSON parsing
  let event = null;
  try {
    event = webhook.verify(body, req.headers); // also checks the timestamp
  } catch {
    event = null;
  }
  if (event === null || !xSignatureOk(body, req.headers["x-signature"])) {
    counts.refused += 1;
    return res.writeHead(401).end();
  }
  const webhookId = req.headers["webhook-id"];
  if (seen.has(webhookId)) {
    // a retry or a replay of one already taken
    counts.duplicates += 1;
    return res.writeHead(200).end();
  }
  seen.add(webhookId);
  work.push({ webhookId, event }); // hand it on; answer at once
  setImmediate(drain);
  return res.writeHead(204).end();
}
// kit:end node-verify

function drain() {
  for (let job = work.shift(); job !== undefined; job = work.shift()) {
    const { webhookId, event } = job;
    accepted.push({
      webhook_id: webhookId,
      event: event.event ?? null,
      call_id: event.call_id ?? null,
      test: event.test ?? false,
    });
    console.log(`accepted ${event.event} ${webhookId}`);
  }
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/accepted") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ accepted, ...counts }));
  }
  if (req.method !== "POST" || req.url !== "/webhooks") {
    return res.writeHead(404).end();
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => receive(req, Buffer.concat(chunks), res));
});

server.listen(Number(process.env.PORT ?? 4002), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
