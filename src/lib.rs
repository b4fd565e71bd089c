//! rolecall: validate fleet deployment configs before they are deployed, and debug running
//! clusters over SSH.
//!
//! The library holds everything but argument parsing: the deployment model and role builder
//! ([`deployment`]), connection settings ([`remote`]), output ([`report`]) and exit codes
//! ([`exit`]). The `rolecall` binary is a thin layer of clap definitions over it.
//!
//! ```
//! let yaml = "hosts:\n  web[01:02]:\n    address: 127.0.0.[2:3]\nroles:\n  web:\n    - web[01:02]\n";
//! let deployment = rolecall::deployment::load_str("deploy.yaml", yaml, None)?;
//! assert_eq!(deployment.role_hosts("web").unwrap(), ["web01", "web02"]);
//! # Ok::<(), rolecall::deployment::LoadError>(())
//! ```

mod child;
pub mod deployment;
pub mod exit;
pub mod interrupt;
pub mod plugin;
pub mod progress;
pub mod remote;
pub mod report;
pub mod results;
pub mod run;
pub mod text;
