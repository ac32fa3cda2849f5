//! The simulated fleet: phone ids, each phone's status at a tick, and the DCS instance counts.
//! Everything is a pure function of (seed, index, tick) so that 100,000 phones cost one id each
//! and a status lookup is a few multiplications.

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The reference page's example phone ids; the fleet starts with them.
pub const EXAMPLE_PHONE_IDS: [&str; 2] = ["a44uhlf7", "efjy72gs"];

/// The KooPhone status codes of the response-field table, 0..=7.
pub const PHONE_STATUS_CODES: u8 = 8;

/// DCS states, as in the `<state>_count` fields of the reference page.
pub const DCS_STATES: [&str; 13] = [
    "paying",
    "freezing",
    "migrating",
    "flushing",
    "upgrading",
    "restoring",
    "extending",
    "creating",
    "running",
    "error",
    "frozen",
    "createfailed",
    "restarting",
];

/// DCS engines, each an object of counts in the answer.
pub const DCS_ENGINES: [&str; 2] = ["redis", "memcached"];

const RUNNING: usize = 8;
const CREATEFAILED: usize = 11;

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

pub struct Fleet {
    seed: u64,
    /// Ids in fleet order; index = position.
    ids: Vec<String>,
    /// id → index, so a 100-id batch costs 100 lookups whatever the fleet size.
    index: HashMap<String, usize>,
}

impl Fleet {
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
        Fleet { seed, ids, index }
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
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

    /// DCS counts at `tick`: `[engine][state]`, indices as in [`DCS_ENGINES`] and [`DCS_STATES`].
    /// Every state is non-zero for at least one engine.
    pub fn dcs_counts(&self, tick: u64) -> [[u64; DCS_STATES.len()]; DCS_ENGINES.len()] {
        let mut counts = [[0u64; DCS_STATES.len()]; DCS_ENGINES.len()];
        for (e, engine) in counts.iter_mut().enumerate() {
            for (s, count) in engine.iter_mut().enumerate() {
                let h = hash3(self.seed ^ SALT_DCS, (e * 100 + s) as u64, tick);
                *count = match s {
                    RUNNING if e == 0 => 40 + h % 40,
                    RUNNING => 10 + h % 15,
                    CREATEFAILED => h % 5,
                    _ if h % 100 < 30 => 1 + (h >> 8) % 3,
                    _ => 0,
                };
            }
        }
        for s in 0..DCS_STATES.len() {
            if counts.iter().all(|engine| engine[s] == 0) {
                let e = (hash3(self.seed, s as u64, tick) % DCS_ENGINES.len() as u64) as usize;
                counts[e][s] = 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_deterministic_unique_and_well_formed() {
        let a = Fleet::new(7, 5_000);
        let b = Fleet::new(7, 5_000);
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
        assert_ne!(Fleet::new(8, 10).ids()[2..], a.ids()[2..10]);
        assert_eq!(Fleet::new(7, 1).ids(), &["a44uhlf7".to_string()]);
        assert!(Fleet::new(7, 0).ids().is_empty());
        assert_eq!(a.index_of("efjy72gs"), Some(1));
        assert_eq!(a.index_of("nope"), None);
    }

    #[test]
    fn every_status_present_at_every_tick() {
        for n in [8, 9, 300] {
            let fleet = Fleet::new(3, n);
            for tick in 0..200 {
                let seen: HashSet<u8> = (0..n).map(|i| fleet.phone_status(i, tick)).collect();
                assert_eq!(seen.len(), 8, "n={n} tick={tick}");
            }
        }
    }

    #[test]
    fn status_mix_is_mostly_streaming_or_idle_and_changes() {
        let fleet = Fleet::new(1, 10_000);
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
            Fleet::new(1, 10_000).phone_status(42, 9)
        );
    }

    #[test]
    fn dcs_every_state_nonzero_somewhere() {
        let fleet = Fleet::new(1, 1);
        for tick in 0..500 {
            let counts = fleet.dcs_counts(tick);
            for s in 0..DCS_STATES.len() {
                assert!(counts.iter().any(|e| e[s] > 0), "tick {tick} state {s}");
            }
        }
        assert_ne!(fleet.dcs_counts(1), fleet.dcs_counts(2));
    }
}
