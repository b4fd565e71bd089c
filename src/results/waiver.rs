//! Waivers: "this failure is known", written in the deployment (`waivers:`) or in a file of its
//! own (`--waivers FILE`, same shape): which check (`plugin` or `plugin/check`), on which hosts
//! (glob patterns, comma-separated; every host when left out), why, and until when.
//!
//! A failure (or warning) a waiver covers is `waived`: shown with the reason, and it does not
//! fail the run. An expired waiver covers nothing: the failure fails as before and says "waiver
//! expired on DATE (file:line)". A waiver that covers nothing is worth a warning, naming it.

use std::fmt;
use std::path::{Path, PathBuf};

use rolecall_plugin::Status;
use serde::Deserialize;

use super::Results;
use crate::remote::glob_match;

/// A calendar date (`YYYY-MM-DD`, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// `YYYY-MM-DD`, a real day of the calendar.
    pub fn parse(s: &str) -> Option<Date> {
        let mut parts = s.trim().splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let date = Date {
            year: y.parse().ok()?,
            month: m.parse().ok()?,
            day: d.parse().ok()?,
        };
        let leap = (date.year % 4 == 0 && date.year % 100 != 0) || date.year % 400 == 0;
        let days = match date.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days).contains(&date.day).then_some(date)
    }

    /// Today, in UTC.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Date::from_days(i64::try_from(secs / 86_400).unwrap_or(0))
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One waiver and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// A plugin name, or `plugin/check`.
    pub check: String,
    /// Glob patterns of host names, comma-separated; `None`: every host (and results about no
    /// host).
    pub hosts: Option<String>,
    pub reason: String,
    /// The last day it holds.
    pub expires: Option<Date>,
    pub file: PathBuf,
    pub line: usize,
}

/// A waiver as written (in `waivers:` of a deployment or of a waivers file).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWaiver {
    pub check: String,
    pub hosts: Option<String>,
    pub reason: String,
    pub expires: Option<String>,
}

impl RawWaiver {
    /// The waiver written at `file:line`; `Err` says what is wrong with it.
    pub fn into_waiver(self, file: &Path, line: usize) -> Result<Waiver, String> {
        if self.check.trim().is_empty() {
            return Err("`check` is empty: name a plugin, or `plugin/check`".into());
        }
        if self.reason.trim().is_empty() {
            return Err("`reason` is empty: say why this failure is accepted".into());
        }
        let expires = match &self.expires {
            None => None,
            Some(s) => {
                Some(Date::parse(s).ok_or_else(|| format!("`expires: {s}` is not a date (YYYY-MM-DD)"))?)
            }
        };
        Ok(Waiver {
            check: self.check.trim().to_string(),
            hosts: self.hosts.map(|h| h.trim().to_string()),
            reason: self.reason.trim().to_string(),
            expires,
            file: file.to_path_buf(),
            line,
        })
    }
}

/// A waiver that covered a result: how the result carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waived {
    pub reason: String,
    pub expires: Option<Date>,
    /// `file:line` of the waiver.
    pub at: String,
}

impl Waiver {
    fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    /// Whether this waiver is about `plugin`'s `check` on `host`.
    fn covers(&self, plugin: &str, check: &str, host: Option<&str>) -> bool {
        let named = match self.check.split_once('/') {
            Some((p, c)) => p == plugin && c == check,
            None => self.check == plugin,
        };
        named
            && match (&self.hosts, host) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(patterns), Some(h)) => patterns
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .any(|p| glob_match(p, h)),
            }
    }

    /// One line naming it, for warnings.
    pub fn describe(&self) -> String {
        match &self.hosts {
            Some(h) => format!("waiver for `{}` on `{h}` ({})", self.check, self.at()),
            None => format!("waiver for `{}` ({})", self.check, self.at()),
        }
    }
}

/// Apply `waivers` to the failures and warnings of `results` as of `today`. Returns the
/// waivers that covered nothing (for a warning each).
pub fn apply<'w>(waivers: &'w [Waiver], results: &mut Results, today: Date) -> Vec<&'w Waiver> {
    let mut used = vec![false; waivers.len()];
    for r in &mut results.items {
        if !matches!(r.status, Status::Fail | Status::Warn) {
            continue;
        }
        let Some((i, w)) = waivers
            .iter()
            .enumerate()
            .find(|(_, w)| w.covers(&r.plugin, &r.check, r.host.as_deref()))
        else {
            continue;
        };
        used[i] = true;
        match w.expires {
            Some(day) if day < today => {
                r.message = format!("{} (waiver expired on {day} ({}))", r.message, w.at());
            }
            expires => {
                r.waived = Some(Waived {
                    reason: w.reason.clone(),
                    expires,
                    at: w.at(),
                });
            }
        }
    }
    waivers
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(w, _)| w)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_days(20_790).to_string(), "2026-12-03");
        assert_eq!(Date::from_days(11_016).to_string(), "2000-02-29");
        assert_eq!(Date::parse("2026-02-29"), None);
        assert_eq!(
            Date::parse("2024-02-29").map(|d| d.to_string()).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(Date::parse("2026-13-01"), None);
        assert_eq!(Date::parse("26-1-1"), None);
        assert!(Date::parse("2026-01-02") > Date::parse("2025-12-31"));
    }

    #[test]
    fn what_a_waiver_covers() {
        let w = |check: &str, hosts: Option<&str>| Waiver {
            check: check.into(),
            hosts: hosts.map(Into::into),
            reason: "known".into(),
            expires: None,
            file: "d.yaml".into(),
            line: 3,
        };
        assert!(w("disk", None).covers("disk", "usage", Some("h1")));
        assert!(w("disk/usage", Some("h*")).covers("disk", "usage", Some("h1")));
        assert!(!w("disk/usage", Some("h*")).covers("disk", "inodes", Some("h1")));
        assert!(!w("disk", Some("web*, db1")).covers("disk", "usage", Some("h1")));
        assert!(w("disk", Some("web*, db1")).covers("disk", "usage", Some("db1")));
        assert!(!w("disk", Some("h*")).covers("disk", "usage", None));
        assert!(!w("dis", None).covers("disk", "usage", None));
    }
}
