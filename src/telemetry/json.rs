//! The JSON log format: one object per line with the event's fields at the top level and the
//! event's span under `span`, the shape of `tracing-subscriber`'s JSON format with flattened
//! events and the current span:
//!
//! `{"timestamp":"…Z","level":"INFO","message":"request finished","status":200,…,`
//! `"target":"concur_connector::telemetry","span":{"id":"…","method":"GET",…,"name":"request"}}`
//!
//! A span's fields are rendered to JSON once, when the span is made or a field is recorded,
//! and each line is written into a reused per-thread buffer: no map of values is built and no
//! text parsed again per line, which the generic formatters do (the access line is written for
//! every request). Every string is escaped: quotes, backslashes and every control character,
//! so a value that came from a request can never end a line or recolour a terminal.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The layer writing JSON lines to `make_writer`.
pub struct JsonLines<W> {
    make_writer: W,
}

impl<W> JsonLines<W> {
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

/// Where a field's JSON value goes: [`slot`](Self::slot) gives the text to append it to.
trait Fields {
    fn slot(&mut self, name: &'static str) -> &mut String;
}

impl<T: Fields> Fields for &mut T {
    fn slot(&mut self, name: &'static str) -> &mut String {
        (**self).slot(name)
    }
}

/// A span's fields, each value already JSON, in the order first recorded.
#[derive(Default)]
struct SpanFields(Vec<(&'static str, String)>);

impl Fields for SpanFields {
    /// The field's value, emptied for a new one (a field recorded again keeps its place).
    fn slot(&mut self, name: &'static str) -> &mut String {
        let at = match self.0.iter().position(|(n, _)| *n == name) {
            Some(at) => at,
            None => {
                self.0.push((name, String::new()));
                self.0.len() - 1
            }
        };
        let value = &mut self.0[at].1;
        value.clear();
        value
    }
}

/// An event's fields, written as `,"name":value` pairs onto the line.
struct EventFields<'a>(&'a mut String);

impl Fields for EventFields<'_> {
    fn slot(&mut self, name: &'static str) -> &mut String {
        self.0.push(',');
        write_str(self.0, name);
        self.0.push(':');
        self.0
    }
}

/// Records each field's value as JSON into its [`Fields`] slot.
struct Json<F>(F);

impl<F: Fields> Visit for Json<F> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write_debug(self.0.slot(field.name()), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        write_str(self.0.slot(field.name()), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let _ = write!(self.0.slot(field.name()), "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let _ = write!(self.0.slot(field.name()), "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        write_f64(self.0.slot(field.name()), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = write!(self.0.slot(field.name()), "{value}");
    }
}

/// `value` as a JSON string.
fn write_str(out: &mut String, value: &str) {
    out.push('"');
    let _ = Escaped(out).write_str(value);
    out.push('"');
}

/// `value`'s `Debug` text as a JSON string, escaped as it is written (no copy in between).
fn write_debug(out: &mut String, value: &dyn fmt::Debug) -> fmt::Result {
    out.push('"');
    let written = write!(Escaped(out), "{value:?}");
    out.push('"');
    written
}

/// A JSON number; `null` for a value JSON cannot hold (NaN, infinities). A whole number keeps
/// its `.0`, so that a reader sees a float where the field is one.
fn write_f64(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push_str("null");
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{value:.1}");
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Escapes what it is given for the inside of a JSON string.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c.is_control()) {
            self.0.push_str(&rest[..at]);
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c => write!(self.0, "\\u{:04x}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.push_str(rest);
        Ok(())
    }
}

impl<S, W> tracing_subscriber::Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Json(SpanFields::default());
        attrs.record(&mut fields);
        span.extensions_mut().insert(fields.0);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
            values.record(&mut Json(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let write = |line: &mut String| {
            line.clear();
            format_event(line, event, &ctx);
            let mut writer = self.make_writer.make_writer_for(event.metadata());
            let _ = std::io::Write::write_all(&mut writer, line.as_bytes());
        };
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => write(&mut line),
            // An event logged while a line is being written (by a writer that logs).
            Err(_) => write(&mut String::new()),
        });
    }
}

fn format_event<S>(line: &mut String, event: &Event<'_>, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let meta = event.metadata();
    line.push_str("{\"timestamp\":\"");
    if SystemTime.format_time(&mut Writer::new(line)).is_err() {
        line.push('-');
    }
    line.push_str("\",\"level\":\"");
    line.push_str(meta.level().as_str());
    line.push('"');
    event.record(&mut Json(EventFields(line)));
    line.push_str(",\"target\":");
    write_str(line, meta.target());
    if let Some(span) = ctx.event_span(event) {
        line.push_str(",\"span\":{");
        if let Some(fields) = span.extensions().get::<SpanFields>() {
            for (name, value) in &fields.0 {
                write_str(line, name);
                line.push(':');
                line.push_str(value);
                line.push(',');
            }
        }
        line.push_str("\"name\":");
        write_str(line, span.name());
        line.push('}');
    }
    line.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tracing_subscriber::Registry;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::super::tests::Buffer;
    use super::*;

    /// The lines `emit` logs, each parsed (a line that is not one JSON object fails here).
    fn lines(emit: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = Registry::default().with(JsonLines::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'), "{text}");
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn an_event_in_a_span_has_its_fields_at_the_top_and_the_span_under_span() {
        let lines = lines(|| {
            tracing::info_span!("request", id = "r-1", method = "GET").in_scope(|| {
                tracing::info!(status = 200u16, latency_ms = 1.25, "request finished");
            });
        });
        let [line] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request finished");
        assert_eq!(line["status"], 200);
        assert_eq!(line["latency_ms"], 1.25);
        assert_eq!(line["target"], module_path!());
        assert_eq!(
            line["span"],
            json!({"id": "r-1", "method": "GET", "name": "request"})
        );
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() > 20 && timestamp.ends_with('Z'),
            "{timestamp}"
        );
    }

    #[test]
    fn an_event_outside_any_span_has_no_span_key() {
        let lines = lines(|| tracing::warn!(count = 3i64, ok = false, "alone"));
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["count"], 3);
        assert_eq!(lines[0]["ok"], false);
        assert!(lines[0].get("span").is_none(), "{}", lines[0]);
    }

    #[test]
    fn quotes_backslashes_and_control_characters_are_escaped_and_come_back_unchanged() {
        let hostile = "a\"b\\c\nINFO forged line\r\t\u{1b}[31m\u{7f}\u{85} ünï";
        let lines = lines(|| {
            tracing::info_span!("request", id = hostile, debug = ?hostile).in_scope(|| {
                tracing::info!(value = hostile, shown = %hostile, "got {}", hostile);
            });
        });
        let [line] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        assert_eq!(line["value"], hostile);
        assert_eq!(line["shown"], hostile);
        assert_eq!(line["message"], format!("got {hostile}"));
        assert_eq!(line["span"]["id"], hostile);
        assert_eq!(line["span"]["debug"], format!("{hostile:?}"));
    }

    #[test]
    fn the_raw_line_holds_no_control_character() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = Registry::default().with(JsonLines::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(value = "x\ny\u{1b}z\u{9b}", "m");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line = text.strip_suffix('\n').unwrap();
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.contains(r"x\ny\u001bz\u009b"), "{line}");
    }

