//! Webhook delivery rules shared by the delivery function and the settings API's test-send and
//! redeliver routes: the retry schedule, the signed headers, the API-key cache (`X-Signature`),
//! the webhook signing secret (`webhook-signature`), the endpoint summary and whether a
//! redelivery series is still running.

pub mod headers;
pub mod retry_schedule;
pub mod series;
pub mod signing_key;
pub mod signing_secret;
pub mod summary;
