//! Webhook delivery pieces shared by the delivery function and the settings API's test and
//! redeliver routes: the schedule, the signed headers and the guarded HTTP client.

pub mod client;
pub mod headers;
pub mod schedule;
pub mod signing_key;
