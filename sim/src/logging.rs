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

/// The levels `--log` takes, alone or after `target=`.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Checks a `--log` (or `RUST_LOG`) value: a level, or comma-separated
/// directives `level` and `target=level` (a target is a module path such
/// as `ledger::log`). Anything else is refused, so that a typo is an error
/// rather than a run that silently logs nothing.
pub fn check_filter(filter: &str) -> Result<(), String> {
    let expected = || {
        format!(
            "expected a level ({}) or directives such as `info,ledger::log=debug`, got `{filter}`",
            LEVELS.join(", ")
        )
    };
    if filter.trim().is_empty() {
        return Err(expected());
    }
    for directive in filter.split(',') {
        let (target, level) = match directive.trim().split_once('=') {
            Some((target, level)) => (Some(target.trim()), level.trim()),
            None => (None, directive.trim()),
        };
        let level_ok = LEVELS.iter().any(|known| known.eq_ignore_ascii_case(level));
        let target_ok = target.is_none_or(|target| {
            !target.is_empty()
                && target.split("::").all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
        });
        if !level_ok || !target_ok {
            return Err(expected());
        }
    }
    Ok(())
}

/// The simulator's own lines (madsim creating, binding and killing nodes)
/// drown the system's: they are kept to warnings unless the filter names
/// `madsim` itself.
fn quiet_simulator(filter: &str) -> String {
    if filter.contains("madsim") {
        filter.to_owned()
    } else {
        format!("{filter},madsim=warn")
    }
}

/// Installs the global subscriber with `filter` (see [`check_filter`]),
/// writing to stderr, in colour only when `ansi` (`--color`: by default,
/// only on a terminal). Call it once, on the main thread, before any
/// simulation thread starts: a filter built on a simulation's thread would
/// disturb madsim's seeding of that thread.
pub fn init(filter: &str, ansi: bool) -> Result<(), String> {
    check_filter(filter)?;
    let filter = EnvFilter::try_new(quiet_simulator(filter))
        .map_err(|error| format!("invalid log filter `{filter}`: {error}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimTime)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init()
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulator_is_quiet_unless_named() {
        assert_eq!(quiet_simulator("debug"), "debug,madsim=warn");
        assert_eq!(quiet_simulator("info,madsim=debug"), "info,madsim=debug");
    }

    #[test]
    fn levels_and_directives_pass_and_anything_else_is_refused() {
        for good in [
            "info",
            "DEBUG",
            "off",
            "warn,ledger::log=debug",
            "sim=trace",
        ] {
            assert_eq!(check_filter(good), Ok(()), "{good}");
        }
        for bad in [
            "nonsense",
            "",
            "info,",
            "=debug",
            "ledger::=info",
            "a b=info",
            "info[x]",
        ] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }
}
