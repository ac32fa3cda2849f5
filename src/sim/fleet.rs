//! The simulated fleet: phone ids and each phone's status at a tick, and the DCS and DDM
//! instances the control routes and churn create and delete.
//! Everything is a pure function of (seed, index, tick) so that 100,000 phones cost one id each
//! and a status lookup is a few multiplications.

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::config::SimDdmInstance;

/// The reference page's example phone ids; the fleet starts with them.
pub const EXAMPLE_PHONE_IDS: [&str; 2] = ["a44uhlf7", "efjy72gs"];

/// The KooPhone status codes of the response-field table, 0..=7.
pub const PHONE_STATUS_CODES: u8 = 8;

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of three words; the building block of every "random" but reproducible choice.
pub(crate) fn hash3(a: u64, b: u64, c: u64) -> u64 {
    mix(a ^ mix(b ^ mix(c)))
}

/// FNV-1a of a string, mixed; used to seed choices keyed by an id.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// Salts so that independent choices about the same phone do not correlate.
const SALT_PERIOD: u64 = 0x5045_5249_4f44;
const SALT_STATUS: u64 = 0x5354_4154_5553;
const SALT_ROTATE: u64 = 0x524f_5441_5445;
const SALT_DCS: u64 = 0x0044_4353;
const SALT_MODEL: u64 = 0x004d_4f44_454c;

/// The phones: every one ever bought, and those the account has now.
pub struct SimFleet {
    /// Seeds ids, statuses and models.
    seed: u64,
    /// Every phone ever created, in creation order; index = position (a released phone keeps
    /// its index, so statuses stay a function of (seed, index, tick)).
    ids: Vec<String>,
    /// id → index of the phones the account has now, so a 100-id batch costs 100 lookups
    /// whatever the fleet size.
    index: HashMap<String, usize>,
    /// Indices of the phones the account has now, in creation order (the listing's order).
    live: Vec<usize>,
    /// Phones added after the start, so new ids follow from the seed too.
    added: u64,
}

/// The simulated person a phone is assigned to: values a test greps the exposition for.
pub fn personal_values(idx: usize) -> [String; 3] {
    [
        format!("person{idx}@example.invalid"),
        format!("Person Name{idx}"),
        format!("personal_acct_{idx}"),
    ]
}

impl SimFleet {
    pub fn new(seed: u64, phones: usize) -> Self {
        let mut ids = Vec::with_capacity(phones);
        let mut index = HashMap::with_capacity(phones);
        for id in EXAMPLE_PHONE_IDS.iter().take(phones) {
            index.insert((*id).to_string(), ids.len());
            ids.push((*id).to_string());
        }
        let mut rng = SmallRng::seed_from_u64(seed);
        while ids.len() < phones {
            let id: String = (0..8)
                .map(|_| char::from(BASE36[rng.gen_range(0..BASE36.len())]))
                .collect();
            if !index.contains_key(&id) {
                index.insert(id.clone(), ids.len());
                ids.push(id);
            }
        }
        let live = (0..ids.len()).collect();
        SimFleet {
            seed,
            ids,
            index,
            live,
            added: 0,
        }
    }

    /// The seed every choice about a phone follows from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Every phone ever created, released ones included (index = position).
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The phones the account has now, in the listing's order.
    pub fn live(&self) -> &[usize] {
        &self.live
    }

    /// Ids of the phones the account has now.
    pub fn live_ids(&self) -> Vec<String> {
        self.live.iter().map(|&i| self.ids[i].clone()).collect()
    }

    /// A phone the account has now.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Buys `n` new phones (ids from the seed and the count added so far); returns their ids.
    pub fn add(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        let mut rng = SmallRng::seed_from_u64(hash3(self.seed, self.added, 0x0041_4444));
        while out.len() < n {
            let id: String = (0..8)
                .map(|_| char::from(BASE36[rng.gen_range(0..BASE36.len())]))
                .collect();
            if self.ids.contains(&id) {
                continue;
            }
            let idx = self.ids.len();
            self.index.insert(id.clone(), idx);
            self.ids.push(id.clone());
            self.live.push(idx);
            out.push(id);
        }
        self.added += n as u64;
        out
    }

    /// Releases the phones `ids` names (those the account has); returns the ones released.
    pub fn release(&mut self, ids: &[String]) -> Vec<String> {
        let mut gone = std::collections::HashSet::new();
        let mut out = Vec::new();
        for id in ids {
            if let Some(idx) = self.index.remove(id) {
                gone.insert(idx);
                out.push(id.clone());
            }
        }
        self.live.retain(|i| !gone.contains(i));
        out
    }

