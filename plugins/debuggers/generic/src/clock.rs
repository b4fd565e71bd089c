//! `clock`: every host's clock against the run's own, NTP-style. Each `date` reading comes with
//! its own round trip (sent, first output back, as the executor measured it for that host
//! alone, so a slow neighbour cannot widen it); a host whose reading cannot decide is read
//! again, up to three times, and the reading with the smallest round trip is kept: skew = host
//! time - midpoint, ± half the round trip. A host passes when the whole error bar is within `plugins.clock.max_skew_seconds`
//! (default 2), fails when the whole bar is outside it, and is a warning (cannot decide) when
//! the bar straddles the limit or the output does not parse.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rolecall_plugin::{CommandResult, Context, Debugger, Result};

use rolecall_plugin_common::common::{not_run, run};

#[derive(Debug, Default)]
pub struct Clock;

pub const DEFAULT_MAX_SKEW: f64 = 2.0;
/// Most readings per host; the one with the smallest round trip counts.
pub const SAMPLES: usize = 3;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// (skew, uncertainty) of a host that answered `remote` between local times `t0` and `t1`.
pub fn skew(remote: f64, t0: f64, t1: f64) -> (f64, f64) {
    (remote - (t0 + t1) / 2.0, (t1 - t0) / 2.0)
}

/// What one error bar says against the limit.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Within,
    Outside,
    Undecided,
}

pub fn verdict(skew: f64, uncertainty: f64, max: f64) -> Verdict {
    if skew.abs() + uncertainty <= max {
        Verdict::Within
    } else if skew.abs() - uncertainty > max {
        Verdict::Outside
    } else {
        Verdict::Undecided
    }
}

/// The host's time in a `date +%s.%N` answer (`%N` is literal where nanoseconds are missing).
fn parse_date(stdout: &str) -> Option<f64> {
    let text = stdout.trim().trim_end_matches(".N").trim_end_matches(".%N");
    text.parse::<f64>().ok().filter(|t| t.is_finite())
}

/// The local window in which the host read its clock: its own round trip when the executor
/// measured one, else the whole fan-out.
fn window(r: &CommandResult, t0: f64, t1: f64) -> (f64, f64) {
    match (r.sent_us, r.answered_us) {
        (Some(s), Some(a)) if a >= s => (s as f64 / 1e6, a as f64 / 1e6),
        _ => (t0, t1),
    }
}

