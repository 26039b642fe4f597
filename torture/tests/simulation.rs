//! The deterministic simulation of the coordinator's failover logic over
//! 1,000 seeds, each run twice: equal traces prove a seed replays the
//! same run, and every invariant must hold. A failure prints its seed;
//! `spate-torture sim --seed S` replays it.

use spate_torture::sim::simulate;

#[test]
fn a_thousand_seeds_of_kills_keep_every_failover_invariant_and_replay_exactly() {
    let mut kills = 0;
    let mut restores = 0;
    let mut coordinator_kills = 0;
    for seed in 0..1_000 {
        let first = simulate(seed);
        let again = simulate(seed);
        assert_eq!(
            first, again,
            "seed {seed} is not deterministic; replay with `spate-torture sim --seed {seed}`"
        );
        if let Some(v) = &first.violation {
            panic!("seed {seed}: {v}; replay with `spate-torture sim --seed {seed}`");
        }
        kills += first.kills;
        restores += first.restores;
        coordinator_kills += first.coordinator_kills;
    }
    // The seeds exercised failover, not only quiet runs: of workers, and
    // of the coordinator, which a new one resumes from its job record.
    assert!(
        kills > 1_000 && restores > 1_000 && coordinator_kills > 300,
        "{kills} kills, {coordinator_kills} coordinator kills, {restores} restores"
    );
}
