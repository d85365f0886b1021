//! Logging, set up once for the whole process.
//!
//! Lines go to standard error, readable by default or one JSON object per
//! line for log shippers. Nothing that identifies a patient belongs in a
//! log: requests are logged by method, path, status and request id, and a
//! panic is logged by its location, not its message, which may quote data.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber and the panic hook. Lines are written by a
/// background thread, so a slow terminal or log pipe never stalls a request;
/// keep the returned guard alive until exit, when it flushes what is queued.
pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<WorkerGuard> {
    let filter = EnvFilter::try_new(filter)?;
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic");
    }));
    Ok(guard)
}
