//! The generator's own CPU time, read from `/proc`.
//!
//! A load generator on the same 2-core machine as the system under test takes
//! CPU from it, so the report shows how much: process CPU over the measured
//! window, and separately what the signing threads used in that window (zero
//! when every request was signed beforehand). CPU seconds per request are
//! steadier than rates on a shared machine.
//!
//! `/proc/<pid>/stat` reports `utime` and `stime` in clock ticks; Linux fixes
//! the user-visible tick (`USER_HZ`) at 100, so readings have 10 ms
//! resolution, which is fine over runs of seconds. Reading `/proc` needs no
//! `unsafe` and no libc binding. Elsewhere the readings are `None` and the
//! report says so instead of printing zeros.

use std::time::Duration;

/// `USER_HZ`: clock ticks per second in `/proc/*/stat`.
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time of this whole process.
#[must_use]
pub fn process() -> Option<Duration> {
    read("/proc/self/stat")
}

/// User + system CPU time of another process (a worker child, Redis).
#[must_use]
pub fn of_pid(pid: u32) -> Option<Duration> {
    read(&format!("/proc/{pid}/stat"))
}

/// User + system CPU time of the calling thread.
#[must_use]
pub fn thread() -> Option<Duration> {
    read("/proc/thread-self/stat")
}

fn read(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_stat(&text).map(ticks_to_duration)
}

/// `utime + stime` (fields 14 and 15) of a `stat` line, in ticks.
///
/// Field 2 is the command name in parentheses and may itself contain spaces
/// and parentheses, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<u64> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    // After the name: state (3), ppid (4), … utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * (1000 / TICKS_PER_SEC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_found_after_a_name_with_spaces_and_parens() {
        let line = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat(line), Some(325));
        assert_eq!(ticks_to_duration(325), Duration::from_millis(3250));
    }

    #[test]
    fn a_truncated_line_is_no_reading_rather_than_zero() {
        assert_eq!(parse_stat("4242 (bench) S 1 2 3"), None);
        assert_eq!(parse_stat("no parens here"), None);
    }

    #[test]
    fn this_process_and_thread_have_a_reading_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process().is_some());
            assert!(thread().is_some());
        }
    }
}
