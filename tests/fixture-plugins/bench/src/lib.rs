//! Benchmark fixture: four debuggers, each sending three cheap commands to every host one after
//! the other, so `scripts/bench` can compare a debug run with a single fan-out.

use rolecall_plugin::{export_plugins, Context, Debugger, Result};

fn three(ctx: &mut Context<'_>, tag: &str) -> Result {
    let hosts: Vec<String> = ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    for cmd in ["true", "uname -r", "cat /proc/loadavg"] {
        for r in ctx.run(cmd, &names)? {
            if r.success() {
                ctx.pass(tag, cmd).host(&r.host);
            } else {
                ctx.fail(tag, format!("{cmd}: {}", r.outcome)).host(&r.host);
            }
        }
    }
    Ok(())
}

macro_rules! bench_debugger {
    ($ty:ident, $name:literal) => {
        #[derive(Debug, Default)]
        pub struct $ty;

        impl Debugger for $ty {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = "three cheap commands on every host";

            fn debug(&self, ctx: &mut Context<'_>) -> Result {
                three(ctx, $name)
            }
        }
    };
}

bench_debugger!(A, "bench-a");
bench_debugger!(B, "bench-b");
bench_debugger!(C, "bench-c");
bench_debugger!(D, "bench-d");

export_plugins! {
    module: "fixture-bench",
    version: "0.0.1",
    validators: [],
    debuggers: [A, B, C, D],
}