impl Debugger for Clock {
    const NAME: &'static str = "clock";
    const DESCRIPTION: &'static str =
        "clock skew of every host against this run's clock, round trip accounted for";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let max = ctx
            .config()
            .get("max_skew_seconds")
            .and_then(|v| v.as_f64())
            .unwrap_or(DEFAULT_MAX_SKEW);
        let hosts: Vec<String> = ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
        if hosts.is_empty() {
            ctx.skip("clock-skew", "no hosts");
            return Ok(());
        }
        // No warm-up fan-out: a reading's window is its own command's round trip, which starts
        // once the host's session is open, so no reading carries a handshake.
        // Per host: the best (skew, uncertainty) so far, or the first unparsable answer.
        let mut best: HashMap<String, std::result::Result<(f64, f64), String>> = HashMap::new();
        // Hosts whose `date` did not run or failed: reported once, not asked again.
        let mut failed: HashMap<String, CommandResult> = HashMap::new();
        for _ in 0..SAMPLES {
            // Ask again only where the best reading so far cannot decide: on a healthy fleet the
            // first reading settles every host, and a 500-host run costs one fan-out.
            let asked: Vec<String> = hosts
                .iter()
                .filter(|h| !failed.contains_key(*h))
                .filter(|h| match best.get(*h) {
                    Some(Ok((s, u))) => verdict(*s, *u, max) == Verdict::Undecided,
                    Some(Err(_)) => false,
                    None => true,
                })
                .cloned()
                .collect();
            if asked.is_empty() {
                break;
            }
            let t0 = now();
            let results = run(ctx, "date +%s.%N", &asked)?;
            let t1 = now();
            for r in results {
                if !r.success() {
                    // A host re-asked after a usable reading keeps that reading.
                    if !best.contains_key(&r.host) {
                        failed.insert(r.host.clone(), r);
                    }
                    continue;
                }
                let reading = match parse_date(&r.stdout) {
                    Some(remote) => {
                        let (lo, hi) = window(&r, t0, t1);
                        Ok(skew(remote, lo, hi))
                    }
                    None => Err(r.stdout.trim().chars().take(80).collect()),
                };
                let slot = best.entry(r.host.clone()).or_insert_with(|| reading.clone());
                if let (Ok(new), Ok(old)) = (&reading, &*slot) {
                    if new.1 < old.1 {
                        *slot = reading;
                    }
                }
            }
        }
        for r in hosts.iter().filter_map(|h| failed.get(h)) {
            if !not_run(ctx, "clock-skew", r) {
                ctx.error(
                    "clock-skew",
                    format!("`date` exited {}", r.exit_code.unwrap_or(-1)),
                )
                .host(&r.host);
            }
        }
        for host in &hosts {
            let Some(reading) = best.get(host) else { continue };
            match reading {
                Err(text) => {
                    ctx.warn(
                        "clock-skew",
                        format!("cannot decide: unexpected `date` output `{text}`"),
                    )
                    .host(host);
                }
                Ok((s, u)) => {
                    let msg = format!("{s:+.3}s (±{u:.3}s)");
                    match verdict(*s, *u, max) {
                        Verdict::Within => ctx.pass("clock-skew", msg).host(host),
                        Verdict::Outside => ctx
                            .fail("clock-skew", format!("{msg}, more than {max}s off"))
                            .host(host),
                        Verdict::Undecided => ctx
                            .warn(
                                "clock-skew",
                                format!("{msg}: cannot decide against the {max}s limit, the round trip is too long"),
                            )
                            .host(host),
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::{CommandResult, Status};

    #[test]
    fn round_trip_is_accounted_for() {
        assert_eq!(skew(105.0, 100.0, 102.0), (4.0, 1.0));
    }

    /// Regression: during a 60 s stall the check said `PASS -29.79s (±29.83s)` against a 2 s
    /// limit. An error bar wider than the limit decides nothing.
    #[test]
    fn a_bar_wider_than_the_limit_is_undecided() {
        assert_eq!(verdict(-29.79, 29.83, 2.0), Verdict::Undecided);
        assert_eq!(verdict(0.5, 0.1, 2.0), Verdict::Within);
        assert_eq!(verdict(5.0, 0.1, 2.0), Verdict::Outside);
    }

    /// The reading with the smallest round trip of its own host counts, not the fan-out's.
    #[test]
    fn own_round_trip_beats_the_fan_out() {
        let t = now();
        let us = |x: f64| Some((x * 1e6) as u64);
        let r = CommandResult {
            sent_us: us(t - 0.010),
            answered_us: us(t - 0.008),
            ..CommandResult::exited("a", 0, "", "")
        };
        let (lo, hi) = window(&r, t - 30.0, t);
        assert!((hi - lo - 0.002).abs() < 1e-3, "{lo} {hi}");
        let plain = CommandResult::exited("a", 0, "", "");
        assert_eq!(window(&plain, t - 30.0, t), (t - 30.0, t));
    }

    #[test]
    fn unparsable_output_is_a_warning_not_a_failure() {
        let mut kit = Kit::from_yaml("hosts: {a: 127.0.0.2}\n");
        kit.canned("a", "date", CommandResult::exited("a", 0, "Sun Nov 29\n", ""));
        let r = kit.debug(&Clock);
        r.assert_status("clock-skew", Some("a"), Status::Warn);
    }

    #[test]
    fn far_off_clock_fails_close_one_passes() {
        let mut kit = Kit::from_yaml("hosts: {a: 127.0.0.2, b: 127.0.0.3}\n");
        let t = now();
        kit.canned(
            "a",
            "date",
            CommandResult::exited("a", 0, &format!("{:.9}\n", t + 3600.0), ""),
        );
        kit.canned(
            "b",
            "date",
            CommandResult::exited("b", 0, &format!("{:.9}\n", t), ""),
        );
        let r = kit.debug(&Clock);
        r.assert_status("clock-skew", Some("a"), Status::Fail);
        r.assert_status("clock-skew", Some("b"), Status::Pass);
    }
}
