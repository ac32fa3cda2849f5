//! Log lines with the Prometheus ecosystem's keys, so pipelines keyed on `msg` find ours:
//!
//! ```text
//! ts=2026-12-01T08:30:00.123Z level=info source=app.rs:42 msg="listening" address=127.0.0.1:10071
//! {"ts":"2026-12-01T08:30:00.123Z","level":"info","source":"app.rs:42","msg":"listening","address":"127.0.0.1:10071"}
//! ```
//!
//! `ts` is RFC 3339 UTC with milliseconds, `level` lower case (`error`, `warn`, `info`, `debug`,
//! `trace`), `source` the file and line of the log call (`file.rs:line` under `src/`,
//! `crate-version/file.rs:line` for a dependency), `msg` the message (always present, possibly
//! empty). The event's fields follow, flattened, after those of the spans it is in; a field
//! that would reuse one of the four fixed keys is written as `field_<name>`. logfmt values are
//! quoted as go-logfmt does (when empty or holding a space, `=`, `"` or a control character;
//! `\"`, `\\`, `\n`, `\r`, `\t`, `\u00XX` inside). Each line is written to stderr with one write.
//!
//! Neither `tracing-logfmt` nor `tracing-subscriber`'s JSON formatter can rename `message` to
//! `msg` (or `timestamp` to `ts`), hence this layer.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The two line formats of `--log.format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `key=value` pairs, go-logfmt quoting.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// The keys every line starts with; event fields of these names get a `field_` prefix.
const FIXED_KEYS: [&str; 4] = ["ts", "level", "source", "msg"];

/// One field value, typed so JSON keeps numbers and booleans as such.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text (also every `Debug`/`Display`-recorded value).
    Str(String),
    /// Signed integer.
    I64(i64),
    /// Unsigned integer.
    U64(u64),
    /// Integer beyond 64 bits.
    I128(i128),
    /// Integer beyond 64 bits.
    U128(u128),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I128(v) => write!(f, "{v}"),
            Value::U128(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// One log line before it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// RFC 3339 time.
    pub ts: String,
    /// Severity.
    pub level: Level,
    /// `file.rs:line`, when the call site is known.
    pub source: Option<String>,
    /// The message.
    pub msg: String,
    /// Span fields (outermost first), then the event's, each key once.
    pub fields: Vec<(String, Value)>,
}

/// The layer that writes [`Line`]s in `format`, each with one write to a fresh writer from
/// `make_writer` (stderr in the binary).
pub struct LogLayer<W = fn() -> std::io::Stderr> {
    /// Which of the two formats.
    format: Format,
    /// Where lines go.
    make_writer: W,
}

/// A layer writing `format` lines to stderr.
pub fn layer(format: Format) -> LogLayer {
    LogLayer {
        format,
        make_writer: std::io::stderr,
    }
}

impl<W> LogLayer<W> {
    /// The same layer writing to `make_writer` instead.
    pub fn with_writer<W2>(self, make_writer: W2) -> LogLayer<W2>
    where
        W2: for<'a> MakeWriter<'a> + 'static,
    {
        LogLayer {
            format: self.format,
            make_writer,
        }
    }
}

/// Fields recorded on a span, kept in its extensions until its events need them.
struct SpanFields(Vec<(String, Value)>);

/// Collects fields; `message` goes to `msg`. Records from the `log` crate (bridged by
/// tracing-log, as dependencies such as rustls log) carry their call site as `log.file` and
/// `log.line` fields: those become `source`, and `log.target`/`log.module_path` are dropped.
#[derive(Default)]
struct Collect {
    msg: Option<String>,
    fields: Vec<(String, Value)>,
    log_file: Option<String>,
    log_line: Option<u32>,
}

impl Collect {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        match name {
            "message" => self.msg = Some(value.to_string()),
            "log.file" => self.log_file = Some(value.to_string()),
            "log.line" => {
                self.log_line = match value {
                    Value::U64(n) => u32::try_from(n).ok(),
                    Value::I64(n) => u32::try_from(n).ok(),
                    _ => None,
                }
            }
            "log.target" | "log.module_path" => {}
            _ => put(&mut self.fields, field_key(name), value),
        }
    }
}

/// Sets `key` in `fields`, replacing an earlier value of the same key where it stood.
fn put(fields: &mut Vec<(String, Value)>, key: String, value: Value) {
    match fields.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => fields.push((key, value)),
    }
}

/// A field name as a key: `field_` before the fixed keys, and characters that would break a
/// logfmt key (space, `=`, `"`, controls) replaced by `_`.
fn field_key(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let mut key: String = name
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() || c == '=' || c == '"' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if key.is_empty() || FIXED_KEYS.contains(&key.as_str()) {
        key.insert_str(0, "field_");
    }
    key
}

