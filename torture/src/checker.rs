//! The checker: reads the oracle job's committed output and counts, per
//! key, the records lost, duplicated and out of order, the counts that do
//! not match exactly-once state, and whether each key's final state and
//! each window equal those of a fault-free run ([`Expected`]).
//!
//! Only committed files count (`part-<subtask>-<checkpoint>.csv` and
//! `part-<subtask>-end.csv`); `.in-progress/` is what readers never see.
//! A key's output is read in commit order: by subtask, then checkpoint,
//! then line.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Result, io};
use crate::oracle::{Expected, STATE_DIR, WINDOWS_DIR, checksum};

/// Sentences about single records kept in a report at most; the counters
/// count everything.
const FINDINGS_MAX: usize = 20;

/// What the checker found. Clean when every counter is zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The output directory.
    pub output: PathBuf,
    /// Keys of the job.
    pub keys: u64,
    /// State records read.
    pub records_read: u64,
    /// Window records read.
    pub windows_read: u64,
    /// Records of a fault-free run missing from the output.
    pub lost: u64,
    /// Records committed more than once (each extra copy counts).
    pub duplicates: u64,
    /// Records committed after a higher seq of their key.
    pub out_of_order: u64,
    /// Records whose count is not their seq + 1 (state lost or applied twice).
    pub wrong_counts: u64,
    /// Records whose checksum does not match their key and seq.
    pub bad_checksums: u64,
    /// Lines that are not records of the job (unparsable, or a key or seq a
    /// fault-free run does not have).
    pub foreign: u64,
    /// Keys whose final state (last seq, count) differs from a fault-free run's.
    pub final_state_mismatches: u64,
    /// Windows of a fault-free run missing from the output.
    pub windows_lost: u64,
    /// Windows committed more than once.
    pub windows_duplicated: u64,
    /// Windows committed with another count than a fault-free run's.
    pub windows_wrong: u64,
    /// Sentences about the first faulty records.
    pub findings: Vec<String>,
}

impl Report {
    /// True when the output is exactly that of a fault-free run.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.wrong_counts == 0
            && self.bad_checksums == 0
            && self.foreign == 0
            && self.final_state_mismatches == 0
            && self.windows_lost == 0
            && self.windows_duplicated == 0
            && self.windows_wrong == 0
    }

    fn note(&mut self, sentence: impl FnOnce() -> String) {
        if self.findings.len() < FINDINGS_MAX {
            self.findings.push(sentence());
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Checked {} state records and {} windows of {} keys in {}.",
            self.records_read,
            self.windows_read,
            self.keys,
            self.output.display()
        )?;
        if self.is_clean() {
            return writeln!(
                f,
                "No record was lost, duplicated or reordered; every count, every key's final \
                 state and every window equal those of a fault-free run."
            );
        }
        let lines = [
            (self.lost, "records of a fault-free run are missing (lost)"),
            (
                self.duplicates,
                "records were committed more than once (duplicates)",
            ),
            (
                self.out_of_order,
                "records came after a higher seq of their key (out of order)",
            ),
            (
                self.wrong_counts,
                "records carry a count other than seq + 1 (state lost or applied twice)",
            ),
            (
                self.bad_checksums,
                "records have a checksum that does not match their key and seq",
            ),
            (
                self.foreign,
                "lines are not records a fault-free run produces",
            ),
            (
                self.final_state_mismatches,
                "keys end in another state than a fault-free run's",
            ),
            (self.windows_lost, "windows of a fault-free run are missing"),
            (
                self.windows_duplicated,
                "windows were committed more than once",
            ),
            (
                self.windows_wrong,
                "windows have another count than a fault-free run's",
            ),
        ];
        for (n, what) in lines {
            if n > 0 {
                writeln!(f, "{n} {what}.")?;
            }
        }
        for s in &self.findings {
            writeln!(f, "  {s}")?;
        }
        Ok(())
    }
}

/// Checks the committed output in `output` against `expected`.
pub fn check(output: &Path, expected: &Expected) -> Result<Report> {
    let mut report = Report {
        output: output.to_path_buf(),
        keys: expected.keys,
        ..Report::default()
    };
    check_state(&output.join(STATE_DIR), expected, &mut report)?;
    check_windows(&output.join(WINDOWS_DIR), expected, &mut report)?;
    Ok(report)
}

