"""A BuildVoiceAI webhook receiver in Python (Flask), as docs/clients-and-receivers.md shows.

    pip install -r requirements.txt
    BVAI_API_KEY=bvai_live_... WEBHOOK_SECRET=whsec_... PORT=4001 python app.py

Every delivery is checked twice before anything else reads it: `X-Signature` (lowercase hex
HMAC-SHA256 of the raw body, keyed with the API key, compared in constant time) and
`webhook-signature` (Standard Webhooks, keyed with the `whsec_` signing secret; the official
library also refuses a `webhook-timestamp` more than 5 minutes off). A refused delivery gets
401. A verified one is de-duplicated on `webhook-id` (a repeat gets 200 and nothing more),
put on a queue and answered 204 at once; a worker thread does the work.

`GET /accepted` shows what the worker took and what was refused (the kit test reads it).
Listens on 127.0.0.1:$PORT (0 picks a free port); the first line printed is the address.
"""

import hashlib
import hmac
import json
import os
import queue
import threading

from flask import Flask, Response, request
from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug.serving import make_server

# kit:start python-setup
API_KEY = os.environ["BVAI_API_KEY"].encode()  # signs X-Signature (the spec's signature)
webhook = Webhook(os.environ["WEBHOOK_SECRET"])  # "whsec_...": signs webhook-signature
work: "queue.Queue[tuple[str, dict]]" = queue.Queue()  # handed to the worker below
# kit:end python-setup

app = Flask(__name__)
lock = threading.Lock()
seen: set[str] = set()  # webhook-ids already taken (keep them 24 h or more in a real store)
accepted: list[dict] = []
counts = {"duplicates": 0, "refused": 0}


# kit:start python-verify
def x_signature_ok(body: bytes, header: str) -> bool:
    expected = hmac.new(API_KEY, body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header.encode("utf-8", "replace"))


@app.post("/webhooks")
def receive():
    body = request.get_data()  # the raw bytes: verify before any JSON parsing
    try:
        event = webhook.verify(body, dict(request.headers))  # also checks the timestamp
    except WebhookVerificationError:
        event = None
    if event is None or not x_signature_ok(body, request.headers.get("X-Signature", "")):
        with lock:
            counts["refused"] += 1
        return Response(status=401)
    webhook_id = request.headers["webhook-id"]
    with lock:
        if webhook_id in seen:  # a retry or a replay of one already taken
            counts["duplicates"] += 1
            return Response(status=200)
        seen.add(webhook_id)
    work.put((webhook_id, event))  # hand it on; answer at once
    return Response(status=204)
# kit:end python-verify


def worker() -> None:
    while True:
        webhook_id, event = work.get()
        entry = {
            "webhook_id": webhook_id,
            "event": event.get("event"),
            "call_id": event.get("call_id"),
            "test": event.get("test", False),
        }
        with lock:
            accepted.append(entry)
        print(f"accepted {entry['event']} {webhook_id}", flush=True)


@app.get("/accepted")
def show_accepted():
    with lock:
        body = {"accepted": list(accepted), **counts}
    return Response(json.dumps(body), mimetype="application/json")


if __name__ == "__main__":
    threading.Thread(target=worker, daemon=True).start()
    server = make_server("127.0.0.1", int(os.environ.get("PORT", "4001")), app, threaded=True)
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
