//! Shards: `--shard I/N` takes a stable 1/N of the selected hosts (by a hash of the host name),
//! so N machines (a CI matrix, a Kubernetes Indexed Job) can each work on their part, and
//! `rolecall merge` puts the parts back together as if they were one run.

use std::fmt;

/// Shard `index` of `count` (1-based), as `--shard 2/3` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard: give I/N with 1 <= I <= N (such as 2/3)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// FNV-1a, 64 bits: stable across runs, machines and rolecall versions (unlike std's hasher).
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Shard {
    /// Whether `host` belongs to this shard.
    pub fn keeps(&self, host: &str) -> bool {
        fnv1a(host) % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// `hosts` of this shard, in their order.
    pub fn select(&self, hosts: &[String]) -> Vec<String> {
        hosts.iter().filter(|h| self.keeps(h)).cloned().collect()
    }

    /// As JSON documents record it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"index": self.index, "count": self.count})
    }

    /// From a JSON document's `shard`.
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        let index = u32::try_from(v.get("index")?.as_u64()?).ok()?;
        let count = u32::try_from(v.get("count")?.as_u64()?).ok()?;
        (index >= 1 && index <= count).then_some(Self { index, count })
    }
}

/// What a shard's result records about the run it is part of; `merge` joins only shards that
/// agree on all of it, and checks their hosts against the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRun {
    pub shard: Shard,
    /// `--run-id` (default: `ROLECALL_RUN_ID`, else the CI's run id): the same on every shard
    /// of one run. `None` when none was given.
    pub run_id: Option<String>,
    /// SHA-256 (hex) of the deployment (see [`digest`]).
    pub deployment: String,
    pub roles: Vec<String>,
    pub limit: Vec<String>,
    /// What ran: `debug` with its plugin selection, or the command of `run`.
    pub command: String,
}

/// The run id a shard records when `--run-id` is not given: `ROLECALL_RUN_ID`, else GitHub
/// Actions' `GITHUB_RUN_ID`-`GITHUB_RUN_ATTEMPT`, else GitLab's `CI_PIPELINE_ID`.
pub fn run_id_from_env() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    var("ROLECALL_RUN_ID")
        .or_else(|| {
            let id = var("GITHUB_RUN_ID")?;
            Some(format!(
                "github-{id}-{}",
                var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into())
            ))
        })
        .or_else(|| var("CI_PIPELINE_ID").map(|id| format!("gitlab-{id}")))
}

/// SHA-256 (hex) of the deployment at `path`: of the file's bytes, or for a directory (an
/// Ansible inventory) of every file under it, by relative path in sorted order.
pub fn digest(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    fn feed(
        h: &mut sha2::Sha256,
        root: &std::path::Path,
        dir: &std::path::Path,
        depth: usize,
    ) -> std::io::Result<()> {
        if depth > 16 {
            return Err(std::io::Error::other(format!(
                "`{}` is nested too deep",
                dir.display()
            )));
        }
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p);
            if e.file_type()?.is_dir() {
                feed(h, root, &p, depth + 1)?;
            } else {
                let bytes = std::fs::read(&p)?;
                h.update(rel.as_os_str().as_encoded_bytes());
                h.update([0]);
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
        }
        Ok(())
    }
    let mut h = sha2::Sha256::new();
    if path.is_dir() {
        feed(&mut h, path, path, 0)?;
    } else {
        h.update(std::fs::read(path)?);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl ShardRun {
    /// As JSON documents record it (`shard`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "index": self.shard.index,
            "count": self.shard.count,
            "run_id": self.run_id,
            "deployment_sha256": self.deployment,
            "roles": self.roles,
            "limit": self.limit,
            "command": self.command,
        })
    }

    /// From a JSON document's `shard`; `Err` says what is missing.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let shard = Shard::from_json(v).ok_or("no valid shard index and count")?;
        let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        let list = |k: &str| -> Option<Vec<String>> {
            v.get(k)?
                .as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        };
        let old = "it does not record its run (deployment, selection, command): made by an older \
                   rolecall? run the shards again";
        Ok(Self {
            shard,
            run_id: text("run_id"),
            deployment: text("deployment_sha256").ok_or(old)?,
            roles: list("roles").ok_or(old)?,
            limit: list("limit").ok_or(old)?,
            command: text("command").ok_or(old)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_hosts_stably() {
        let hosts: Vec<String> = (1..=200).map(|i| format!("h{i:03}")).collect();
        let parts: Vec<Vec<String>> = (1..=3)
            .map(|i| Shard { index: i, count: 3 }.select(&hosts))
            .collect();
        let total: usize = parts.iter().map(Vec::len).sum();
        assert_eq!(total, 200);
        for p in &parts {
            assert!(p.len() > 40, "uneven: {}", p.len());
        }
        // Stable: the same host lands in the same shard on any machine.
        assert_eq!(fnv1a("h001"), 0xd78b_56cd_653e_5cda);
        assert!("2/3".parse::<Shard>().is_ok());
        for bad in ["0/3", "4/3", "1/0", "x", "1-3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