/// One key's state output as read so far.
#[derive(Clone, Default)]
struct KeyTrack {
    /// Copies seen of each seq.
    copies: Vec<u32>,
    max_seq: Option<u64>,
    /// (seq, count) of the last record.
    last: Option<(u64, u64)>,
}

fn check_state(dir: &Path, expected: &Expected, report: &mut Report) -> Result<()> {
    let mut keys: Vec<KeyTrack> = (0..expected.keys)
        .map(|k| KeyTrack {
            copies: vec![0; expected.records_of(k) as usize],
            ..KeyTrack::default()
        })
        .collect();
    for file in committed_files(dir)? {
        let text = std::fs::read_to_string(&file).map_err(|e| io("reading", &file, e))?;
        for (i, line) in text.lines().enumerate() {
            report.records_read += 1;
            let at = || format!("{} line {}", file.display(), i + 1);
            let Some([key, seq, count, sum]) = parse::<4>(line) else {
                report.foreign += 1;
                report.note(|| format!("{}: `{line}` is not a state record.", at()));
                continue;
            };
            let Some(track) = keys
                .get_mut(key as usize)
                .filter(|t| (seq as usize) < t.copies.len())
            else {
                report.foreign += 1;
                report
                    .note(|| format!("{}: key {key} seq {seq} is not in a fault-free run.", at()));
                continue;
            };
            if sum != checksum(key, seq) {
                report.bad_checksums += 1;
                report.note(|| format!("{}: key {key} seq {seq} has a wrong checksum.", at()));
            }
            let copies = &mut track.copies[seq as usize];
            *copies += 1;
            if *copies > 1 {
                report.duplicates += 1;
                report.note(|| {
                    format!(
                        "{}: key {key} seq {seq} was committed {copies} times.",
                        at()
                    )
                });
            } else if track.max_seq.is_some_and(|m| seq < m) {
                report.out_of_order += 1;
                let m = track.max_seq.unwrap_or(0);
                report.note(|| format!("{}: key {key} seq {seq} came after seq {m}.", at()));
            }
            if count != seq + 1 {
                report.wrong_counts += 1;
                report.note(|| {
                    format!(
                        "{}: key {key} seq {seq} has count {count}; exactly-once state gives {}.",
                        at(),
                        seq + 1
                    )
                });
            }
            track.max_seq = Some(track.max_seq.map_or(seq, |m| m.max(seq)));
            track.last = Some((seq, count));
        }
    }
    for (key, track) in keys.iter().enumerate() {
        let key = key as u64;
        let lost = track.copies.iter().filter(|&&c| c == 0).count() as u64;
        if lost > 0 {
            report.lost += lost;
            let first = track.copies.iter().position(|&c| c == 0).unwrap_or(0);
            report.note(|| format!("key {key} lost {lost} records, the first seq {first}."));
        }
        let n = expected.records_of(key);
        let want = n.checked_sub(1).map(|last| (last, n));
        if track.last != want {
            report.final_state_mismatches += 1;
            report.note(|| {
                format!(
                    "key {key} ends with (seq, count) {:?}; a fault-free run ends with {want:?}.",
                    track.last
                )
            });
        }
    }
    Ok(())
}

