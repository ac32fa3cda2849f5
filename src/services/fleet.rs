//! The fleet one config describes: every cloud with its client and the runtime of each of its
//! services, and the services' shared state. Built from a config and the registry's list; on a
//! reload, what did not change is carried over rather than rebuilt. Names no service.

use std::any::Any;
use std::sync::Arc;

use crate::config::{CloudConfig, Config, Sections};
use crate::metrics::SelfMetrics;
use crate::status::{InventorySummary, Status};
use crate::transport::CloudClient;

use super::service::{Before, Build, Runtime, Service};

/// A cloud and the runtimes of its services.
pub struct Cloud {
    /// Its config.
    pub cfg: CloudConfig,
    /// Its API client (connection pool, limiter, auth, budgets).
    pub client: Arc<CloudClient>,
    /// Each configured service's runtime, by service key, in the registry's order.
    runtimes: Vec<(&'static str, Box<dyn Runtime>)>,
}

impl Cloud {
    /// Service `key`'s runtime, when it is configured (and is a `T`).
    pub fn runtime<T: Runtime>(&self, key: &str) -> Option<&T> {
        self.runtime_of(key).and_then(|r| r.as_any().downcast_ref())
    }

    /// Service `key`'s runtime, whatever its type.
    pub fn runtime_of(&self, key: &str) -> Option<&dyn Runtime> {
        self.runtimes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r.as_ref())
    }

    /// Every runtime, in the registry's order.
    pub fn runtimes(&self) -> impl Iterator<Item = &dyn Runtime> {
        self.runtimes.iter().map(|(_, r)| r.as_ref())
    }

    /// What the landing page says of this cloud's inventories, by collector.
    pub fn inventories(&self) -> Vec<(&'static str, InventorySummary)> {
        self.runtimes().flat_map(|r| r.inventories()).collect()
    }
}

/// Everything the services need, built from one config.
pub struct Fleet {
    /// The config this fleet was built from.
    pub config: Config,
    /// Long-lived self metrics.
    pub metrics: SelfMetrics,
    /// Every configured cloud.
    pub clouds: Vec<Cloud>,
    /// What the landing page shows; carried over reloads.
    pub status: Arc<Status>,
    /// Each service's shared state, by service key.
    shared: Vec<(&'static str, Arc<dyn Any + Send + Sync>)>,
}

impl Fleet {
    /// Builds clients and every service's runtime (a bad `instance_ids_file` is an error here).
    ///
    /// On a reload, `previous` is the fleet serving until now, and what did not change is
    /// carried over: a cloud's client — its token cache, connection pool, in-flight limiter and
    /// upstream budgets — when everything it is built from is the same (see
    /// [`client_unchanged`]); each service decides what of its runtime it keeps ([`Before`]);
    /// the landing page's status, for the clouds still configured.
    pub fn new(
        config: Config,
        metrics: SelfMetrics,
        previous: Option<&Fleet>,
        services: &[&dyn Service],
    ) -> Result<Fleet, String> {
        let mut clouds = Vec::new();
        for cfg in &config.clouds {
            let before = previous.and_then(|p| Some((p.cloud(&cfg.name)?, &p.config)));
            let kept = before.filter(|(c, old)| client_unchanged(&c.cfg, old, cfg, &config));
            let client = match kept {
                Some((c, _)) => c.client.clone(),
                None => Arc::new(
                    CloudClient::new(cfg, config.max_concurrency, metrics.clone()).map_err(
                        |e| format!("cloud {}: cannot build the HTTP client: {e}", cfg.name),
                    )?,
                ),
            };
            if kept.is_some() {
                tracing::debug!(cloud = %cfg.name, "reload: auth and endpoints unchanged; keeping the client, its token and caches");
            }
            let mut runtimes = Vec::new();
            for service in services {
                let id = service.identity();
                let key = id.key;
                // The shard rule: account-wide state is collected by shard 0 alone.
                if cfg.sections.raw(key).is_none() || (id.account_wide && config.shard.index != 0) {
                    continue;
                }
                let cx = Build {
                    cloud: cfg,
                    config: &config,
                    client: &client,
                    metrics: &metrics,
                    before: before.and_then(|(c, old)| {
                        Some(Before {
                            runtime: c.runtime_of(key)?,
                            cloud: &c.cfg,
                            config: old,
                            client_kept: kept.is_some(),
                        })
                    }),
                };
                runtimes.push((key, service.build(&cx)?));
            }
            clouds.push(Cloud {
                cfg: cfg.clone(),
                client,
                runtimes,
            });
        }
        let shared = services
            .iter()
            .filter_map(|s| {
                let key = s.identity().key;
                let before = previous.and_then(|p| p.shared_of(key));
                Some((key, s.shared(&config, before)?))
            })
            .collect();
        let status = match previous {
            Some(p) => {
                // The landing page keeps what it knew of the collectors still configured (a
                // discovery replaced by listed ids leaves no stale row).
                let configured: Vec<(&str, &'static str)> = clouds
                    .iter()
                    .flat_map(|c| {
                        let name = c.cfg.name.as_str();
                        c.inventories().into_iter().map(move |(n, _)| (name, n))
                    })
                    .collect();
                p.status.retain_collectors(&configured);
                p.status.clone()
            }
            None => Arc::default(),
        };
        Ok(Fleet {
            config,
            metrics,
            clouds,
            status,
            shared,
        })
    }

    /// The cloud `name`.
    pub fn cloud(&self, name: &str) -> Option<&Cloud> {
        self.clouds.iter().find(|c| c.cfg.name == name)
    }

    /// Service `key`'s shared state, when it has one (and it is a `T`).
    pub fn shared<T: Any>(&self, key: &str) -> Option<&T> {
        self.shared_of(key).and_then(|s| s.downcast_ref())
    }

    fn shared_of(&self, key: &str) -> Option<&(dyn Any + Send + Sync)> {
        self.shared
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, s)| s.as_ref())
    }
}

/// Whether a cloud's client (token cache, pool, limiter, budgets) can serve `new` as it served
/// `old`: the same cloud in every setting outside its services' sections — name, region,
/// project, auth with its secrets, endpoints, and any setting added there later — and the same
/// `max_concurrency`, which sizes its pool and limiter.
pub fn client_unchanged(
    old: &CloudConfig,
    old_config: &Config,
    new: &CloudConfig,
    new_config: &Config,
) -> bool {
    let outside_sections = |c: &CloudConfig| CloudConfig {
        sections: Sections::default(),
        ..c.clone()
    };
    old_config.max_concurrency == new_config.max_concurrency
        && outside_sections(old) == outside_sections(new)
}
