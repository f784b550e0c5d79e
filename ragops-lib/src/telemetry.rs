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

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// Runs `fut` with `id` as the current request id, readable by providers (e.g. to send it to a
/// server as a request header) through [`current_request_id`].
pub async fn with_request_id<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CURRENT_REQUEST_ID.scope(id, fut).await
}

/// The request id of the command or chat turn this code runs for, if one was set.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// Wraps a future about to be spawned on another task so that it keeps the current request id.
pub fn propagate_request_id<F: std::future::Future>(fut: F) -> impl std::future::Future<Output = F::Output> {
    let id = current_request_id();
    async move {
        match id {
            Some(id) => CURRENT_REQUEST_ID.scope(id, fut).await,
            None => fut.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn request_ids_reach_spawned_tasks() {
        assert_eq!(current_request_id(), None);
        let seen = with_request_id("req-1".into(), async {
            tokio::spawn(propagate_request_id(async { current_request_id() })).await.unwrap()
        })
        .await;
        assert_eq!(seen.as_deref(), Some("req-1"));
    }
}
