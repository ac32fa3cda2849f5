//! What a simulator is started with: [`SimConfig`] (the fleet's seed and size, the account, the
//! clocks, the faults in force from the start, the listings' readings of their pages) and the
//! credentials and instances it names.

use std::time::Duration;

use super::faults::FaultSpec;
use crate::transport::Operation;

/// An AK/SK pair the simulated gateway knows.
#[derive(Clone)]
pub struct SimAccessKey {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
}

impl std::fmt::Debug for SimAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimAccessKey")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Everything the simulator is started with.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seeds the fleet: ids, statuses, DCS counts, DDM targets.
    pub seed: u64,
    /// Number of KooPhone phones.
    pub phones: usize,
    /// DCS instances the account has at the start (the per-instance list; counts stay apart).
    pub dcs_instances: usize,
    /// DDM instances and how many restore targets each has.
    pub ddm_instances: Vec<SimDdmInstance>,
    /// Faults in force from the start.
    pub faults: Vec<(&'static Operation, FaultSpec)>,
    /// Added to every service call (not to the `/_sim/` routes).
    pub latency: Duration,
    /// The fleet moves one tick every `tick` of (tokio) time; zero freezes it.
    pub tick: Duration,
    /// Lifetime of IAM-issued tokens.
    pub token_ttl: Duration,
    /// How long an async-command job runs before it finishes.
    pub job_delay: Duration,
    /// Resources bought and released while it runs; `None` keeps the fleet as it is.
    pub churn: Option<Churn>,
    /// The one project the simulated account has.
    pub project_id: String,
    /// Accepted IAM password credentials.
    pub users: Vec<SimUser>,
    /// Tokens accepted without IAM, for the exporter's fixed-token auth.
    pub static_tokens: Vec<String>,
    /// AK/SK pairs whose `SDK-HMAC-SHA256` signatures DCS and DDM accept (KooPhone does not).
    pub access_keys: Vec<SimAccessKey>,
    /// The `page_no` of the KooPhone listing's first page (1, or 0 for the other reading of
    /// the page); a smaller `page_no` is refused with 400 `KOOPHONE.API.1000`.
    pub list_first_page: u64,
    /// The DDM instance listing reads `offset` as a page number (1-based; 0 is page 1), as
    /// older and regional editions of its page say, instead of a record offset.
    pub ddm_offset_is_page: bool,
    /// The largest `page_size` the KooPhone listing accepts (larger: 400 `KOOPHONE.API.1000`),
    /// at most the definition's 200; sizes above 100 are served as 100 rows.
    pub list_max_page_size: u64,
}

/// Churn: every `every`, `phones` phones are bought (even steps) or the newest released (odd
/// steps), and one DCS and one DDM instance created or deleted, so the fleet grows and shrinks
/// around its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Churn {
    /// Phones bought or released per step.
    pub phones: usize,
    /// Time between steps.
    pub every: Duration,
}

impl std::str::FromStr for Churn {
    type Err = String;

    /// `N/PERIOD`, e.g. `5/10s`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, every) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not N/PERIOD (e.g. 5/10s)"))?;
        let phones = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a number of phones"))?;
        let every = humantime::parse_duration(every.trim()).map_err(|e| e.to_string())?;
        if every.is_zero() {
            return Err("the period must be more than 0s".into());
        }
        Ok(Churn { phones, every })
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            phones: 300,
            dcs_instances: 6,
            ddm_instances: vec![SimDdmInstance {
                id: "1f5c9fd6cd984056ba89c8c87cc03278in09".to_string(),
                targets: 300,
            }],
            faults: Vec::new(),
            latency: Duration::ZERO,
            tick: Duration::from_secs(30),
            token_ttl: Duration::from_secs(24 * 3600),
            job_delay: Duration::from_secs(2),
            churn: None,
            project_id: "0123456789abcdef0123456789abcdef".to_string(),
            users: vec![SimUser {
                domain: "demo-domain".to_string(),
                user: "monitoring".to_string(),
                password: "demo-password".to_string(),
            }],
            static_tokens: vec!["demo-static-token".to_string()],
            access_keys: vec![SimAccessKey {
                access_key: "DEMOACCESSKEY0000001".to_string(),
                secret_key: "demo-secret-key-do-not-use".to_string(),
            }],
            list_first_page: 1,
            ddm_offset_is_page: false,
            list_max_page_size: 200,
        }
    }
}

/// One IAM user the simulator accepts with the password method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimUser {
    /// Account (domain) name.
    pub domain: String,
    /// IAM user name.
    pub user: String,
    /// The user's password.
    pub password: String,
}

/// One DDM instance and the number of restore targets it lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDdmInstance {
    /// The instance id the restore and listing paths carry.
    pub id: String,
    /// How many restore targets it lists.
    pub targets: usize,
}
