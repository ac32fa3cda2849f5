//! The rule that keeps an inventory from vanishing on one answer: a listing that would remove
//! more than half of a non-empty inventory (all of it included) is held, the last inventory
//! kept, until the next listing agrees (it too removes more than half); then that one is
//! applied. Gradual churn (half or less) applies at once. What counts is the resources of the
//! inventory that the listing no longer has, so a listing of as many rows with other ids is a
//! shrink too. An answer that says it is complete (`total_count: 0`) is still one answer: it
//! is held like any other. Used by every listing that replaces what an earlier one showed:
//! [`crate::inventory::Inventory`]'s refreshes and the per-scrape listings of services.

use std::collections::HashSet;

/// A listed resource, known by its id.
pub trait Resource {
    /// The id the listing is deduplicated and compared by.
    fn id(&self) -> &str;
}

impl Resource for String {
    fn id(&self) -> &str {
        self
    }
}

/// Resources of `kept` that `listed` no longer has.
pub fn removed<T: Resource>(kept: &[T], listed: &[T]) -> usize {
    let now: HashSet<&str> = listed.iter().map(Resource::id).collect();
    kept.iter().filter(|r| !now.contains(r.id())).count()
}

/// Whether removing `removed` of `kept` resources is more than half of a non-empty inventory.
pub fn is_shrink(kept: usize, removed: usize) -> bool {
    kept > 0 && removed.saturating_mul(2) > kept
}

/// What to do with one listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a shrink: apply it.
    Apply,
    /// A shrink that the listing before it announced: apply it.
    Agreed,
    /// A shrink nothing announced yet: keep the last inventory, and wait for the next listing.
    Held,
}

/// The shrink rule's memory for one inventory: whether a shrink is held, and how many were.
#[derive(Debug, Default, Clone)]
pub struct Shrinks {
    /// The size of the held listing, while one is held.
    held: Option<usize>,
    /// Listings held so far (the `…_refused_shrinks_total` counter).
    refused: u64,
}

impl Shrinks {
    /// The verdict on a listing of `listed` resources that removes `removed` of the `kept`
    /// ones. A shrink is held once; the next listing decides: another shrink is applied, a
    /// listing that is not one is applied and forgets the held one. A refresh that fails
    /// decides nothing (call nothing for it).
    pub fn judge(&mut self, kept: usize, removed: usize, listed: usize) -> Verdict {
        if !is_shrink(kept, removed) {
            self.held = None;
            return Verdict::Apply;
        }
        if self.held.take().is_some() {
            return Verdict::Agreed;
        }
        self.held = Some(listed);
        self.refused += 1;
        Verdict::Held
    }

    /// Listings held so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The size of the listing held now, if one is.
    pub fn held(&self) -> Option<usize> {
        self.held
    }
}

/// The message of a held listing: what was refused and why, in the words every such log line
/// and error uses.
pub fn held_message(what: &str, kept: usize, listed: usize, removed: usize) -> String {
    format!(
        "the {what} listing would remove {removed} of the {kept} resources in use (to {listed}), more than half; keeping the last inventory until the next listing agrees"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn removal_counts_the_ids_that_go() {
        let kept = ids(&["a", "b", "c", "d"]);
        assert_eq!(removed(&kept, &ids(&[])), 4);
        assert_eq!(removed(&kept, &ids(&["a", "b", "x", "y", "z"])), 2);
        assert_eq!(
            removed(&kept, &ids(&["w", "x", "y", "z"])),
            4,
            "as many rows, other ids"
        );
        assert!(is_shrink(4, 3) && is_shrink(1, 1) && is_shrink(3, 2));
        assert!(!is_shrink(4, 2), "exactly half is churn");
        assert!(!is_shrink(0, 0), "nothing to lose");
    }

    #[test]
    fn a_shrink_is_held_once_and_applied_when_the_next_agrees() {
        let mut s = Shrinks::default();
        assert_eq!(s.judge(50, 1, 49), Verdict::Apply);
        assert_eq!(s.judge(50, 50, 0), Verdict::Held);
        assert_eq!(s.held(), Some(0));
        assert_eq!(s.judge(50, 50, 0), Verdict::Agreed);
        assert_eq!(s.held(), None);
        // A shrink, then a listing that is none: the shrink is forgotten.
        assert_eq!(s.judge(50, 40, 10), Verdict::Held);
        assert_eq!(s.judge(50, 0, 50), Verdict::Apply);
        assert_eq!(s.judge(50, 40, 10), Verdict::Held);
        assert_eq!(s.refused(), 3);
    }
}
