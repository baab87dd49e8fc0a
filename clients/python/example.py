"""The typed Python client at work against a running stack (`make run`): the package
`bvai_client` is generated from docs/openapi.yaml by openapi-python-client (`make clients`).

    BVAI_API=http://127.0.0.1:3000 BVAI_API_KEY=bvai_live_... \\
      RECEIVER_URL=http://127.0.0.1:4001/webhooks python example.py

Points the account's webhook URL at RECEIVER_URL (settings API), places a call
(trigger-call), reads it until it is completed, sends a test webhook, and lists the
deliveries until both events were delivered there; prints one JSON line with what it saw.
BVAI_ID_TOKEN is the dashboard's ID token for the settings API of a deployed stack (the local
stack needs none).
"""

import json
import os
import sys
import time

from bvai_client import AuthenticatedClient, Client
from bvai_client.api.calls import get_call, trigger_call
from bvai_client.api.settings import list_deliveries, patch_integration, send_test_webhook
from bvai_client.models import (
    CallPlaced,
    CallStatus,
    CallStatusStatus,
    DeliveryOutcome,
    DeliveryPage,
    DeliveryTrigger,
    IntegrationUpdate,
    TestSendResult,
    TriggerCallRequest,
    TriggerCallRequestMetadata,
)

BASE_URL = os.environ.get("BVAI_API", "http://127.0.0.1:3000")
RECEIVER_URL = os.environ.get("RECEIVER_URL", "http://127.0.0.1:4001/webhooks")
WITHIN_SECONDS = 60.0

# kit:start python-client
api = AuthenticatedClient(base_url=BASE_URL, token=os.environ["BVAI_API_KEY"])  # public API
id_token = os.environ.get("BVAI_ID_TOKEN")  # the settings API's; the local stack needs none
settings = AuthenticatedClient(base_url=BASE_URL, token=id_token) if id_token else Client(base_url=BASE_URL)
# kit:end python-client


def until(what, probe):
    """Calls `probe` every 200 ms until it returns a value, for at most WITHIN_SECONDS."""
    deadline = time.monotonic() + WITHIN_SECONDS
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            sys.exit(f"not within {WITHIN_SECONDS} s: {what}")
        time.sleep(0.2)


def delivered_rows():
    page = list_deliveries.sync(client=settings, outcome=DeliveryOutcome.DELIVERED, limit=100)
    assert isinstance(page, DeliveryPage), page
    return [row for row in page.deliveries if row.url == RECEIVER_URL]


def main() -> None:
    patched = patch_integration.sync_detailed(client=settings, body=IntegrationUpdate(webhook_url=RECEIVER_URL))
    assert patched.status_code == 200, patched.content

    # kit:start python-call
    metadata = TriggerCallRequestMetadata.from_dict({"client": "python"})
    body = TriggerCallRequest(phone="+14155550123", name="Jane Smith", metadata=metadata)
    placed = trigger_call.sync(client=api, body=body)
    if not isinstance(placed, CallPlaced):
        sys.exit(f"trigger-call: {placed}")
    call = get_call.sync(str(placed.call_id), client=api)
    assert isinstance(call, CallStatus), call
    print(f"call {call.call_id}: {call.status.value}", file=sys.stderr)  # queued, dialing, ...
    # kit:end python-call
    call_id = placed.call_id

    def completed():
        call = get_call.sync(str(call_id), client=api)
        return call if isinstance(call, CallStatus) and call.status == CallStatusStatus.COMPLETED else None

    until("the call completed", completed)

    sent = send_test_webhook.sync(client=settings)
    if not isinstance(sent, TestSendResult) or not sent.delivered:
        sys.exit(f"test send: {sent}")

    # kit:start python-deliveries
    page = list_deliveries.sync(client=settings, outcome=DeliveryOutcome.DELIVERED, limit=100)
    assert isinstance(page, DeliveryPage), page
    for row in page.deliveries:
        print(f"{row.attempted_at} {row.event_id} attempt {row.attempt}: {row.http_status}", file=sys.stderr)
    # kit:end python-deliveries

    def both_delivered():
        rows = delivered_rows()
        call_rows = [r for r in rows if r.call_id == call_id and r.trigger == DeliveryTrigger.AUTOMATIC]
        test_rows = [r for r in rows if r.event_id == sent.event_id]
        return call_rows[0] if call_rows and test_rows else None

    call_row = until("both deliveries in the log", both_delivered)
    print(
        json.dumps(
            {
                "client": "python",
                "call_id": str(call_id),
                "call_event_id": str(call_row.event_id),
                "test_event_id": str(sent.event_id),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
