//! The one rule for repeated rows of a list an API answers: [`drop_duplicates`].

use std::collections::HashSet;

/// Drops every row whose key was seen before, the first one winning; returns the rows kept
/// and how many were dropped. For every list an API answers (DDM targets, KooPhone rows, job
/// rows): a duplicate would be a duplicate series, which Prometheus rejects.
pub fn drop_duplicates<T, F>(rows: Vec<T>, key: F) -> (Vec<T>, usize)
where
    F: for<'a> Fn(&'a T) -> &'a str,
{
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(rows.len());
        rows.iter().map(|r| seen.insert(key(r))).collect()
    };
    let before = rows.len();
    let kept: Vec<T> = rows
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_dropped_and_the_first_wins() {
        let rows = vec![("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let (kept, dropped) = drop_duplicates(rows, |r| r.0);
        assert_eq!(kept, vec![("a", 1), ("b", 2), ("c", 4)]);
        assert_eq!(dropped, 2);
        let (kept, dropped) = drop_duplicates(Vec::<(&str, u8)>::new(), |r| r.0);
        assert!(kept.is_empty() && dropped == 0);
    }
}