/// The typed `record_*` methods of [`Visit`]: each keeps its value's type (a number stays a
/// number in JSON), and they differ only in that type.
macro_rules! record_typed {
    ($($method:ident: $ty:ty => $variant:ident),* $(,)?) => {
        $(
            fn $method(&mut self, field: &Field, value: $ty) {
                self.put(field, Value::$variant(value));
            }
        )*
    };
}

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::Str(value.to_string()));
    }
    record_typed! {
        record_i64: i64 => I64,
        record_u64: u64 => U64,
        record_i128: i128 => I128,
        record_u128: u128 => U128,
        record_f64: f64 => F64,
        record_bool: bool => Bool,
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::Str(value.to_string()));
    }
}

impl<S, W> Layer<S> for LogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut collect = Collect::default();
        attrs.record(&mut collect);
        if let Some(msg) = collect.msg.take() {
            put(&mut collect.fields, "field_message".into(), Value::Str(msg));
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(collect.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut collect = Collect::default();
        values.record(&mut collect);
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            for (k, v) in collect.fields {
                put(fields, k, v);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(f)) = span.extensions().get::<SpanFields>() {
                    for (k, v) in f {
                        put(&mut fields, k.clone(), v.clone());
                    }
                }
            }
        }
        let mut collect = Collect {
            fields,
            ..Collect::default()
        };
        event.record(&mut collect);
        let meta = event.metadata();
        let line = Line {
            ts: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            level: *meta.level(),
            source: match &collect.log_file {
                Some(file) => Some(source(file, collect.log_line)),
                None => meta
                    .file()
                    .map(|file| source(file, meta.line()))
                    .or_else(|| Some(meta.target().to_string())),
            },
            msg: collect.msg.unwrap_or_default(),
            fields: collect.fields,
        };
        let mut text = match self.format {
            Format::Logfmt => logfmt(&line),
            Format::Json => json(&line),
        };
        text.push('\n');
        // One write per line, so concurrent events do not interleave; a closed stderr is not
        // worth failing over.
        let _ = self.make_writer.make_writer().write_all(text.as_bytes());
    }
}

