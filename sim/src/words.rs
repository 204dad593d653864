//! Words for what people read: a count with its noun in the right number
//! ("1 seed", "2 seeds"), the article before a name ("an exactly-once
//! violation"), and a span of time in seconds ("15s", "0.163s"). One
//! place, so that no summary or table gets them wrong.

use std::time::Duration;

/// `count` followed by `noun`, plural unless the count is one:
/// `count(1, "seed")` is "1 seed", `count(0, "seed")` "0 seeds". Every noun
/// the harness counts takes a plain `-s` (`RPC node`, `log replica`).
pub fn count(count: impl Into<u64>, noun: &str) -> String {
    let count = count.into();
    format!("{count} {}", noun_for(count, noun))
}

/// `noun` as it reads after `count`, without the count: for a count shown
/// elsewhere, such as a progress bar's `{pos}/{len}`.
pub fn noun_for(count: u64, noun: &str) -> String {
    if count == 1 {
        noun.to_owned()
    } else {
        format!("{noun}s")
    }
}

/// "a" or "an" before `word`, by its first letter. Right for every name
/// the harness puts after an article (checkers, kinds, bugs): none starts
/// with a vowel letter that sounds like a consonant, or the reverse.
pub fn article(word: &str) -> &'static str {
    match word.chars().next().map(|first| first.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// `span` in seconds to the millisecond, without trailing zeros: "15s",
/// "7.5s", "0.163s". A span of a millisecond or more never reads "0s".
pub fn seconds(span: Duration) -> String {
    let text = format!("{:.3}", span.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::bugs::Checker;

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(count(1u32, "seed"), "1 seed");
        assert_eq!(count(0u32, "seed"), "0 seeds");
        assert_eq!(count(2u64, "RPC node"), "2 RPC nodes");
        assert_eq!(noun_for(1, "job"), "job");
    }

    #[test]
    fn the_article_follows_the_checkers_name() {
        let articles: Vec<(&str, &str)> = Checker::all()
            .map(|checker| (article(checker.name()), checker.name()))
            .collect();
        for (article, name) in &articles {
            let expected = match *name {
                "exactly-once" | "at-least-once" | "isolation" => "an",
                _ => "a",
            };
            assert_eq!(*article, expected, "{article} {name}");
        }
    }

    #[test]
    fn a_span_reads_in_seconds_to_the_millisecond() {
        assert_eq!(seconds(Duration::from_secs(15)), "15s");
        assert_eq!(seconds(Duration::from_millis(7_500)), "7.5s");
        assert_eq!(seconds(Duration::from_micros(162_600)), "0.163s");
        assert_eq!(seconds(Duration::ZERO), "0s");
    }
}