    /// Releases the `n` newest phones (never the reference page's example phones).
    pub fn release_newest(&mut self, n: usize) -> Vec<String> {
        let ids: Vec<String> = self
            .live
            .iter()
            .rev()
            .map(|&i| self.ids[i].clone())
            .filter(|id| !EXAMPLE_PHONE_IDS.contains(&id.as_str()))
            .take(n)
            .collect();
        self.release(&ids)
    }

    /// The status code (0..=7) of phone `idx` at `tick`. A phone keeps a status for a few
    /// ticks (its own period), mostly streaming or idle, a few percent in exception states.
    /// At every tick a rotating window of 8 phones holds codes 0..=7, so every code is present.
    pub fn phone_status(&self, idx: usize, tick: u64) -> u8 {
        let n = self.ids.len() as u64;
        let i = idx as u64;
        if n >= u64::from(PHONE_STATUS_CODES) {
            let offset = hash3(self.seed, tick, SALT_ROTATE) % n;
            let slot = (i + n - offset) % n;
            if slot < u64::from(PHONE_STATUS_CODES) {
                return slot as u8;
            }
        }
        let h = hash3(self.seed, i, SALT_PERIOD);
        let period = 1 + h % 8;
        let phase = (h >> 8) % period;
        let epoch = (tick + phase) / period;
        match hash3(self.seed ^ SALT_STATUS, i, epoch) % 1000 {
            0..300 => 0,   // idle
            300..330 => 1, // restoring
            330..370 => 2, // data loaded
            370..900 => 3, // streaming
            900..940 => 4, // backing up
            940..960 => 5, // backup exception
            960..980 => 6, // restoration exception
            _ => 7,        // data loaded (the second table entry)
        }
    }

    /// A model name, fixed per phone, for `getprop ro.product.model`.
    pub fn phone_model(&self, idx: usize) -> &'static str {
        const MODELS: [&str; 4] = ["KooPhone-A1", "KooPhone-A2", "CPH-ARM-M1", "CPH-ARM-X2"];
        MODELS[(hash3(self.seed, idx as u64, SALT_MODEL) % MODELS.len() as u64) as usize]
    }

    /// Seconds phone `idx` has been up at `tick`, for `uptime`.
    pub fn phone_uptime_secs(&self, idx: usize, tick: u64) -> u64 {
        3_600 + hash3(self.seed, idx as u64, SALT_PERIOD) % (20 * 86_400) + tick * 30
    }
}

/// One simulated DCS instance (the per-instance list's row; the counts stay their own model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDcsInstance {
    /// `instance_id`, UUID-shaped.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `engine`: `Redis` or `Memcached`.
    pub engine: &'static str,
    /// `engine_version`.
    pub engine_version: &'static str,
    /// `status` as the API spells it (`RUNNING`, `ERROR`, …).
    pub status: &'static str,
}

/// The DCS and DDM instances the account has now; the control endpoint and churn add and
/// remove them, the list endpoints (and DDM's restorable targets) read them.
#[derive(Debug, Default)]
pub struct Instances {
    /// DCS instances, oldest first.
    pub dcs: Vec<SimDcsInstance>,
    /// DDM instances, oldest first.
    pub ddm: Vec<SimDdmInstance>,
    /// DCS instances deleted while the simulator ran, the last [`DELETED_KEPT`], which the
    /// listing shows with `include_delete=true`.
    pub deleted_dcs: Vec<SimDcsInstance>,
    /// Instances created so far, so new ids follow from the seed.
    created: u64,
}

/// Deleted DCS instances the listing remembers.
pub const DELETED_KEPT: usize = 100;

fn uuid_like(h: u64, g: u64) -> String {
    let a = format!("{h:016x}{g:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &a[..8],
        &a[8..12],
        &a[12..16],
        &a[16..20],
        &a[20..32]
    )
}

impl Instances {
    /// `dcs` DCS instances from `seed`, and the configured DDM instances.
    pub fn new(seed: u64, dcs: usize, ddm: Vec<SimDdmInstance>) -> Instances {
        let mut out = Instances {
            dcs: Vec::new(),
            ddm,
            deleted_dcs: Vec::new(),
            created: 0,
        };
        out.add_dcs(seed, dcs);
        out
    }

