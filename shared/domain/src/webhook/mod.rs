//! Webhook delivery rules shared by the delivery function and the settings API's test-send and
//! redeliver routes: the retry schedule, the signed headers and the signing-key cache.

pub mod headers;
pub mod schedule;
pub mod signing_key;
