//! Lambda HTTP glue shared by the API functions: reading requests and rendering `ApiError`
//! (`http`), and JSON logs (`telemetry`).

pub mod http;
pub mod router;
pub mod telemetry;