fn check_windows(dir: &Path, expected: &Expected, report: &mut Report) -> Result<()> {
    let mut copies: Vec<Vec<u32>> = (0..expected.keys)
        .map(|k| vec![0; expected.windows_of(k) as usize])
        .collect();
    for file in committed_files(dir)? {
        let text = std::fs::read_to_string(&file).map_err(|e| io("reading", &file, e))?;
        for (i, line) in text.lines().enumerate() {
            report.windows_read += 1;
            let at = || format!("{} line {}", file.display(), i + 1);
            let Some([key, window, count]) = parse::<3>(line) else {
                report.foreign += 1;
                report.note(|| format!("{}: `{line}` is not a window record.", at()));
                continue;
            };
            let Some(c) = copies
                .get_mut(key as usize)
                .and_then(|w| w.get_mut(window as usize))
            else {
                report.foreign += 1;
                report.note(|| {
                    format!(
                        "{}: key {key} window {window} is not in a fault-free run.",
                        at()
                    )
                });
                continue;
            };
            *c += 1;
            if *c > 1 {
                report.windows_duplicated += 1;
                report.note(|| format!("{}: key {key} window {window} fired again.", at()));
            }
            let want = expected.window_count(key, window);
            if count != want {
                report.windows_wrong += 1;
                report.note(|| {
                    format!(
                        "{}: key {key} window {window} counted {count}; a fault-free run \
                         counts {want}.",
                        at()
                    )
                });
            }
        }
    }
    for (key, windows) in copies.iter().enumerate() {
        let lost = windows.iter().filter(|&&c| c == 0).count() as u64;
        if lost > 0 {
            report.windows_lost += lost;
            let first = windows.iter().position(|&c| c == 0).unwrap_or(0);
            report.note(|| format!("key {key} lost {lost} windows, the first window {first}."));
        }
    }
    Ok(())
}

