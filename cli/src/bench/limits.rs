//! The open-file limit (each connection is one descriptor) and memory readings from /proc.

use std::fs;

use crate::error::CliError;

/// Descriptors kept free for the runtime (epoll, eventfd), stdio, /proc reads and the like.
const RESERVE: u64 = 32;

/// How many connections the open-file limit leaves room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// Soft limit, after raising it to the hard limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
    /// Descriptors open at the start.
    pub in_use: u64,
    /// Connections that fit.
    pub connections: u64,
}

impl FdBudget {
    /// Raises the soft RLIMIT_NOFILE to the hard limit and works out how many connections fit.
    pub fn raise() -> Result<FdBudget, CliError> {
        let (soft, hard) = raise_nofile()
            .map_err(|e| CliError::io("cannot read the open-file limit (RLIMIT_NOFILE)", e))?;
        let in_use = open_descriptors();
        Ok(FdBudget {
            soft,
            hard,
            in_use,
            connections: soft.saturating_sub(in_use + RESERVE),
        })
    }

    /// Refuses more connections than fit, saying what to change.
    pub fn check(&self, wanted: u64) -> Result<(), CliError> {
        if wanted <= self.connections {
            return Ok(());
        }
        Err(CliError::Bench(format!(
            "-c {wanted} is more than the {} connections the open-file limit allows \
             (soft {}, hard {}, {} in use): use -c {} or less, or raise the hard limit \
             (`ulimit -Hn`, as root)",
            self.connections, self.soft, self.hard, self.in_use, self.connections
        )))
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (no privilege needed) and reads both.
#[cfg(unix)]
fn raise_nofile() -> std::io::Result<(u64, u64)> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    rlimit::getrlimit(rlimit::Resource::NOFILE)
}

/// Elsewhere there is no per-process descriptor limit to raise or check.
#[cfg(not(unix))]
fn raise_nofile() -> std::io::Result<(u64, u64)> {
    Ok((u64::MAX, u64::MAX))
}

/// Descriptors this process has open (the directory listing's own descriptor not counted).
fn open_descriptors() -> u64 {
    fs::read_dir("/proc/self/fd")
        .map(|d| (d.count() as u64).saturating_sub(1))
        .unwrap_or(16)
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// VmRSS in KiB: everything resident.
    pub rss_kib: u64,
    /// RssAnon in KiB: resident heap and stacks, without the mapped binary and libraries.
    pub anon_kib: Option<u64>,
}

impl Memory {
    /// This process's memory (`None` where /proc is not available).
    pub fn own() -> Option<Memory> {
        Memory::read("/proc/self/status")
    }

    /// Another process's memory.
    pub fn of(pid: u32) -> Option<Memory> {
        Memory::read(&format!("/proc/{pid}/status"))
    }

    fn read(path: &str) -> Option<Memory> {
        let status = fs::read_to_string(path).ok()?;
        Some(Memory {
            rss_kib: field_kib(&status, "VmRSS:")?,
            anon_kib: field_kib(&status, "RssAnon:"),
        })
    }
}

/// `VmRSS:   123456 kB` -> 123456.
fn field_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tx\nVmRSS:\t   2048 kB\nRssAnon:\t    512 kB\n";
        assert_eq!(field_kib(status, "VmRSS:"), Some(2048));
        assert_eq!(field_kib(status, "RssAnon:"), Some(512));
        assert_eq!(field_kib(status, "VmSwap:"), None);
        let own = Memory::own().unwrap();
        assert!(own.rss_kib > 0);
    }

    #[test]
    fn budget_refuses_what_does_not_fit() {
        let b = FdBudget::raise().unwrap();
        assert!(b.soft <= b.hard);
        assert!(b.check(b.connections).is_ok());
        let err = b.check(b.connections + 1).unwrap_err().to_string();
        assert!(err.contains("open-file limit"), "{err}");
    }
}
