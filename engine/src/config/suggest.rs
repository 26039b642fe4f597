//! "Did you mean …?" suggestions by edit distance.

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions),
/// counted in chars and ignoring ASCII case.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    // rows[i][j] = distance between a[..i] and b[..j]; three rolling rows suffice.
    let mut before_prev: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before_prev[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut before_prev, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `given`, if it is close enough to be a plausible typo
/// (at most a third of the longer word's length in edits, and at least 1); failing
/// that, the only candidate that contains `given` (`latency` → `low-latency`).
pub(crate) fn closest<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    by_distance(given, &candidates).or_else(|| by_containment(given, &candidates))
}

fn by_containment<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    if given.chars().count() < 3 {
        return None;
    }
    let mut containing = candidates
        .iter()
        .filter(|candidate| candidate.to_ascii_lowercase().contains(&given));
    match (containing.next(), containing.next()) {
        (Some(only), None) => Some(*only),
        _ => None,
    }
}

fn by_distance<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .copied()
        .map(|candidate| (edit_distance(given, candidate), candidate))
        .filter(|(distance, candidate)| {
            let longest = given.chars().count().max(candidate.chars().count());
            *distance <= (longest / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("cores", "cores"), 0);
        assert_eq!(edit_distance("corse", "cores"), 1);
        assert_eq!(edit_distance("core", "cores"), 1);
        assert_eq!(edit_distance("CORES", "cores"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn closest_only_when_plausible() {
        let names = ["cores", "pin_cores", "batch_records_max"];
        assert_eq!(closest("corse", names), Some("cores"));
        assert_eq!(
            closest("batch_record_max", names),
            Some("batch_records_max")
        );
        assert_eq!(closest("zzz", names), None);
        assert_eq!(closest("x", ["y"]), Some("y"));
        assert_eq!(
            closest("latency", ["low-latency", "throughput"]),
            Some("low-latency")
        );
        assert_eq!(
            closest("cache", ["rocksdb_block_cache_mib", "backend"]),
            Some("rocksdb_block_cache_mib")
        );
        assert_eq!(
            closest("buffer", ["write_buffer_mib", "buffer_timeout_ms"]),
            None
        );
        assert_eq!(closest("ab", ["abc_long_name"]), None);
    }
}
