//! `debug --watch SECS`: the same debug run again every SECS seconds, over the sessions the
//! first round opened, printing only what changed since the previous round (the baseline
//! comparison: new and updated failures, what was fixed), or one heartbeat line when nothing
//! did. Ctrl-C (or `--rounds N`) ends it; the caller then writes the last complete round's full
//! report, whose exit code is the run's. A round cut short by Ctrl-C is dropped: its results
//! are partial.

use std::time::{Duration, Instant};

use rolecall::report::Printer;
use rolecall::results::DebugReport;
use rolecall::run::baseline;
use rolecall_plugin::Status;

use super::output::Sink;

/// Sleep `d`, waking every 100 ms to see whether Ctrl-C came: false when it did.
fn sleep_unless_interrupted(d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if rolecall::interrupt::interrupted() {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(100)));
    }
    !rolecall::interrupt::interrupted()
}

/// Rounds after `first`, every `every`, until Ctrl-C or `rounds` rounds in all; the last
/// complete round comes back. `round` runs one; `on_round` gets each complete one (to refresh
/// the output files).
pub fn watch(
    first: DebugReport,
    every: Duration,
    rounds: Option<u32>,
    sinks: &[Sink],
    printer: &Printer,
    mut round: impl FnMut() -> anyhow::Result<DebugReport>,
    mut on_round: impl FnMut(&DebugReport) -> anyhow::Result<()>,
) -> anyhow::Result<DebugReport> {
    // Changes go to stdout, unless a machine-readable output is printed there.
    let to_stdout = !sinks.iter().any(Sink::document_on_stdout);
    let say = |text: String| -> anyhow::Result<()> {
        if to_stdout {
            printer.out(&format!("{text}\n"))?;
        } else {
            printer.note(&text);
        }
        Ok(())
    };
    let started = Instant::now();
    let mut last = first;
    let mut n: u32 = 1;
    while !last.results.interrupted && rounds.is_none_or(|r| n < r) {
        if !sleep_unless_interrupted(every) {
            break;
        }
        let next = round()?;
        if next.results.interrupted {
            break;
        }
        n += 1;
        let b = baseline::compare_results(&next.results, &last.results);
        let lines = baseline::change_lines(&next.results, &b);
        let when = format!("[+{:.1}s]", started.elapsed().as_secs_f64());
        if lines.is_empty() {
            let failing = next
                .results
                .items
                .iter()
                .filter(|r| matches!(r.status, Status::Fail | Status::Error))
                .count();
            let checks = next.results.items.len();
            say(format!(
                "round {n}: no change ({failing} of {checks} checks failing) {when}"
            ))?;
        } else {
            let s = if lines.len() == 1 { "" } else { "s" };
            say(format!("round {n}: {} change{s} {when}", lines.len()))?;
            for l in lines {
                say(format!("  {l}"))?;
            }
        }
        on_round(&next)?;
        last = next;
    }
    Ok(last)
}
