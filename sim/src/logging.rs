//! Log output for `--log`: the system's `tracing` events with simulated time
//! (and the node, from madsim's per-node span).

use tracing_subscriber::{EnvFilter, fmt::format::Writer, fmt::time::FormatTime};

/// Prints simulated time inside a run, `-` outside one.
struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, writer: &mut Writer<'_>) -> std::fmt::Result {
        match madsim::time::TimeHandle::try_current() {
            Some(time) => write!(writer, "{:>10.6}s", time.elapsed().as_secs_f64()),
            None => write!(writer, "{:>11}", "-"),
        }
    }
}

/// Installs the global subscriber at `level` (`error` ... `trace`, or any
/// `EnvFilter` directive), writing to stderr. Call it once, on the main
/// thread, before any simulation thread starts: a filter built on a
/// simulation's thread would disturb madsim's seeding of that thread.
pub fn init(level: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(level)
        .map_err(|error| format!("invalid log level `{level}`: {error}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimTime)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|error| error.to_string())
}