/// The committed files of a sink directory in commit order: by subtask,
/// then checkpoint, the end file last. A missing directory has none.
pub fn committed_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("listing", dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(order) = commit_order(&name) {
            files.push((order, entry.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// `(subtask, checkpoint)` of `part-<subtask>-<checkpoint|end>.csv`; the
/// end file sorts after every checkpoint.
fn commit_order(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".csv")?;
    let (subtask, id) = rest.split_once('-')?;
    let id = match id {
        "end" => u64::MAX,
        n => n.parse().ok()?,
    };
    Some((subtask.parse().ok()?, id))
}

/// `N` comma-separated unsigned integers.
fn parse<const N: usize>(line: &str) -> Option<[u64; N]> {
    let mut out = [0u64; N];
    let mut parts = line.split(',');
    for slot in &mut out {
        *slot = parts.next()?.trim().parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPECTED: Expected = Expected {
        keys: 4,
        records: 42,
        window_ms: 4,
    };

    /// A scratch output directory holding what a fault-free run of
    /// [`EXPECTED`] on two subtasks commits (keys 0, 2 on subtask 0; 1, 3 on
    /// subtask 1; a checkpoint after every third seq), with each subtask's
    /// state lines passed through `edit` first.
    fn output(name: &str, edit: impl Fn(&mut Vec<String>)) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spate-checker-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in [STATE_DIR, WINDOWS_DIR] {
            std::fs::create_dir_all(dir.join(sub)).expect("scratch dir");
        }
        std::fs::create_dir_all(dir.join(STATE_DIR).join(".in-progress")).expect("scratch dir");
        for subtask in 0..2u64 {
            let mut lines = Vec::new();
            for n in 0..EXPECTED.records {
                let (key, seq, sum) = crate::oracle::record(n, EXPECTED.keys);
                if key % 2 == subtask {
                    lines.push(format!("{key},{seq},{},{sum}", seq + 1));
                }
            }
            edit(&mut lines);
            // Three commits: checkpoints 1 and 2, then the end.
            let third = lines.len() / 3;
            let parts = [
                &lines[..third],
                &lines[third..2 * third],
                &lines[2 * third..],
            ];
            for (part, name) in parts.iter().zip(["0000000001", "0000000002", "end"]) {
                let path = dir
                    .join(STATE_DIR)
                    .join(format!("part-{subtask}-{name}.csv"));
                std::fs::write(
                    path,
                    part.iter().map(|l| format!("{l}\n")).collect::<String>(),
                )
                .expect("write");
            }
            let mut windows = String::new();
            for key in (0..EXPECTED.keys).filter(|k| k % 2 == subtask) {
                for w in 0..EXPECTED.windows_of(key) {
                    windows.push_str(&format!("{key},{w},{}\n", EXPECTED.window_count(key, w)));
                }
            }
            let path = dir
                .join(WINDOWS_DIR)
                .join(format!("part-{subtask}-end.csv"));
            std::fs::write(path, windows).expect("write");
        }
        // Uncommitted output is never read.
        std::fs::write(
            dir.join(STATE_DIR).join(".in-progress/part-0-x-1.csv"),
            "0,0,1,7\n",
        )
        .expect("write");
        dir
    }

    fn checked(name: &str, edit: impl Fn(&mut Vec<String>)) -> Report {
        let dir = output(name, edit);
        let report = check(&dir, &EXPECTED).expect("check");
        std::fs::remove_dir_all(&dir).ok();
        report
    }

    #[test]
    fn a_fault_free_output_is_clean() {
        let r = checked("clean", |_| {});
        assert!(r.is_clean(), "{r}");
        assert_eq!(r.records_read, EXPECTED.records);
        let windows: u64 = (0..EXPECTED.keys).map(|k| EXPECTED.windows_of(k)).sum();
        assert_eq!(r.windows_read, windows);
    }

    #[test]
    fn a_lost_record_is_found() {
        // Subtask 0's fifth line: key 0, seq 2.
        let r = checked("lost", |l| {
            if l[0].starts_with("0,") {
                l.remove(4);
            }
        });
        assert!(!r.is_clean());
        assert_eq!((r.lost, r.duplicates, r.out_of_order), (1, 0, 0), "{r}");
        // The next record of key 0 still carries the count of an exactly-once run.
        assert_eq!(r.wrong_counts, 0, "{r}");
        assert!(
            r.findings
                .iter()
                .any(|s| s.contains("key 0 lost 1 records, the first seq 2")),
            "{r}"
        );
    }

    #[test]
    fn a_duplicate_record_is_found() {
        // A replay that committed subtask 1's second record again.
        let r = checked("duplicate", |l| {
            if l[0].starts_with("1,") {
                let again = l[1].clone();
                l.insert(2, again);
            }
        });
        assert_eq!((r.lost, r.duplicates, r.out_of_order), (0, 1, 0), "{r}");
        assert!(!r.is_clean());
        assert!(
            r.to_string()
                .contains("1 records were committed more than once"),
            "{r}"
        );
    }

    #[test]
    fn a_reordered_record_is_found() {
        // Key 0's seq 1 and seq 2 swap places (lines 3 and 5 of subtask 0).
        let r = checked("reordered", |l| {
            if l[0].starts_with("0,") {
                l.swap(2, 4);
            }
        });
        assert_eq!((r.lost, r.duplicates, r.out_of_order), (0, 0, 1), "{r}");
        assert!(!r.is_clean());
    }

    #[test]
    fn state_applied_twice_and_a_wrong_final_state_are_found() {
        // Every count of subtask 1 one too high: as if a record had been
        // counted twice before the first commit.
        let r = checked("double-count", |l| {
            if l[0].starts_with("1,") {
                for line in l.iter_mut() {
                    let f: Vec<u64> = line
                        .split(',')
                        .map(|x| x.parse().expect("number"))
                        .collect();
                    *line = format!("{},{},{},{}", f[0], f[1], f[2] + 1, f[3]);
                }
            }
        });
        assert_eq!(r.wrong_counts, EXPECTED.records / 2, "{r}");
        assert_eq!(r.final_state_mismatches, 2, "keys 1 and 3: {r}");
        assert_eq!((r.lost, r.duplicates), (0, 0));
    }

    #[test]
    fn a_corrupt_line_is_foreign_and_its_record_lost() {
        let r = checked("corrupt", |l| {
            if l[0].starts_with("0,") {
                l[3] = "0,1,2,not-a-checksum".into();
            }
        });
        assert_eq!((r.foreign, r.lost), (1, 1), "{r}");
    }

    #[test]
    fn commit_order_sorts_checkpoints_numerically_and_the_end_last() {
        assert_eq!(commit_order("part-2-0000000010.csv"), Some((2, 10)));
        assert_eq!(commit_order("part-2-end.csv"), Some((2, u64::MAX)));
        assert_eq!(commit_order(".in-progress"), None);
        assert_eq!(commit_order("part-x-1.csv"), None);
        assert_eq!(parse::<3>("1,2,3"), Some([1, 2, 3]));
        assert_eq!(parse::<3>("1,2,3,4"), None);
        assert_eq!(parse::<3>("1,2"), None);
    }
}
