fn status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The process's peak resident set size (VmHWM), where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kb("VmHWM:")
}

/// The process's resident set size now (VmRSS): a baseline to subtract from
/// the peak, so that engines with different runtimes compare the memory
/// their models take.
pub fn rss_bytes() -> Option<u64> {
    status_kb("VmRSS:")
}
