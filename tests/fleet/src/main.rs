//! `rolecall-fleet`: start or stop a loopback fleet of sshd hosts for the demo and benchmarks.
//!
//! ```text
//! rolecall-fleet start DIR --count N      hosts h01..hN on 127.78.x.y; writes DIR/deploy.yaml
//! rolecall-fleet start DIR --roles FILE   the hosts of `rolecall roles --format json` (- = stdin)
//! rolecall-fleet stop DIR
//! ```
//!
//! `start` leaves the sshd processes running and prints the connection flags to use.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool for scripts

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use rolecall_fleet::{free_port, fresh_address, Fleet};

fn usage() -> ExitCode {
    eprintln!("usage: rolecall-fleet start DIR (--count N | --roles FILE|-) | rolecall-fleet stop DIR");
    ExitCode::from(2)
}

fn specs_from_roles_json(text: &str) -> Result<Vec<(String, String, u16)>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("roles JSON: {e}"))?;
    let hosts = v["hosts"].as_object().ok_or("roles JSON has no `hosts` object")?;
    let mut specs = Vec::new();
    for (name, h) in hosts {
        let address = h["address"].as_str().ok_or(format!("{name}: no address"))?;
        let port = h["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or(format!("{name}: no port"))?;
        specs.push((name.clone(), address.to_string(), port));
    }
    Ok(specs)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["stop", dir] => match rolecall_fleet::stop_dir(&PathBuf::from(dir)) {
            Ok(n) => {
                println!("stopped {n} sshd processes");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rolecall-fleet: {e}");
                ExitCode::FAILURE
            }
        },
        ["start", dir, how, what] => {
            let dir = PathBuf::from(dir);
            let (specs, write_yaml) = match *how {
                "--count" => {
                    let Ok(n) = what.parse::<usize>() else {
                        return usage();
                    };
                    let specs = (1..=n)
                        .map(|i| {
                            let address = fresh_address(78);
                            let port = free_port(&address);
                            (format!("h{i:03}"), address, port)
                        })
                        .collect();
                    (specs, true)
                }
                "--roles" => {
                    let mut text = String::new();
                    let read = if *what == "-" {
                        std::io::stdin().read_to_string(&mut text).map(|_| ())
                    } else {
                        std::fs::read_to_string(what).map(|t| text = t)
                    };
                    if let Err(e) = read {
                        eprintln!("rolecall-fleet: {what}: {e}");
                        return ExitCode::FAILURE;
                    }
                    match specs_from_roles_json(&text) {
                        Ok(s) => (s, false),
                        Err(e) => {
                            eprintln!("rolecall-fleet: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                }
                _ => return usage(),
            };
            let _ = rolecall_fleet::stop_dir(&dir);
            let fleet = match Fleet::start_at(&dir, specs) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("rolecall-fleet: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if write_yaml {
                if let Err(e) = std::fs::write(dir.join("deploy.yaml"), fleet.yaml("")) {
                    eprintln!("rolecall-fleet: {e}");
                    return ExitCode::FAILURE;
                }
            }
            println!("{}", fleet.args().join(" "));
            eprintln!(
                "rolecall-fleet: {} sshd hosts up in {}",
                fleet.hosts.len(),
                dir.display()
            );
            match fleet.detach() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rolecall-fleet: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage(),
    }
}
