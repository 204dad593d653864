//! What the crate's property tests share.

use proptest::test_runner::Config;

/// `cases` cases, or as many as `PROPTEST_CASES` asks for:
/// `Config::with_cases` alone would override the variable.
pub(crate) fn cases(cases: u32) -> Config {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        Config::default()
    } else {
        Config::with_cases(cases)
    }
}
