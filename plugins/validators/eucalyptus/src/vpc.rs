//! `euca-vpc`: in `VPCMIDO` mode, the Midonet configuration is complete.
//!
//! - Legacy schema: `config-json.Mido` present; each gateway (`GatewayHost`/`GatewayIP`/
//!   `GatewayInterface`, or a `Gateways` list) has a host, an IP and an interface; the mapping is
//!   `midokura.midolman-host-mapping`.
//! - New schema (Calyptos HEAD): `eucalyptus.midonet` present; each of its `gateways` has an
//!   address (the entry itself, or its `Ip`); the mapping is `eucalyptus.midonet.midolman-host-mapping`.
//!
//! Either way every CLC and NC appears in the mapping, and every mapped address is a CLC, an NC
//! or a gateway.

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Result, Validator};

use crate::env;

#[derive(Debug, Default)]
pub struct Vpc;

const CHECK: &str = "euca-vpc";
const NETWORK: &str = "default_attributes.eucalyptus.network";
const MIDO: &str = "default_attributes.eucalyptus.network.config-json.Mido";
const MAPPING: &str = "default_attributes.midokura.midolman-host-mapping";

impl Validator for Vpc {
    const NAME: &'static str = "euca-vpc";
    const DESCRIPTION: &'static str =
        "VPCMIDO: Midonet gateways and the midolman host mapping cover the CLC and NCs";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let Some(doc) = crate::environment(ctx, CHECK) else {
            return Ok(());
        };
        let euca = env::eucalyptus(&doc).cloned().unwrap_or(Value::Null);
        let mode = euca
            .get("network")
            .and_then(|n| n.get("mode"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if mode != "VPCMIDO" {
            ctx.skip(
                CHECK,
                format!(
                    "network mode is {}, not VPCMIDO",
                    if mode.is_empty() { "unset" } else { mode }
                ),
            )
            .path(format!("{NETWORK}.mode"));
            return Ok(());
        }
        if let Some(midonet) = euca.get("midonet") {
            new_schema(ctx, &doc, midonet);
            return Ok(());
        }
        let Some(mido) = euca
            .get("network")
            .and_then(|n| n.get("config-json"))
            .and_then(|c| c.get("Mido"))
        else {
            ctx.fail(CHECK, "VPCMIDO needs `network.config-json.Mido`")
                .path(NETWORK);
            return Ok(());
        };
        let mut gateway_hosts: Vec<String> = Vec::new();
        let gateways: Vec<(String, &Value)> = match mido.get("Gateways").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("{MIDO}.Gateways[{i}]"), g))
                .collect(),
            None => vec![(MIDO.to_string(), mido)],
        };
        for (path, g) in gateways {
            let mut complete = true;
            for key in ["GatewayHost", "GatewayIP", "GatewayInterface"] {
                if g.get(key)
                    .and_then(Value::as_str)
                    .is_none_or(|s| s.trim().is_empty())
                {
                    complete = false;
                    ctx.fail(CHECK, format!("gateway lacks `{key}`"))
                        .path(format!("{path}.{key}"));
                }
            }
            if let Some(h) = g.get("GatewayHost").and_then(Value::as_str) {
                gateway_hosts.push(h.to_string());
                if complete {
                    ctx.pass(CHECK, format!("gateway {h} has a host, an IP and an interface"))
                        .path(&path);
                }
            }
        }
        let Some(mapping) = doc
            .get("default_attributes")
            .and_then(|d| d.get("midokura"))
            .and_then(|m| m.get("midolman-host-mapping"))
            .and_then(Value::as_object)
        else {
            ctx.fail(
                CHECK,
                "VPCMIDO needs `midokura.midolman-host-mapping` (hostname: address)",
            )
            .path("default_attributes.midokura");
            return Ok(());
        };
        coverage(ctx, &doc, mapping, MAPPING, &gateway_hosts, &[]);
        Ok(())
    }
}

/// The new schema's `eucalyptus.midonet`: gateways with addresses, and the host mapping.
fn new_schema(ctx: &mut Context<'_>, doc: &Value, midonet: &Value) {
    const MIDONET: &str = "default_attributes.eucalyptus.midonet";
    let mut gateway_ips = Vec::new();
    match midonet.get("gateways").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            for (i, g) in list.iter().enumerate() {
                let ip = match g {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(m) => ["Ip", "IP", "ip"]
                        .iter()
                        .find_map(|k| m.get(*k).and_then(Value::as_str).map(str::to_string)),
                    _ => None,
                };
                match ip.filter(|s| !s.trim().is_empty()) {
                    Some(ip) => {
                        ctx.pass(CHECK, format!("gateway {ip} has an address"))
                            .path(format!("{MIDONET}.gateways[{i}]"));
                        gateway_ips.push(ip);
                    }
                    None => {
                        ctx.fail(CHECK, "gateway without an address (`Ip`)")
                            .path(format!("{MIDONET}.gateways[{i}]"));
                    }
                }
            }
        }
        _ => {
            ctx.fail(
                CHECK,
                "VPCMIDO needs at least one gateway in `eucalyptus.midonet.gateways`",
            )
            .path(MIDONET);
        }
    }
    let path = format!("{MIDONET}.midolman-host-mapping");
    let Some(mapping) = midonet.get("midolman-host-mapping").and_then(Value::as_object) else {
        ctx.fail(
            CHECK,
            "VPCMIDO needs `eucalyptus.midonet.midolman-host-mapping` (hostname: address)",
        )
        .path(MIDONET);
        return;
    };
    coverage(ctx, doc, mapping, &path, &[], &gateway_ips);
}

