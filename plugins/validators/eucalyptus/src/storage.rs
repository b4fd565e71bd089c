//! `euca-storage`: a cluster whose `storage-backend` is `netapp`, `ceph-rbd` or `threepar` has
//! every system property that backend needs (`<cluster>.storage.<name>` under
//! `system-properties`), each non-empty.

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Result, Validator};

use crate::env::{self, EUCA, TOPOLOGY};

#[derive(Debug, Default)]
pub struct Storage;

const CHECK: &str = "euca-storage";

/// The properties a backend needs, without the `<cluster>.storage.` prefix.
pub fn required(backend: &str) -> Option<&'static [&'static str]> {
    Some(match backend {
        "netapp" => &[
            "chapuser",
            "ncpaths",
            "scpaths",
            "sanhost",
            "sanpassword",
            "sanuser",
            "vservername",
        ],
        "ceph-rbd" => &[
            "cephconfigfile",
            "cephkeyringfile",
            "cephsnapshotpools",
            "cephuser",
            "cephvolumepools",
        ],
        "threepar" => &[
            "chapuser",
            "ncpaths",
            "sanhost",
            "sanuser",
            "sanpassword",
            "scpaths",
            "threeparwsport",
            "threeparusercpg",
            "threeparcopycpg",
        ],
        _ => return None,
    })
}

impl Validator for Storage {
    const NAME: &'static str = "euca-storage";
    const DESCRIPTION: &'static str =
        "netapp, ceph-rbd and threepar clusters have their storage system properties";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let Some(doc) = crate::environment(ctx, CHECK) else {
            return Ok(());
        };
        // Legacy environments set them in `system-properties`, the new schema in
        // `cloud-properties`; either holds them.
        let euca = env::eucalyptus(&doc).cloned().unwrap_or(Value::Null);
        let (props_key, props) = ["cloud-properties", "system-properties"]
            .into_iter()
            .find_map(|k| euca.get(k).filter(|v| v.is_object()).map(|v| (k, v.clone())))
            .unwrap_or(("system-properties", Value::Null));
        let other = if props_key == "cloud-properties" {
            "system-properties"
        } else {
            "cloud-properties"
        };
        let also = euca.get(other).cloned().unwrap_or(Value::Null);
        let clusters = env::topology(&doc).map(env::clusters).unwrap_or_default();
        let mut checked = 0;
        for c in clusters {
            let Some(backend) = c.backend.as_deref() else {
                continue;
            };
            let Some(needed) = required(backend) else {
                ctx.pass(
                    CHECK,
                    format!("cluster `{}`: `{backend}` needs no system properties", c.name),
                )
                .path(format!("{TOPOLOGY}.clusters.{}.storage-backend", c.name));
                continue;
            };
            checked += 1;
            let mut missing = Vec::new();
            for p in needed {
                let key = format!("{}.storage.{p}", c.name);
                let set = |v: &Value| match v {
                    Value::String(s) => !s.trim().is_empty(),
                    Value::Null => false,
                    _ => true,
                };
                let present = props.get(&key).is_some_and(set) || also.get(&key).is_some_and(set);
                if !present {
                    missing.push(key);
                }
            }
            if missing.is_empty() {
                ctx.pass(
                    CHECK,
                    format!("cluster `{}`: every {backend} property is set", c.name),
                )
                .path(format!("{EUCA}.{props_key}"));
            } else {
                ctx.fail(
                    CHECK,
                    format!(
                        "cluster `{}` uses {backend} but lacks {}",
                        c.name,
                        missing.join(", ")
                    ),
                )
                .path(format!("{TOPOLOGY}.clusters.{}.storage-backend", c.name));
            }
        }
        if checked == 0 {
            ctx.skip(CHECK, "no cluster uses netapp, ceph-rbd or threepar");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::Status;

    #[test]
    fn missing_and_complete_backends() {
        let yaml = "default_attributes:\n  eucalyptus:\n    topology:\n      clusters:\n        \
                    one: {storage-backend: ceph-rbd}\n        two: {storage-backend: das}\n        three: {storage-backend: threepar}\n    \
                    system-properties:\n      one.storage.cephconfigfile: /etc/ceph/ceph.conf\n      one.storage.cephuser: ''\n";
        let r = Kit::from_yaml(yaml).validate(&Storage);
        let f = r.find(CHECK, None);
        assert!(f.iter().any(|f| f.status == Status::Fail
            && f.message == "cluster `one` uses ceph-rbd but lacks one.storage.cephkeyringfile, one.storage.cephsnapshotpools, one.storage.cephuser, one.storage.cephvolumepools"), "{f:#?}");
        assert!(f
            .iter()
            .any(|f| f.status == Status::Pass && f.message.contains("`das` needs no")));
        assert!(f
            .iter()
            .any(|f| f.status == Status::Fail && f.message.starts_with("cluster `three` uses threepar")));
    }

    #[test]
    fn new_schema_cloud_properties_count() {
        let yaml = "default_attributes:\n  eucalyptus:\n    topology:\n      clc: [10.0.0.1]\n      clusters:\n        one:\n          \
            cc: [10.0.0.2]\n          sc: [10.0.0.2]\n          nodes: [10.0.0.3]\n          storage-backend: ceph-rbd\n    \
            cloud-properties:\n      one.storage.cephconfigfile: /etc/ceph/ceph.conf\n      one.storage.cephuser: eucalyptus\n      \
            one.storage.cephkeyringfile: /etc/ceph/k\n      one.storage.cephsnapshotpools: rbd\n      one.storage.cephvolumepools: rbd\n";
        let r = Kit::from_yaml(yaml).validate(&Storage);
        let f = r.find(CHECK, None);
        assert!(f.iter().all(|f| f.status != Status::Fail), "{f:#?}");
        assert!(
            f.iter().any(|f| f.status == Status::Pass
                && f.path.as_deref() == Some("default_attributes.eucalyptus.cloud-properties")),
            "{f:#?}"
        );
    }
}
