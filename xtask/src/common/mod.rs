//! What several xtask commands share: resumable journals, progress and cache
//! reports, and the NAS settings the figures and the table statistics agree on.

pub(crate) mod journal;
pub(crate) mod nas;
pub(crate) mod progress;