    #[test]
    fn numbers_stay_numbers_and_what_json_cannot_hold_is_null() {
        let lines = lines(|| {
            tracing::info!(
                whole = 2.0,
                small = 0.000_125,
                nan = f64::NAN,
                infinite = f64::INFINITY,
                negative = -7i64,
                big = u64::MAX,
                "numbers"
            );
        });
        let line = &lines[0];
        assert!(line["whole"].is_f64(), "{line}");
        assert_eq!(line["whole"], 2.0);
        assert_eq!(line["small"], 0.000_125);
        assert!(
            line["nan"].is_null() && line["infinite"].is_null(),
            "{line}"
        );
        assert_eq!(line["negative"], -7);
        assert_eq!(line["big"], u64::MAX);
    }

    #[test]
    fn a_field_recorded_later_appears_once_with_its_last_value() {
        let lines = lines(|| {
            let span = tracing::info_span!(
                "concur.read_item",
                api = tracing::field::Empty,
                kind = "first"
            );
            span.in_scope(|| tracing::info!("before"));
            span.record("api", "v4");
            span.record("kind", "second");
            span.in_scope(|| tracing::info!("after"));
        });
        assert_eq!(
            lines[0]["span"],
            json!({"kind": "first", "name": "concur.read_item"})
        );
        assert_eq!(
            lines[1]["span"],
            json!({"kind": "second", "api": "v4", "name": "concur.read_item"})
        );
    }
}
