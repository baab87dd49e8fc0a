//! Step 2: sign the stored bytes and POST them. Signed now, with the keys active now: a retry
//! queued before a rotation carries the new secret's signature.

use crate::prepare::Ready;
use crate::Deps;
use domain::webhook::headers::webhook_headers;
use outbound::webhook_client::SendResult;

pub async fn send(ready: &Ready, deps: &Deps) -> SendResult {
    let body = ready.payload.as_bytes();
    let headers = webhook_headers(
        ready.event_type.as_str(),
        &ready.api_key,
        &ready.signing,
        ready.msg.event_id,
        ready.msg.attempt,
        deps.clock.now(),
        body,
    );
    deps.client.post(&ready.url, &headers, body.to_vec()).await
}
