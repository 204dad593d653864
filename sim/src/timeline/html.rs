//! The timeline as one self-contained HTML page: `timeline.html` draws it
//! on a canvas from the model, embedded in the page as JSON. Nothing is
//! fetched, so the file can be mailed, attached to an issue or opened
//! offline.

use super::model::Timeline;

const TEMPLATE: &str = include_str!("timeline.html");

/// Where the template takes the data: the whole text of its JSON script
/// element.
const DATA_SLOT: &str = "/*TIMELINE-DATA*/";

/// The page showing `timeline`: a complete HTML document.
pub fn render(timeline: &Timeline) -> String {
    let (head, tail) = TEMPLATE
        .split_once(DATA_SLOT)
        .expect("timeline.html has a data slot");
    let json = serde_json::to_string(timeline).expect("a timeline is plain data");
    let json = script_safe(&json);
    let mut page = String::with_capacity(head.len() + json.len() + tail.len());
    page.push_str(head);
    page.push_str(&json);
    page.push_str(tail);
    page
}

/// JSON that a script element can hold as it is. The HTML tokenizer ends a
/// script element at any `</script`, in any case; and after a `<!--`, a
/// `<script` in the data would make it pass over the real end tag. Both can
/// only occur inside JSON strings, where `<\/` and `\u003c` read back as the
/// same characters.
fn script_safe(json: &str) -> String {
    json.replace("</", "<\\/").replace("<!--", "\\u003c!--")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::model::{Lane, Mark, Message, Span, Step, Term, TransferLife, Violation};

    const TRANSFER: &str = "tr-00000000deadbeef";
    const HOSTILE: &str = "balance mismatch </script><script>alert(1)</script> <!--<script>";

    fn lane(node: &str, role: &str) -> Lane {
        Lane {
            node: node.to_owned(),
            role: role.to_owned(),
        }
    }

    fn span(node: &str, kind: &str, from_us: u64, to_us: Option<u64>, label: &str) -> Span {
        Span {
            node: node.to_owned(),
            kind: kind.to_owned(),
            from_us,
            to_us,
            label: label.to_owned(),
        }
    }

    fn mark(node: &str, kind: &str, at_us: u64) -> Mark {
        Mark {
            node: node.to_owned(),
            kind: kind.to_owned(),
            at_us,
            label: format!("{kind} on {node}"),
        }
    }

    fn message(fate: &str, sent_us: u64, arrive_us: Option<u64>, copy: Option<u64>) -> Message {
        Message {
            from: "log-1".to_owned(),
            to: "log-2".to_owned(),
            kind: "Append",
            sent_us,
            arrive_us,
            fate: fate.to_owned(),
            duplicate_after_us: copy,
            bytes: 120,
        }
    }

    fn step(at_us: u64, node: &str, kind: &str) -> Step {
        Step {
            at_us,
            node: node.to_owned(),
            kind: kind.to_owned(),
            what: format!("{kind} {TRANSFER}"),
        }
    }

    fn violation(checker: &str, at_us: u64, message: &str, expected: bool) -> Violation {
        Violation {
            checker: checker.to_owned(),
            at_us,
            message: message.to_owned(),
            expected,
            transfers: vec![TRANSFER.to_owned()],
        }
    }

    /// Every kind of thing the page draws, once at least.
    fn timeline() -> Timeline {
        Timeline {
            scenario: "partition-during-transfer".to_owned(),
            seed: 7,
            verdict: "safety-violation".to_owned(),
            settle_us: 3_000_000,
            end_us: 5_000_000,
            lanes: vec![
                lane("log-1", "log"),
                lane("log-2", "log"),
                lane("db", "db"),
                lane("ledger", "ledger"),
                lane("chain", "chain"),
                lane("client-0", "client"),
            ],
            spans: vec![
                span("log-1", "down", 1_000_000, Some(1_400_000), "crashed"),
                span("db", "paused", 2_000_000, Some(2_100_000), "paused 100ms"),
                span("log-2", "cut", 500_000, Some(900_000), "side 1 of 2: log-2"),
                span("chain", "skewed", 0, None, "offset +250ms"),
            ],
            marks: vec![
                mark("log-1", "crash", 1_000_000),
                mark("log-1", "restart", 1_400_000),
                mark("log-2", "elected", 1_050_000),
                mark("chain", "block", 1_500_000),
                mark("chain", "reorg", 2_500_000),
            ],
            terms: vec![
                Term {
                    term: 1,
                    leader: "log-1".to_owned(),
                    from_us: 10_000,
                    to_us: Some(1_000_000),
                },
                Term {
                    term: 2,
                    leader: "log-2".to_owned(),
                    from_us: 1_050_000,
                    to_us: None,
                },
            ],
            messages: vec![
                message("sent", 100_000, Some(101_000), None),
                message("delayed", 200_000, Some(260_000), None),
                message("dropped", 300_000, None, None),
                message("cut", 600_000, None, None),
                message("sent", 700_000, Some(701_000), Some(5_000)),
            ],
            messages_total: 1_234,
            violations: vec![
                violation("exactly-once", 2_600_000, HOSTILE, false),
                violation("no-lost-transfer", 2_700_000, "expected loss", true),
            ],
            transfers: vec![TransferLife {
                id: TRANSFER.to_owned(),
                client: 0,
                request_id: "req-0-1".to_owned(),
                steps: vec![
                    step(120_000, "client-0", "request"),
                    step(130_000, "log-1", "appended"),
                    step(150_000, "db", "projected"),
                    step(1_500_000, "chain", "included"),
                    step(1_600_000, "client-0", "answer"),
                ],
            }],
        }
    }

    /// The text of the data script element.
    fn embedded_json(page: &str) -> &str {
        let open = r#"<script id="timeline-data" type="application/json">"#;
        let start = page.find(open).expect("a data element") + open.len();
        let length = page[start..].find("</script>").expect("its end tag");
        &page[start..start + length]
    }

    #[test]
    fn the_template_has_one_data_slot() {
        assert_eq!(TEMPLATE.matches(DATA_SLOT).count(), 1);
    }

    #[test]
    fn the_page_is_one_self_contained_document() {
        let page = render(&timeline());
        assert!(page.starts_with("<!doctype html>"), "{}", &page[..40]);
        assert!(page.trim_end().ends_with("</html>"));
        assert_eq!(page.matches("<html").count(), 1);
        assert_eq!(page.matches("</html>").count(), 1);
        let lower = page.to_lowercase();
        for outside in [
            "http://",
            "https://",
            "<script src",
            "<link",
            "@import",
            "url(",
        ] {
            assert!(
                !lower.contains(outside),
                "the page reaches outside: {outside}"
            );
        }
        assert!(!page.contains(DATA_SLOT), "the data slot was filled");
    }

    #[test]
    fn the_data_is_embedded_and_reads_back() {
        let page = render(&timeline());
        let data: serde_json::Value =
            serde_json::from_str(embedded_json(&page)).expect("the embedded data is JSON");
        let lanes: Vec<&str> = data["lanes"]
            .as_array()
            .expect("lanes")
            .iter()
            .map(|lane| lane["node"].as_str().expect("a node"))
            .collect();
        assert_eq!(
            lanes,
            ["log-1", "log-2", "db", "ledger", "chain", "client-0"]
        );
        assert_eq!(data["violations"][0]["checker"], "exactly-once");
        assert_eq!(data["violations"][1]["expected"], true);
        assert_eq!(data["violations"][0]["transfers"][0], TRANSFER);
        assert_eq!(data["transfers"][0]["id"], TRANSFER);
        assert_eq!(
            data["transfers"][0]["steps"].as_array().map(Vec::len),
            Some(5)
        );
        assert_eq!(data["messages"][2]["arrive_us"], serde_json::Value::Null);
        assert_eq!(data["spans"][3]["to_us"], serde_json::Value::Null);
    }

    #[test]
    fn markup_in_the_data_cannot_end_the_script() {
        let page = render(&timeline());
        // The data element's end tag and the code's, and no more.
        assert_eq!(page.to_lowercase().matches("</script").count(), 2);
        assert!(!embedded_json(&page).contains("<!--"));
        let data: serde_json::Value =
            serde_json::from_str(embedded_json(&page)).expect("the embedded data is JSON");
        assert_eq!(data["violations"][0]["message"], HOSTILE);
    }

    #[test]
    fn script_safe_escapes_end_tags_in_any_case_and_comment_openers() {
        assert_eq!(
            script_safe(r#"{"a":"</SCRIPT><!--"}"#),
            r#"{"a":"<\/SCRIPT>\u003c!--"}"#
        );
    }
}
