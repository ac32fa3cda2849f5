//! KooPhone cloud phones: the status of every phone, the phones isolated by batch errors, the
//! discovered inventory, and command probes. Per phone: the shards split the phones.
//!
//! - [`config`]: the `koophone:` section, status names, the phone-id rules.
//! - [`modules`]: the top-level `probes:` section.
//! - [`api`]: the calls and models (batch status, async command, tasks, the phone listing).
//! - [`status`]: the `koophone` collector and the inventory's families, pure mappings.
//! - [`isolate`]: splitting a batch that fails for some of its ids, and remembering them.
//! - [`phones`]: the listed phones and their file.
//! - [`probe`]: `/probe` runs, sharing, caching and budgets, and `debug=true`.

pub mod api;
pub mod config;
pub mod isolate;
pub mod modules;
pub mod phones;
pub mod probe;
pub mod runtime;
pub mod sim;
pub mod status;

use std::any::Any;
use std::sync::{Arc, Mutex};

use futures::FutureExt;

use crate::config::{section, AuthConfig, Config, Identity, Schema, Section, SectionInput};
use crate::inventory::Inventory as Discovered;
use crate::metrics::Family;
use crate::services::fleet::Fleet;
use crate::services::prober::{ModuleInfo, ProbeAnswer, ProbeRequest, Prober, Probing};
use crate::services::service::{Build, Runtime, Service};
use crate::transport::Operation;

use config::KoophoneConfig;
use phones::PhoneList;

pub use config::COLLECTOR;
pub use config::KEY;
pub use runtime::KoophoneRuntime;

/// The KooPhone service.
pub struct Koophone;

/// Who KooPhone is: one global host, phones split across the shards.
static IDENTITY: Identity = Identity::new(KEY, "KooPhone", "`koophone:`", |_| {
    "https://koophone.myhuaweicloud.com".to_string()
})
.per_resource()
.owning("probes");

impl Schema for Koophone {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn cloud_section(&self, input: SectionInput<'_, '_>) -> Option<Arc<dyn Section>> {
        let parsed = config::decode(input.value, input.at, input.v)?;
        if let Some(AuthConfig::Aksk { .. }) = input.auth {
            input.v.fail(input.at, "KooPhone accepts only IAM tokens; give this cloud `password` or `token` auth, or move the phones to a cloud that has it");
        }
        Some(section(parsed))
    }

    fn top_section(&self, input: SectionInput<'_, '_>) -> Option<Arc<dyn Section>> {
        modules::decode(input.value, input.clouds, input.timeout, input.v).map(section)
    }
}

impl Service for Koophone {
    fn operations(&self) -> &'static [&'static Operation] {
        static OPERATIONS: [&Operation; 4] = [
            &api::BATCH_STATUS,
            &api::LIST,
            &api::TASK,
            &api::ASYNC_COMMAND,
        ];
        &OPERATIONS
    }

    fn families(&self) -> &'static [&'static Family] {
        use probe::families::*;
        use status::*;
        static FAMILIES: [&Family; 16] = [
            &INSTANCE_STATUS,
            &INSTANCES,
            &REQUESTED,
            &REPORTED,
            &INSTANCE_INFO,
            &RUNNING_STATUS,
            &FROZEN,
            &BY_RUNNING_STATUS,
            &isolate::ISOLATED,
            &PROBE_SUCCESS,
            &PROBE_DURATION,
            &CACHED,
            &RESULT_AGE,
            &JOB_SUCCESS,
            &OUTPUT_MATCHED,
            &JOB_ERROR_INFO,
        ];
        &FAMILIES
    }

    fn build(&self, cx: &Build<'_>) -> Result<Box<dyn Runtime>, String> {
        let name = &cx.cloud.name;
        let cfg: KoophoneConfig = cx.section(KEY)?;
        let shard = cx.config.shard;
        let before = cx.before.as_ref().and_then(|b| {
            Some((
                b,
                b.runtime::<KoophoneRuntime>()?,
                b.cloud.sections.get::<KoophoneConfig>(KEY)?,
            ))
        });
        // A listed phone list depends on its ids, its file and the shard alone.
        let kept_phones = before
            .filter(|(b, _, old)| {
                b.config.shard == shard
                    && old.instance_ids == cfg.instance_ids
                    && old.instance_ids_file == cfg.instance_ids_file
            })
            .and_then(|(_, r, _)| r.phones.clone());
        // What was read with the client's credentials goes with it: the discovered inventory
        // (with unchanged filters) and the isolated phones.
        let with_client = before.filter(|(b, _, _)| b.client_kept);
        let kept_discovery = with_client
            .filter(|(_, _, old)| old.discovery == cfg.discovery)
            .and_then(|(_, r, _)| r.discovery.clone());
        let discovery = cfg.discovery.as_ref().map(|d| {
            kept_discovery.unwrap_or_else(|| {
                Discovered::new(
                    name,
                    api::DISCOVERY,
                    d.refresh_interval,
                    status::lister(cx.client.clone(), d),
                )
            })
        });
        let phones = match (&discovery, kept_phones) {
            (Some(_), _) => None,
            (None, Some(kept)) => Some(kept),
            (None, None) => {
                Some(Arc::new(PhoneList::new(&cfg, shard).map_err(|e| {
                    format!("cloud {name}: koophone.instance_ids_file: {e}")
                })?))
            }
        };
        let isolated = with_client
            .map(|(_, r, _)| r.isolated.clone())
            .unwrap_or_default();
        Ok(Box::new(KoophoneRuntime {
            cloud: name.clone(),
            cfg,
            client: cx.client.clone(),
            shard,
            phones,
            discovery,
            derived: Mutex::new(None),
            isolated,
        }))
    }

    fn shared(
        &self,
        _config: &Config,
        previous: Option<&(dyn Any + Send + Sync)>,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let probes = match previous.and_then(|p| p.downcast_ref::<probe::state::ProbeState>()) {
            Some(p) => probe::ProbeRuns::after_reload(&p.probes),
            None => Default::default(),
        };
        Some(Arc::new(probe::state::ProbeState {
            probes,
            debug: Default::default(),
        }))
    }
}

impl Prober for Koophone {
    fn probe<'a>(&'a self, fleet: &'a Fleet, request: ProbeRequest<'a>) -> Probing<'a> {
        let ProbeRequest {
            params,
            timeout_header,
            debug,
        } = request;
        async move {
            let state = probe::state::of(fleet)?;
            if debug {
                probe::debug::serve(fleet, &state.debug, &state.probes, params, timeout_header)
                    .await
                    .map(ProbeAnswer::Debug)
            } else {
                probe::serve(fleet, &state.probes, params, timeout_header)
                    .await
                    .map(ProbeAnswer::Exposition)
            }
        }
        .boxed()
    }

    fn modules(&self, config: &Config) -> Vec<ModuleInfo> {
        modules::modules_of(config)
            .0
            .iter()
            .map(|(name, m)| ModuleInfo {
                name: name.clone(),
                cloud: m.cloud.clone(),
                command: m.command.clone(),
                expect: m
                    .expect
                    .as_ref()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                groups: m.groups.keys().cloned().collect(),
            })
            .collect()
    }
}
