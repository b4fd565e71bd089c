//! `clock`: every host's clock against the run's own. After a warm-up command (sessions open),
//! the local clock is read before and after one fan-out of `date`; a host's skew is its time minus the midpoint, and it fails only when
//! the skew exceeds `plugins.clock.max_skew_seconds` (default 2) by more than half the round
//! trip, so a slow fan-out never reads as skew.

use std::time::{SystemTime, UNIX_EPOCH};

use rolecall_plugin::{Context, Debugger, Result};

use crate::common::{not_run, run};

#[derive(Debug, Default)]
pub struct Clock;

pub const DEFAULT_MAX_SKEW: f64 = 2.0;

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
        // Open every session first, so the measured round trip is one command, not a handshake.
        run(ctx, "true", &hosts)?;
        let t0 = now();
        let results = run(ctx, "date +%s.%N", &hosts)?;
        let t1 = now();
        for r in results {
            if not_run(ctx, "clock-skew", &r) {
                continue;
            }
            // `%N` is literal on systems without nanoseconds: keep the seconds.
            let text = r.stdout.trim().trim_end_matches(".N").trim_end_matches(".%N");
            let Ok(remote) = text.parse::<f64>() else {
                ctx.fail("clock-skew", format!("unexpected `date` output: {text}"))
                    .host(&r.host);
                continue;
            };
            let (s, u) = skew(remote, t0, t1);
            let msg = format!("{s:+.3}s (±{u:.3}s)");
            if s.abs() - u > max {
                ctx.fail("clock-skew", format!("{msg}, more than {max}s off"))
                    .host(&r.host)
            } else {
                ctx.pass("clock-skew", msg).host(&r.host)
            };
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
