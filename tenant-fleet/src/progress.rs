//! A run's progress for a person: a bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tenant_query::fleet::{Progress, RunOptions};

/// Adds a progress display to `options`.
pub fn attach(options: RunOptions) -> RunOptions {
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} homes, {msg}, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        options.on_progress(move |p: &Progress| {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
            bar.set_message(format!(
                "{} failed, {} locked, {} remaining",
                p.failed,
                p.locked,
                p.remaining()
            ));
            if p.remaining() == 0 {
                bar.finish();
            }
        })
    } else {
        // At most a line a second, and the last one.
        let last = Mutex::new(None::<Instant>);
        options.on_progress(move |p: &Progress| {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due || p.remaining() == 0 {
                *last = Some(Instant::now());
                eprintln!(
                    "{}/{} homes done, {} failed, {} locked, {} remaining, {:.1} homes/s",
                    p.done,
                    p.total,
                    p.failed,
                    p.locked,
                    p.remaining(),
                    p.rate()
                );
            }
        })
    }
}
