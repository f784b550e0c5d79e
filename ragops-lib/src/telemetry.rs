//! The structured-log schema (SPEC contract 2): field names every JSON log line carries.
//! ragops-lib emits `tracing` events with these fields; it installs no subscriber.

/// The event name, e.g. `scan.finished`.
pub const EVENT: &str = "event";
/// The index's name.
pub const COLLECTION: &str = "collection";
/// Duration of the operation, milliseconds.
pub const LATENCY_MS: &str = "latency_ms";
/// The provider involved.
pub const PROVIDER: &str = "provider";
/// The model involved.
pub const MODEL: &str = "model";
/// One id per command invocation or chat turn.
pub const REQUEST_ID: &str = "request_id";
/// A heuristic confidence in `[0, 1]`, never a truth.
pub const CONFIDENCE: &str = "confidence";

/// Every key a JSON log line carries.
pub const SCHEMA_KEYS: &[&str] = &[EVENT, COLLECTION, LATENCY_MS, PROVIDER, MODEL, REQUEST_ID, CONFIDENCE];

/// Milliseconds since `started`, with microsecond precision, for `latency_ms`.
pub fn elapsed_ms(started: std::time::Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e6).round() / 1e3
}
