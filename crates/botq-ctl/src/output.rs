//! Rendering: aligned plain-text tables for people, one JSON document for scripts.

use std::io::Write;

/// Writes `value` as one pretty JSON document.
///
/// # Errors
/// The writer's.
pub fn json(out: &mut impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::other)?;
    writeln!(out)
}

/// A table with a header row, columns left-aligned and padded to their widest
/// cell, two spaces apart, no trailing spaces.
#[must_use]
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            s.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut s = line(&mut headers.iter().copied());
    for row in rows {
        s.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    s
}

/// Text for one table cell: newlines and tabs become spaces.
#[must_use]
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Milliseconds since the epoch as `2023-11-14T22:13:20.123Z` (UTC).
#[must_use]
pub fn rfc3339_ms(ms: i64) -> String {
    botq_core::rfc3339::format_unix_ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_each_column_to_its_widest_cell() {
        let t = table(&["queue", "depth"], &[vec!["0".into(), "12345".into()], vec!["10".into(), "7".into()]]);
        assert_eq!(t, "queue  depth\n0      12345\n10     7\n");
    }

    #[test]
    fn a_table_without_rows_is_its_header() {
        assert_eq!(table(&["id", "reason"], &[]), "id  reason\n");
    }

    #[test]
    fn a_table_counts_characters_not_bytes() {
        let t = table(&["a", "b"], &[vec!["héé".into(), "x".into()], vec!["h".into(), "y".into()]]);
        assert_eq!(t, "a    b\nhéé  x\nh    y\n");
    }

    #[test]
    fn a_cell_never_breaks_the_line() {
        assert_eq!(one_line("gave up\nafter\t3"), "gave up after 3");
    }

    #[test]
    fn epoch_milliseconds_print_as_utc_timestamps() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z", "leap day");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn json_output_is_one_document_ending_in_a_newline() {
        let mut buf = Vec::new();
        json(&mut buf, &serde_json::json!({ "ok": true })).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.ends_with("}\n"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap()["ok"], true);
    }
}
