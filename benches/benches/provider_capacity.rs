//! How much of an embedding server's capacity a scan uses (SPEC quality bar: at least 80% of a
//! server that serves 8 or more requests at once).
//!
//! An in-process HTTP server on 127.0.0.1 speaks the OpenAI embeddings protocol; it serves at
//! most `C` requests at once (a semaphore; later requests queue) and each takes 50 ms. A scan of
//! a generated corpus runs against it with the `openai` provider. Utilisation = busy
//! request-time / (C × wall time of the whole scan, walk to commit).
//!
//! `cargo bench -p ragops-benches --bench provider_capacity`
//! (environment: `RAGOPS_BENCH_CAPACITY` = C, default 8; `RAGOPS_BENCH_FILES`, default 500; `RAGOPS_BENCH_FILE_BYTES`, default 16000;
//! `RAGOPS_BENCH_BATCH`, default 16; `RAGOPS_BENCH_CONCURRENCY`, default: the provider's default)

#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use ragops_lib::config::{Config, ConfigOrigin};
use ragops_lib::{Index, Registry};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const SERVICE_TIME: Duration = Duration::from_millis(50);
const DIMENSIONS: usize = 16;

struct Server {
    slots: Semaphore,
    /// When each request held a slot, relative to `epoch`, in microseconds.
    spans: std::sync::Mutex<Vec<(u64, u64)>>,
    epoch: Instant,
    busy_us: AtomicU64,
    requests: AtomicU64,
    texts: AtomicU64,
}

async fn handle(req: Request<Incoming>, s: Arc<Server>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let n = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["input"].as_array().map(Vec::len)).unwrap_or(0);
    {
        let _slot = s.slots.acquire().await.unwrap();
        let started = Instant::now();
        tokio::time::sleep(SERVICE_TIME).await;
        s.busy_us.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let from = started.duration_since(s.epoch).as_micros() as u64;
        s.spans.lock().unwrap().push((from, from + started.elapsed().as_micros() as u64));
    }
    s.requests.fetch_add(1, Ordering::Relaxed);
    s.texts.fetch_add(n as u64, Ordering::Relaxed);
    let data: Vec<Value> = (0..n)
        .map(|i| {
            let v: Vec<f32> = (0..DIMENSIONS).map(|k| ((i * 31 + k * 7) % 17) as f32 / 17.0 + 0.01).collect();
            json!({"index": i, "embedding": v})
        })
        .collect();
    let text = serde_json::to_vec(&json!({ "data": data })).unwrap();
    Ok(Response::builder().header("content-type", "application/json").body(Full::new(Bytes::from(text))).unwrap())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too: keep that quick.
    let quick = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let capacity = env_usize("RAGOPS_BENCH_CAPACITY", 8);
    let files = env_usize("RAGOPS_BENCH_FILES", if quick { 50 } else { 500 });
    let file_bytes = env_usize("RAGOPS_BENCH_FILE_BYTES", 16_000);
    let batch = env_usize("RAGOPS_BENCH_BATCH", 16);
    let concurrency = std::env::var("RAGOPS_BENCH_CONCURRENCY").ok();

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let server = Arc::new(Server {
        slots: Semaphore::new(capacity),
        spans: std::sync::Mutex::new(Vec::new()),
        epoch: Instant::now(),
        busy_us: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        texts: AtomicU64::new(0),
    });
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let s = s.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, s.clone()));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let bytes = ragops_benches::generate_corpus(dir.path(), files, file_bytes).unwrap();
    let concurrency_line = concurrency.as_ref().map(|c| format!("concurrency = {c}\n")).unwrap_or_default();
    let toml = format!(
        "[embedding]\nprovider = \"openai\"\nmodel = \"bench-embed\"\ndimensions = {DIMENSIONS}\nbatch_size = {batch}\n{concurrency_line}[embedding.openai]\nbase_url = \"http://{addr}/v1\"\n"
    );
    let config = Config::from_toml(&toml, None, ConfigOrigin::CommandLine, false, &|_| None).unwrap();
    let mut registry = Registry::with_builtins();
    ragops_openai::register(&mut registry);
    let index = Index::builder().repo(dir.path()).config(config).registry(registry).build().unwrap();
    let effective_concurrency = index.embedder().unwrap().max_concurrency();

    // The same scan with the built-in provider (no server): what the scan costs besides
    // embedding calls.
    let baseline_dir = dir.path().join(".ragops-baseline");
    let baseline = Index::builder().repo(dir.path()).index_dir(Some(baseline_dir)).build().unwrap();
    let started = Instant::now();
    rt.block_on(baseline.scan()).unwrap();
    let baseline_wall = started.elapsed();

    let started = Instant::now();
    let summary = rt.block_on(index.scan()).unwrap();
    let wall = started.elapsed();
    let busy = Duration::from_micros(server.busy_us.load(Ordering::Relaxed));
    let utilisation = busy.as_secs_f64() / (capacity as f64 * wall.as_secs_f64());
    let requests = server.requests.load(Ordering::Relaxed);
    // Time during which the server had at least one request: the embedding phases.
    let mut spans = server.spans.lock().unwrap().clone();
    spans.sort_unstable();
    let (mut active_us, mut end) = (0u64, 0u64);
    let mut gaps = Vec::new();
    for &(a, b) in &spans {
        if a > end && end > 0 {
            gaps.push(a - end);
        }
        if b > end {
            active_us += b - a.max(end);
            end = b;
        }
    }
    // Where the idle time is: before the first request, between requests, after the last.
    let scan_start = started.duration_since(server.epoch).as_micros() as u64;
    let first = spans.first().map_or(0, |s| s.0.saturating_sub(scan_start));
    let last = (scan_start + wall.as_micros() as u64).saturating_sub(end);
    println!(
        "idle: before first request {:.3}s, {} gaps between requests totalling {:.3}s (largest {:.3}s), after the last {:.3}s",
        first as f64 / 1e6,
        gaps.len(),
        gaps.iter().sum::<u64>() as f64 / 1e6,
        gaps.iter().max().copied().unwrap_or(0) as f64 / 1e6,
        last as f64 / 1e6,
    );
    let active = Duration::from_micros(active_us);
    let while_embedding = busy.as_secs_f64() / (capacity as f64 * active.as_secs_f64());
    println!(
        "provider_capacity: C={capacity} service=50ms files={files} bytes={bytes} chunks={} batch_size={batch} concurrency={effective_concurrency} requests={requests} texts={} wall={:.3}s busy={:.3}s ideal_wall={:.3}s builtin_scan_wall={:.3}s server_active={:.3}s utilisation_while_embedding={:.1}% utilisation={:.1}%",
        summary.chunks,
        server.texts.load(Ordering::Relaxed),
        wall.as_secs_f64(),
        busy.as_secs_f64(),
        (requests as f64 / capacity as f64).ceil() * SERVICE_TIME.as_secs_f64(),
        baseline_wall.as_secs_f64(),
        active.as_secs_f64(),
        while_embedding * 100.0,
        utilisation * 100.0,
    );
    assert_eq!(server.texts.load(Ordering::Relaxed), summary.cache_misses, "every missing chunk embedded once");
}
