//! The simulated DCS listing's rows: every field of the definition's `InstanceListInfo` (41),
//! synthesized from the instance's id so that a row reads the same in every answer, and the
//! listing's filters that match on those fields (`tags`, `ip`).

use serde_json::{json, Value};

use crate::sim::fleet::{hash_str, mix};

/// What a row is made from: the instance's own facts; the rest follows from its id.
pub(crate) struct RowFacts<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// `Redis` or `Memcached`.
    pub engine: &'static str,
    pub engine_version: &'a str,
    pub status: &'a str,
}

/// `(key, value)` tags of instance `id`: an environment and a team for every instance.
pub(crate) fn tags(id: &str) -> [(&'static str, &'static str); 2] {
    const ENVS: [&str; 3] = ["prod", "staging", "test"];
    const TEAMS: [&str; 4] = ["orders", "search", "payments", "platform"];
    let h = hash_str(id);
    [
        ("env", ENVS[(h % 3) as usize]),
        ("team", TEAMS[((h >> 8) % 4) as usize]),
    ]
}

/// The connection addresses of instance `id` (one; a cluster's would be comma-separated).
pub(crate) fn ip(id: &str) -> String {
    let h = hash_str(id);
    format!("192.168.{}.{}", (h >> 16) % 8, 2 + (h >> 24) % 250)
}

/// Whether instance `id` carries every `key=value` (or bare `key`) of `filter`, comma-separated.
pub(crate) fn has_tags(id: &str, filter: &str) -> bool {
    let own = tags(id);
    filter
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .all(|pair| match pair.split_once('=') {
            Some((k, v)) => own
                .iter()
                .any(|(ok, ov)| *ok == k.trim() && *ov == v.trim()),
            None => own.iter().any(|(ok, _)| *ok == pair),
        })
}

/// Whether one of instance `id`'s addresses is `wanted`.
pub(crate) fn has_ip(id: &str, wanted: &str) -> bool {
    ip(id).split(',').any(|a| a.trim() == wanted.trim())
}

/// The listing row. Fields the cloud sends as `null` (`order_id` of a pay-per-use instance,
/// the public address of one without public access) are left out instead, as the definition
/// types them strings.
pub(crate) fn row(f: &RowFacts<'_>) -> Value {
    let h = hash_str(f.id);
    let m = mix(h);
    let memcached = f.engine == "Memcached";
    let capacity: u64 = [1, 2, 4, 8, 16][(h % 5) as usize];
    let max_memory = capacity * 1024 * 4 / 5;
    let prepaid = m % 3 == 0;
    let public = !memcached && m % 4 == 1;
    let az = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"];
    let mut row = json!({
        "instance_id": f.id,
        "name": f.name,
        "engine": f.engine,
        "engine_version": f.engine_version,
        "status": f.status,
        "sub_status": "normal",
        "capacity": capacity,
        "capacity_minor": "",
        "max_memory": max_memory,
        "used_memory": (m >> 8) % max_memory.max(1),
        "ip": ip(f.id),
        "port": if memcached { 11211 } else { 6379 },
        "domain_name": format!("redis-{}.dcs.huaweicloud.com", &f.id[..8.min(f.id.len())]),
        "readonly_domain_name": format!("redis-{}-readonly.dcs.huaweicloud.com", &f.id[..8.min(f.id.len())]),
        "spec_code": if memcached { "dcs.memcached.master_standby" } else { "redis.ha.xu1.large.r2.4" },
        "charging_mode": u8::from(prepaid),
    });
    let more = json!({
        "created_at": "2025-10-01T12:24:46.297Z",
        "updated_at": "2025-11-02T09:30:00.000Z",
        "description": "",
        "no_password_access": "false",
        "access_user": "default",
        "user_id": "5c3a4a7f91d64f2ca4bd4b3c8e3f9a10",
        "user_name": "ops-admin",
        "vpc_id": "7b3a1c2e-4d5f-4a6b-8c9d-0e1f2a3b4c5d",
        "vpc_name": "vpc-cache",
        "subnet_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5e",
        "security_group_id": "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f",
        "enterprise_project_id": "0",
        "az_codes": [az[(m % 3) as usize]],
        "tags": tags(f.id).iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
        "cpu_type": if m % 5 == 0 { "aarch64" } else { "x86_64" },
        "enable_ssl": false,
        "enable_publicip": public,
        "maintain_begin": "18:00:00",
        "maintain_end": "19:00:00",
        "service_upgrade": false,
        "service_task_id": "",
        "features": {
            "support_acl": !memcached,
            "support_transparent_client_ip": !memcached,
            "support_ssl": !memcached,
            "support_audit_log": false,
        },
    });
    if let (Some(row), Value::Object(more)) = (row.as_object_mut(), more) {
        row.extend(more);
    }
    if prepaid {
        row["order_id"] = json!(format!("CS{:016X}", m));
    }
    if public {
        row["publicip_id"] = json!(format!(
            "{:08x}-0000-4000-8000-{:012x}",
            h >> 32,
            m & 0xffff_ffff_ffff
        ));
        row["publicip_address"] = json!(format!(
            "100.85.{}.{}",
            (h >> 40) % 250,
            2 + (m >> 40) % 250
        ));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_filters() {
        let id = "7687a66e-9cfb-45f9-9118-2fa7237751aa";
        let [(k1, v1), (k2, v2)] = tags(id);
        assert!(has_tags(id, &format!("{k1}={v1}")));
        assert!(has_tags(id, &format!("{k1}={v1},{k2}={v2}")));
        assert!(has_tags(id, k2));
        assert!(!has_tags(id, &format!("{k1}=nope")));
        assert!(!has_tags(id, "owner"));
        assert!(has_ip(id, &ip(id)));
        assert!(!has_ip(id, "10.0.0.1"));
    }
}
