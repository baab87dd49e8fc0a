"""A webhook receiver that verifies BuildVoiceAI deliveries with the official Standard
Webhooks library (https://pypi.org/project/standardwebhooks/).

    pip install standardwebhooks==1.0.0
    WEBHOOK_SECRET=whsec_... python verify_standardwebhooks.py

WEBHOOK_SECRET is the signing secret the integration page shows (GET
/api/integrations/api-webhooks/signing-secret), passed to the library as it is. Each
delivery's `webhook-signature` is checked against `webhook-id`, `webhook-timestamp` (at most
5 minutes off) and the raw body; during a rotation's 24-hour overlap the header carries two
signatures and the library accepts the one that matches its secret.

Answers 204 to a verified delivery and 400 to anything else; prints one line per verified
delivery. Listens on 127.0.0.1:$PORT (default 8000; 0 picks a free port, printed first).
"""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            # The raw bytes as received: never a re-serialised JSON object.
            event = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        print(f"verified {event['event']} {self.headers['webhook-id']}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):
        pass  # quiet: the line above is the log


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Receiver)
    print(f"listening on {server.server_port}", flush=True)
    server.serve_forever()