/// Every CLC and NC is in `mapping`, and every mapped host is a CLC, an NC or a gateway (by
/// host name, or by address).
fn coverage(
    ctx: &mut Context<'_>,
    doc: &Value,
    mapping: &rolecall_plugin::serde_json::Map<String, Value>,
    mapping_path: &str,
    gateway_hosts: &[String],
    gateway_ips: &[String],
) {
    {
        let topology = env::topology(doc).cloned().unwrap_or(Value::Null);
        let clc = env::clc(&topology);
        let ncs: Vec<String> = env::clusters(&topology)
            .into_iter()
            .flat_map(|c| c.nodes)
            .collect();
        let mapped: Vec<String> = mapping
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        for (name, ip) in mapping {
            let ip = ip.as_str().unwrap_or_default();
            let known = clc.iter().any(|c| c == ip)
                || ncs.iter().any(|n| n == ip)
                || gateway_hosts.contains(name)
                || gateway_ips.iter().any(|g| g == ip);
            if !known {
                ctx.fail(
                    CHECK,
                    format!("{name} ({ip}) is mapped but is not a CLC, an NC or a gateway"),
                )
                .path(format!("{mapping_path}.{name}"));
            }
        }
        for (what, hosts) in [("CLC", &clc), ("NC", &ncs)] {
            for h in hosts {
                if mapped.contains(h) {
                    ctx.pass(CHECK, format!("{what} {h} is in the midolman host mapping"))
                        .host(h);
                } else {
                    ctx.fail(
                        CHECK,
                        format!("{what} {h} is missing from the midolman host mapping"),
                    )
                    .host(h)
                    .path(mapping_path);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::Status;

    const BASE: &str = "default_attributes:\n  eucalyptus:\n    network:\n      mode: VPCMIDO\n      config-json:\n        Mido:\n          \
        GatewayHost: gw.example\n          GatewayIP: 10.0.0.9\n          GatewayInterface: em1\n    topology:\n      clc-1: 10.0.0.1\n      \
        clusters:\n        one: {cc-1: 10.0.0.2, sc-1: 10.0.0.2, nodes: 10.0.0.3 10.0.0.4}\n  midokura:\n    midolman-host-mapping:\n      \
        clc.example: 10.0.0.1\n      nc3.example: 10.0.0.3\n      gw.example: 10.0.0.50\n      stray.example: 10.0.0.77\n";

    #[test]
    fn mapping_covers_clc_and_ncs_only() {
        let r = Kit::from_yaml(BASE).validate(&Vpc);
        let f = r.find(CHECK, None);
        assert!(
            f.iter().any(|f| f.status == Status::Fail
                && f.message == "NC 10.0.0.4 is missing from the midolman host mapping"),
            "{f:#?}"
        );
        assert!(f.iter().any(|f| f.status == Status::Fail
            && f.message == "stray.example (10.0.0.77) is mapped but is not a CLC, an NC or a gateway"));
        assert!(f.iter().any(|f| f.status == Status::Pass
            && f.message == "gateway gw.example has a host, an IP and an interface"));
        assert_eq!(r.count(Status::Fail), 2);
    }

    #[test]
    fn gateway_list_and_other_modes() {
        let yaml = BASE.replace(
            "Mido:\n          GatewayHost: gw.example\n          GatewayIP: 10.0.0.9\n          GatewayInterface: em1\n",
            "Mido:\n          Gateways:\n          - {GatewayHost: gw.example, GatewayIP: 10.0.0.9}\n",
        );
        let r = Kit::from_yaml(&yaml).validate(&Vpc);
        let f = r.find(CHECK, None);
        let lacks = f
            .iter()
            .find(|f| f.message == "gateway lacks `GatewayInterface`")
            .expect("finding");
        assert_eq!(
            lacks.path.as_deref(),
            Some("default_attributes.eucalyptus.network.config-json.Mido.Gateways[0].GatewayInterface")
        );
        let edge = BASE.replace("mode: VPCMIDO", "mode: EDGE");
        Kit::from_yaml(&edge)
            .validate(&Vpc)
            .assert_status(CHECK, None, Status::Skip);
    }

    #[test]
    fn new_schema_reads_eucalyptus_midonet() {
        let yaml = "default_attributes:\n  eucalyptus:\n    network:\n      mode: VPCMIDO\n    topology:\n      clc: [10.0.0.1]\n      \
            clusters:\n        one: {cc: [10.0.0.2], sc: [10.0.0.2], nodes: [10.0.0.3, 10.0.0.4]}\n    midonet:\n      \
            gateways: [10.0.0.9, {Ip: 10.0.0.10}, {ExternalCidr: 1.2.3.0/24}]\n      midolman-host-mapping:\n        \
            clc.example: 10.0.0.1\n        nc3.example: 10.0.0.3\n        gw.example: 10.0.0.9\n        stray.example: 10.0.0.77\n";
        let r = Kit::from_yaml(yaml).validate(&Vpc);
        let f = r.find(CHECK, None);
        let msgs: Vec<(Status, &str)> = f.iter().map(|f| (f.status, f.message.as_str())).collect();
        assert!(
            msgs.contains(&(Status::Pass, "gateway 10.0.0.9 has an address")),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&(Status::Pass, "gateway 10.0.0.10 has an address")),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&(Status::Fail, "gateway without an address (`Ip`)")),
            "{msgs:?}"
        );
        assert!(msgs.contains(&(
            Status::Fail,
            "NC 10.0.0.4 is missing from the midolman host mapping"
        )));
        assert!(msgs.contains(&(
            Status::Fail,
            "stray.example (10.0.0.77) is mapped but is not a CLC, an NC or a gateway"
        )));
        assert!(!msgs.iter().any(|(_, m)| m.contains("config-json")), "{msgs:?}");
        assert_eq!(r.count(Status::Fail), 3);
    }
}