/// `file.rs:line` from a call site: this crate's files relative to `src/`, a dependency's as
/// `crate-version/path` (its path after the last `/src/`).
pub fn source(file: &str, line: Option<u32>) -> String {
    let short = if let Some(rest) = file.strip_prefix("src/") {
        rest.to_string()
    } else if let Some(i) = file.rfind("/src/") {
        let krate = file[..i].rsplit('/').next().unwrap_or_default();
        let rest = &file[i + "/src/".len()..];
        if krate.is_empty() {
            rest.to_string()
        } else {
            format!("{krate}/{rest}")
        }
    } else {
        file.to_string()
    };
    match line {
        Some(n) => format!("{short}:{n}"),
        None => short,
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// The logfmt line (without the newline).
pub fn logfmt(line: &Line) -> String {
    let mut out = String::with_capacity(128);
    let _ = write!(out, "ts={} level={}", line.ts, level_name(&line.level));
    if let Some(source) = &line.source {
        out.push_str(" source=");
        logfmt_value(&mut out, source);
    }
    out.push_str(" msg=");
    logfmt_value(&mut out, &line.msg);
    for (key, value) in &line.fields {
        out.push(' ');
        out.push_str(key);
        out.push('=');
        match value {
            Value::Str(s) => logfmt_value(&mut out, s),
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }
    out
}

/// Appends `s`, quoted and escaped when go-logfmt would quote it.
pub fn logfmt_value(out: &mut String, s: &str) {
    let needs_quotes = s.is_empty()
        || s.chars()
            .any(|c| c <= ' ' || c == '=' || c == '"' || c.is_control() || c.is_whitespace());
    if !needs_quotes {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The JSON line (without the newline): fixed keys first, then the fields, flattened, in order.
pub fn json(line: &Line) -> String {
    let mut out = String::with_capacity(160);
    out.push('{');
    json_pair(&mut out, "ts", &serde_json::Value::from(line.ts.as_str()));
    json_pair(&mut out, "level", &level_name(&line.level).into());
    if let Some(source) = &line.source {
        json_pair(&mut out, "source", &source.as_str().into());
    }
    json_pair(&mut out, "msg", &line.msg.as_str().into());
    for (key, value) in &line.fields {
        let v = match value {
            Value::Str(s) => serde_json::Value::from(s.as_str()),
            Value::I64(v) => (*v).into(),
            Value::U64(v) => (*v).into(),
            // Beyond 64 bits JSON numbers lose precision in most readers: keep the digits.
            Value::I128(v) => v.to_string().into(),
            Value::U128(v) => v.to_string().into(),
            Value::F64(v) => serde_json::Number::from_f64(*v)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| v.to_string().into()),
            Value::Bool(v) => (*v).into(),
        };
        json_pair(&mut out, key, &v);
    }
    out.push('}');
    out
}

fn json_pair(out: &mut String, key: &str, value: &serde_json::Value) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push_str(&serde_json::Value::from(key).to_string());
    out.push(':');
    out.push_str(&value.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// Lines written through the layer, for the tests.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(format: Format, f: impl FnOnce()) -> Vec<String> {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber =
            tracing_subscriber::registry().with(layer(format).with_writer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, f);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_layer_flattens_span_fields_and_keeps_the_event_s_last() {
        let lines = capture(Format::Logfmt, || {
            let span = tracing::info_span!("scrape", cloud = "prod ap1", request_id = 7u64);
            let _guard = span.enter();
            tracing::warn!(request_id = 8u64, msg = "shadow", "collector failed");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let (head, rest) = lines[0].split_once(" msg=").unwrap();
        assert!(head.contains(" level=warn source=logging.rs:"), "{head}");
        assert_eq!(
            rest,
            "\"collector failed\" cloud=\"prod ap1\" request_id=8 field_msg=shadow"
        );
    }

    #[test]
    fn records_bridged_from_the_log_crate_take_their_call_site_as_source() {
        let lines = capture(Format::Json, || {
            tracing::warn!(
                log.target = "rustls::conn",
                log.module_path = "rustls::conn",
                log.file = "/root/.cargo/registry/src/x/rustls-0.23.1/src/conn.rs",
                log.line = 77u64,
                "Sending fatal alert"
            );
        });
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["source"], "rustls-0.23.1/conn.rs:77");
        assert_eq!(v["msg"], "Sending fatal alert");
        assert_eq!(v.as_object().unwrap().len(), 4, "{v}");
    }

    fn line(fields: Vec<(&str, Value)>) -> Line {
        Line {
            ts: "2026-12-01T08:30:00.123Z".into(),
            level: Level::WARN,
            source: Some("scrape.rs:42".into()),
            msg: "collector failed".into(),
            fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }
    }

    #[test]
    fn logfmt_has_the_ecosystem_keys_and_quotes_like_go_logfmt() {
        let l = line(vec![
            ("cloud", Value::Str("prod-ap1".into())),
            (
                "error",
                Value::Str("said \"no\"\nthen\tleft \\ here".into()),
            ),
            ("empty", Value::Str(String::new())),
            ("eq", Value::Str("a=b".into())),
            ("bell", Value::Str("\u{7}".into())),
            ("n", Value::U64(3)),
            ("ok", Value::Bool(false)),
            ("ratio", Value::F64(0.5)),
        ]);
        assert_eq!(
            logfmt(&l),
            r#"ts=2026-12-01T08:30:00.123Z level=warn source=scrape.rs:42 msg="collector failed" cloud=prod-ap1 error="said \"no\"\nthen\tleft \\ here" empty="" eq="a=b" bell="\u0007" n=3 ok=false ratio=0.5"#
        );
    }

    #[test]
    fn logfmt_leaves_plain_values_bare_and_always_writes_msg() {
        let mut l = line(vec![("path", Value::Str(r"C:\dir".into()))]);
        l.msg = String::new();
        l.source = None;
        assert_eq!(
            logfmt(&l),
            r#"ts=2026-12-01T08:30:00.123Z level=warn msg="" path=C:\dir"#
        );
    }

    #[test]
    fn json_has_msg_level_ts_and_flat_typed_fields() {
        let l = line(vec![
            ("cloud", Value::Str("prod \"ap1\"".into())),
            ("n", Value::I64(-3)),
            ("big", Value::U128(u128::MAX)),
            ("nan", Value::F64(f64::NAN)),
            ("ok", Value::Bool(true)),
        ]);
        let v: serde_json::Value = serde_json::from_str(&json(&l)).unwrap();
        assert_eq!(v["ts"], "2026-12-01T08:30:00.123Z");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["source"], "scrape.rs:42");
        assert_eq!(v["msg"], "collector failed");
        assert_eq!(v["cloud"], "prod \"ap1\"");
        assert_eq!(v["n"], -3);
        assert_eq!(v["big"], u128::MAX.to_string());
        assert_eq!(v["nan"], "NaN");
        assert_eq!(v["ok"], true);
        assert_eq!(v.as_object().unwrap().len(), 9);
        assert!(json(&l).starts_with(r#"{"ts":"2026-12-01T08:30:00.123Z","level":"warn","source":"scrape.rs:42","msg":"collector failed","cloud":"#));
    }

    #[test]
    fn fields_never_overwrite_the_fixed_keys() {
        assert_eq!(field_key("msg"), "field_msg");
        assert_eq!(field_key("level"), "field_level");
        assert_eq!(field_key("ts"), "field_ts");
        assert_eq!(field_key("source"), "field_source");
        assert_eq!(field_key("r#type"), "type");
        assert_eq!(field_key("a b=c\"d"), "a_b_c_d");
        assert_eq!(field_key("request_id"), "request_id");
    }

    #[test]
    fn source_is_short_for_our_files_and_names_the_crate_for_others() {
        assert_eq!(source("src/cloud/mod.rs", Some(7)), "cloud/mod.rs:7");
        assert_eq!(
            source(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hyper-1.6.0/src/proto/h1/dispatch.rs",
                Some(120)
            ),
            "hyper-1.6.0/proto/h1/dispatch.rs:120"
        );
        assert_eq!(source("build.rs", None), "build.rs");
    }
}
