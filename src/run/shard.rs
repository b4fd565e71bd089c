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
