//! Installs the tracing subscriber (only the binary does).
//!
//! Text mode is tracing-subscriber's compact format. JSON mode is a layer of ours: every line on
//! stderr is one JSON object carrying at least the keys of SPEC contract 2 (`event`,
//! `collection`, `latency_ms`, `provider`, `model`, `request_id`, `confidence`, null where they
//! do not apply), with the fields of the enclosing spans (such as the command's `request_id`
//! and `collection`) merged in. Lines from other crates (`log` records included) get the same
//! keys, with `event` = `log.<crate>`.

use std::io::{IsTerminal, Write};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{GlobalArgs, LogFormat};

/// The effective log format: `--log-format` or `RAGOPS_LOG_FORMAT`, else text.
pub(crate) fn format(g: &GlobalArgs) -> LogFormat {
    g.log_format.unwrap_or(LogFormat::Text)
}

pub(crate) fn init(g: &GlobalArgs) {
    let format = format(g);
    let level = if g.quiet {
        "error"
    } else {
        match (g.verbose, format) {
            // Machines reading JSON want the events; people at a terminal want quiet.
            (0, LogFormat::Json) => "info",
            (0, LogFormat::Text) => "warn",
            (1, _) => "info",
            _ => "debug",
        }
    };
    // hnsw_rs and sled log through `log` at info level: keep them to warnings.
    let default = format!("{level},hnsw_rs=warn,sled=warn,anndists=warn");
    let filter = std::env::var("RAGOPS_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = match format {
        LogFormat::Json => tracing_subscriber::registry().with(filter).with(JsonLayer).try_init(),
        LogFormat::Text => tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .without_time()
                    .with_target(false)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
    };
}

/// A new request id: one per command invocation (and, later, per chat turn).
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The JSON-lines layer.
struct JsonLayer;

/// Fields recorded on a span, kept in its extensions.
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(SpanFields(fields)) = ext.get_mut::<SpanFields>() {
                values.record(&mut JsonVisitor(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        for key in ragops_lib::telemetry::SCHEMA_KEYS {
            line.insert((*key).to_string(), Value::Null);
        }
        // Outer spans first, so inner spans and the event itself override them.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    for (k, v) in fields {
                        if !v.is_null() {
                            line.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
        let meta = event.metadata();
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        // Records bridged from `log` carry their origin in `log.*` fields.
        let target = fields
            .remove("log.target")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| meta.target().to_string());
        fields.retain(|k, _| !k.starts_with("log."));
        line.extend(fields);
        if line.get("event").is_none_or(Value::is_null) {
            let krate = target.split("::").next().unwrap_or("unknown");
            line.insert("event".into(), Value::String(format!("log.{krate}")));
        }
        line.insert("level".into(), Value::String(meta.level().as_str().to_lowercase()));
        line.insert("target".into(), Value::String(target));
        line.insert(
            "timestamp".into(),
            Value::String(humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()),
        );
        if let Ok(mut text) = serde_json::to_string(&Value::Object(line)) {
            text.push('\n');
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().to_string(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), Value::String(format!("{value:?}")));
    }
}

/// Reports a command-line parsing error: clap's own output, or in JSON mode (asked by
/// `RAGOPS_LOG_FORMAT=json` or `--log-format json`) one JSON line. Help and version go to
/// stdout with exit code 0.
pub(crate) fn usage_error(err: &clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    let code = err.exit_code();
    let informational = matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || matches!(err.kind(), ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
    let args: Vec<String> = std::env::args().collect();
    let json = std::env::var("RAGOPS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
        || args.windows(2).any(|w| w[0] == "--log-format" && w[1] == "json")
        || args.iter().any(|a| a == "--log-format=json");
    if informational || !json {
        let _ = err.print();
    } else {
        let mut line = Map::new();
        for key in ragops_lib::telemetry::SCHEMA_KEYS {
            line.insert((*key).to_string(), Value::Null);
        }
        line.insert("event".into(), Value::from("usage.error"));
        line.insert("level".into(), Value::from("error"));
        line.insert("exit_code".into(), Value::from(code));
        let message = err.render().to_string();
        line.insert("message".into(), Value::from(message.lines().next().unwrap_or_default().trim()));
        line.insert("usage".into(), Value::from(message));
        if let Ok(text) = serde_json::to_string(&Value::Object(line)) {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(2))
}