    /// Creates `n` DCS instances; returns their ids.
    pub fn add_dcs(&mut self, seed: u64, n: usize) -> Vec<String> {
        const STATUSES: [&str; 6] = [
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "ERROR",
            "CREATING",
            "RESTARTING",
        ];
        (0..n)
            .map(|_| {
                let k = self.created;
                self.created += 1;
                let h = hash3(seed, k, SALT_DCS);
                let redis = h % 4 != 0;
                let inst = SimDcsInstance {
                    id: uuid_like(h, mix(h)),
                    name: format!("dcs-{k:03}"),
                    engine: if redis { "Redis" } else { "Memcached" },
                    engine_version: if redis { "6.0" } else { "1.5" },
                    status: STATUSES[(k as usize) % STATUSES.len()],
                };
                let id = inst.id.clone();
                self.dcs.push(inst);
                id
            })
            .collect()
    }

    /// Creates `n` DDM instances with `targets` restore targets each; returns their ids.
    pub fn add_ddm(&mut self, seed: u64, n: usize, targets: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let k = self.created;
                self.created += 1;
                let h = hash3(seed, k, 0x0044_444d);
                let id = format!("{h:016x}{:016x}in09", mix(h));
                self.ddm.push(SimDdmInstance {
                    id: id.clone(),
                    targets,
                });
                id
            })
            .collect()
    }

    /// Deletes the `n` newest DCS instances; returns their ids.
    pub fn remove_dcs(&mut self, n: usize) -> Vec<String> {
        let keep = self.dcs.len().saturating_sub(n);
        let gone = self.dcs.split_off(keep);
        let ids = gone.iter().map(|i| i.id.clone()).collect();
        self.deleted_dcs.extend(gone);
        let over = self.deleted_dcs.len().saturating_sub(DELETED_KEPT);
        self.deleted_dcs.drain(..over);
        ids
    }

    /// Deletes the `n` newest DDM instances; returns their ids.
    pub fn remove_ddm(&mut self, n: usize) -> Vec<String> {
        let keep = self.ddm.len().saturating_sub(n);
        self.ddm.split_off(keep).into_iter().map(|i| i.id).collect()
    }

    /// The restore targets of DDM instance `id`, if the account has it.
    pub fn ddm_targets(&self, id: &str) -> Option<usize> {
        self.ddm.iter().find(|d| d.id == id).map(|d| d.targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_deterministic_unique_and_well_formed() {
        let a = SimFleet::new(7, 5_000);
        let b = SimFleet::new(7, 5_000);
        assert_eq!(a.ids(), b.ids());
        assert_eq!(&a.ids()[..2], &EXAMPLE_PHONE_IDS);
        let unique: HashSet<_> = a.ids().iter().collect();
        assert_eq!(unique.len(), 5_000);
        for id in a.ids() {
            assert_eq!(id.len(), 8);
            assert!(id
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        }
        assert_ne!(SimFleet::new(8, 10).ids()[2..], a.ids()[2..10]);
        assert_eq!(SimFleet::new(7, 1).ids(), &["a44uhlf7".to_string()]);
        assert!(SimFleet::new(7, 0).ids().is_empty());
        assert_eq!(a.index_of("efjy72gs"), Some(1));
        assert_eq!(a.index_of("nope"), None);
    }

    #[test]
    fn every_status_present_at_every_tick() {
        for n in [8, 9, 300] {
            let fleet = SimFleet::new(3, n);
            for tick in 0..200 {
                let seen: HashSet<u8> = (0..n).map(|i| fleet.phone_status(i, tick)).collect();
                assert_eq!(seen.len(), 8, "n={n} tick={tick}");
            }
        }
    }

    #[test]
    fn status_mix_is_mostly_streaming_or_idle_and_changes() {
        let fleet = SimFleet::new(1, 10_000);
        let mut hist = [0usize; 8];
        for i in 0..fleet.ids().len() {
            hist[usize::from(fleet.phone_status(i, 5))] += 1;
        }
        assert!(hist[0] + hist[3] > 7_500, "{hist:?}");
        assert!(
            hist[5] + hist[6] > 100 && hist[5] + hist[6] < 800,
            "{hist:?}"
        );
        let changed = (0..fleet.ids().len())
            .filter(|&i| fleet.phone_status(i, 5) != fleet.phone_status(i, 6))
            .count();
        assert!(changed > 0);
        assert_eq!(
            fleet.phone_status(42, 9),
            SimFleet::new(1, 10_000).phone_status(42, 9)
        );
    }
}
