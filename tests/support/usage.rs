//! This process's memory and CPU time, for the `#[ignore]`d measurements that print what an
//! attack costs (`cargo test … -- --ignored --nocapture`).

/// A reading of this process: resident set (KiB) and CPU time (user + system, ms).
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub rss_kib: u64,
    pub cpu_ms: u64,
}

/// Reads `/proc/self/status` (VmRSS) and `/proc/self/stat` (utime, stime).
pub fn now() -> Usage {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // Clock ticks: 100 a second on Linux unless the kernel was built otherwise.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Usage {
        rss_kib,
        cpu_ms: ticks * 10,
    }
}

/// Prints the change from `before` to now, with `what` and the size of the structure that
/// grew.
pub fn report(what: &str, before: Usage, grew: &str) {
    let after = now();
    println!(
        "MEASURE {what}: VmRSS {} -> {} KiB (+{} KiB), CPU +{} ms, {grew}",
        before.rss_kib,
        after.rss_kib,
        after.rss_kib as i64 - before.rss_kib as i64,
        after.cpu_ms.saturating_sub(before.cpu_ms),
    );
}
