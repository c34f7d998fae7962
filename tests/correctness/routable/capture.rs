//! The statements the library sends, exactly as sent: read from its `tracing` statement
//! spans (`db.query.text`), so nothing in the library changes to be checked.

use std::fmt;
use std::sync::{Arc, Mutex};

/// A statement the library sent, as its `tracing` span recorded it.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// `db.query.summary`, e.g. `SELECT projects`.
    pub summary: String,
    /// `db.query.text`: the SQL exactly as sent.
    pub sql: String,
    /// Whether the span names a tenant (a scoped call).
    pub scoped: bool,
}

/// Records the statement spans of the library (target `tenant_query::statement`) on the
/// current thread while the guard lives.
pub struct Capture {
    sent: Arc<Mutex<Vec<Sent>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Capture {
    /// Starts recording. A `#[tokio::test]` runs on one thread, so every statement of the
    /// test is seen and none of the tests running beside it.
    pub fn start() -> Capture {
        use tracing_subscriber::layer::SubscriberExt;
        let sent = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Recorder(Arc::clone(&sent)));
        Capture {
            sent,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Stops recording; every statement sent so far, in order.
    pub fn finish(self) -> Vec<Sent> {
        let sent = std::mem::take(&mut *self.sent.lock().unwrap());
        drop(self);
        sent
    }
}

struct Recorder(Arc<Mutex<Vec<Sent>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().target() != "tenant_query::statement" {
            return;
        }
        let mut sent = Sent::default();
        attrs.record(&mut sent);
        self.0.lock().unwrap().push(sent);
    }
}

impl tracing::field::Visit for Sent {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "db.query.text" {
            self.sql = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        match field.name() {
            "db.query.summary" => self.summary = format!("{value:?}"),
            "tenant.id" => self.scoped = true,
            _ => {}
        }
    }
}
