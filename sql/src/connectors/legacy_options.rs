//! Flink's legacy connector options (`'connector.type' = 'filesystem'`,
//! `'connector.path'`, `'format.type'`), which older scripts such as
//! nexmark-flink's q13 still use, under the names of the current ones.

use std::collections::BTreeMap;

/// Each legacy key and the current key it stands for.
const LEGACY_KEYS: &[(&str, &str)] = &[
    ("connector.type", "connector"),
    ("connector.path", "path"),
    ("format.type", "format"),
    ("format.field-delimiter", "csv.field-delimiter"),
    ("format.ignore-first-line", "csv.ignore-first-line"),
];

/// Renames the legacy keys of `options` to the current ones; `Err` names a
/// key given both ways.
pub fn rename_legacy_options(
    options: &mut BTreeMap<String, String>,
) -> Result<(), (String, String)> {
    for (legacy, current) in LEGACY_KEYS {
        let Some(v) = options.remove(*legacy) else {
            continue;
        };
        if options.contains_key(*current) {
            return Err(((*legacy).to_string(), (*current).to_string()));
        }
        options.insert((*current).to_string(), v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn legacy_keys_take_the_current_names() {
        let mut o = map(&[
            ("connector.type", "filesystem"),
            ("connector.path", "file:///d/side.txt"),
            ("format.type", "csv"),
        ]);
        assert_eq!(rename_legacy_options(&mut o), Ok(()));
        assert_eq!(
            o,
            map(&[
                ("connector", "filesystem"),
                ("path", "file:///d/side.txt"),
                ("format", "csv"),
            ])
        );
    }

    #[test]
    fn a_key_given_both_ways_is_refused() {
        let mut o = map(&[("format.type", "csv"), ("format", "json")]);
        assert_eq!(
            rename_legacy_options(&mut o),
            Err(("format.type".to_string(), "format".to_string()))
        );
    }
}
