//! Progress bars and a search's cache report.

use indicatif::{ProgressBar, ProgressStyle};
use ufh_search::{Event, EventSink, SearchRecord};

use crate::say;

/// A progress bar over `len` items named `unit`.
pub(crate) fn progress_bar(len: usize, unit: &str) -> ProgressBar {
    ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit}, eta {{eta_precise}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    )
}

/// Advances the progress bar as events complete.
pub(crate) struct Progress(pub(crate) ProgressBar);

impl EventSink for Progress {
    fn event(&self, _: &Event) -> std::io::Result<()> {
        self.0.inc(1);
        Ok(())
    }
}

/// Prints a search's FEC hit rate and, if it ran, the audit's collisions.
pub(crate) fn report_cache(record: &SearchRecord) -> anyhow::Result<()> {
    if let Some(rate) = record.hit_rate() {
        say!("FEC hit rate {:.1}%", 100.0 * rate);
    }
    if let Some(audit) = record.audit {
        say!(
            "audit: {} hits re-evaluated, {} collisions ({:.1}%)",
            audit.audited,
            audit.collisions,
            100.0 * audit.collision_rate().unwrap_or(0.0)
        );
    }
    Ok(())
}
