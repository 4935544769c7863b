//! The two forms of an audit entry: a padded line for people, a JSON object
//! per line for scripts.
//!
//! The human form cannot be an [`output::table`]: with `--follow` the rows
//! arrive over time, so columns get fixed minimum widths instead of the
//! widest cell's, and a long value pushes the rest of its line only.

use std::io::Write;

use botq_core::audit::Entry;

use crate::output;

/// Column names and minimum widths; the last column is never padded.
const COLUMNS: [(&str, usize); 13] = [
    ("time", 24),
    ("bot", 12),
    ("skill", 12),
    ("access", 6),
    ("outcome", 8),
    ("reason", 14),
    ("attempt", 7),
    ("duration_ms", 11),
    ("req_bytes", 9),
    ("resp_bytes", 10),
    ("replies", 7),
    ("replica", 14),
    ("request_id", 0),
];

/// The header line of the human form.
#[must_use]
pub fn header() -> String {
    row(&COLUMNS.map(|(name, _)| name.to_owned()))
}

/// One entry in the human form; with `content`, its message text and
/// answer (when recorded) on indented lines below.
#[must_use]
pub fn line(e: &Entry, content: bool) -> String {
    let dash = |v: &str| if v.is_empty() { "-".to_owned() } else { output::one_line(v) };
    let mut s = row(&[
        output::rfc3339_ms(e.ts_ms),
        output::one_line(&e.bot),
        output::one_line(&e.skill),
        e.access.as_str().to_owned(),
        e.outcome.as_str().to_owned(),
        dash(&e.reason),
        e.attempt.to_string(),
        e.duration_ms.to_string(),
        e.request_bytes.to_string(),
        e.response_bytes.to_string(),
        e.replies.to_string(),
        dash(&e.replica),
        output::one_line(&e.request_id),
    ]);
    if content {
        for (label, text) in [("text:  ", &e.text), ("answer:", &e.answer)] {
            let Some(text) = text else { continue };
            // Each line of an answer keeps its own line; control characters
            // from chat users never reach the operator's terminal.
            for (i, part) in text.split('\n').enumerate() {
                let label = if i == 0 { label } else { "       " };
                let below = format!("    {label} {}", output::one_line(part));
                s.push_str(below.trim_end());
                s.push('\n');
            }
        }
    }
    s
}

/// Writes `e` as one JSON object on one line (its `Entry` serialization).
///
/// # Errors
/// The writer's.
pub fn json_line(out: &mut impl Write, e: &Entry) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, e).map_err(std::io::Error::other)?;
    writeln!(out)
}

fn row(cells: &[String; 13]) -> String {
    let mut s = String::new();
    for (i, (cell, (_, width))) in cells.iter().zip(COLUMNS).enumerate() {
        if i > 0 {
            s.push_str("  ");
        }
        s.push_str(cell);
        s.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
    }
    s.truncate(s.trim_end().len());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use botq_core::audit::Outcome;

    use super::*;

    fn entry() -> Entry {
        Entry {
            id: "1700000000123-0".into(),
            text: Some("what is\x1b[31m up".into()),
            answer: Some("sunny\nand warm".into()),
            ..Entry::sample()
        }
    }

    #[test]
    fn an_entry_is_one_line_under_a_header_with_the_same_columns() {
        assert_eq!(
            header(),
            "time                      bot           skill         access  outcome   reason          attempt  \
             duration_ms  req_bytes  resp_bytes  replies  replica         request_id\n"
        );
        assert_eq!(
            line(&entry(), false),
            "2023-11-14T22:13:20.123Z  qq-main       agent         write   degraded  breaker_open    2        \
             17           300        0           1        worker-a-1      req-1\n"
        );
    }

    #[test]
    fn an_empty_reason_is_a_dash_and_a_long_value_pushes_only_its_own_line() {
        let e = Entry { reason: String::new(), outcome: Outcome::Ok, bot: "a-very-long-bot-name".into(), ..entry() };
        let l = line(&e, false);
        assert!(
            l.starts_with("2023-11-14T22:13:20.123Z  a-very-long-bot-name  agent         write   ok        -  "),
            "{l}"
        );
        let older = line(&Entry { replica: String::new(), ..entry() }, false);
        assert!(older.ends_with("  -               req-1\n"), "an entry from before replicas were recorded: {older}");
    }

    #[test]
    fn content_shows_only_when_asked_each_answer_line_indented_without_control_characters() {
        let l = line(&entry(), true);
        let below: Vec<&str> = l.lines().skip(1).collect();
        assert_eq!(below, ["    text:   what is [31m up", "    answer: sunny", "            and warm"]);
        assert_eq!(line(&entry(), false).lines().count(), 1);
        let without = Entry { text: None, answer: None, ..entry() };
        assert_eq!(line(&without, true).lines().count(), 1, "nothing recorded, nothing shown");
    }

    #[test]
    fn json_is_the_entry_serialization_on_one_line() {
        let mut buf = Vec::new();
        json_line(&mut buf, &Entry { text: None, ..entry() }).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], "1700000000123-0");
        assert_eq!(v["outcome"], "degraded");
        assert_eq!(v["answer"], "sunny\nand warm");
        assert!(v.get("text").is_none(), "absent content is absent, not null");
    }
}
