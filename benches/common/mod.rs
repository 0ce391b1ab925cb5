//! What the benches that report CPU per message (`client`, `durable`) share: CPU time of a
//! process from `/proc/<pid>/stat`, the machine's load, Mosquitto's version, medians.

use std::process::Command;
use std::time::Duration;

/// User and system CPU time of this process (all threads, living and exited).
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    pub user: Duration,
    pub sys: Duration,
}

impl Cpu {
    /// This process's utime and stime from `/proc/self/stat` (10 ms ticks).
    pub fn now() -> Cpu {
        Cpu::of("self")
    }

    /// The same for process `pid` (`"self"` or a number).
    pub fn of(pid: &str) -> Cpu {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // Fields after "(comm)": state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            let t: u64 = fields[i].parse().expect("cpu ticks");
            Duration::from_nanos(t * 1_000_000_000 / clock_ticks())
        };
        Cpu {
            user: ticks(11),
            sys: ticks(12),
        }
    }

    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
        }
    }
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The median of the values that are numbers (NaN, a run that measured nothing, is left out).
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The version `mosquitto -h` prints, or `?`.
pub fn mosquitto_version() -> String {
    let out = Command::new("mosquitto").arg("-h").output();
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("mosquitto version "))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}
