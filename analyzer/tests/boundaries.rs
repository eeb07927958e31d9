//! Suggested service boundaries on the shop monolith, against its ground
//! truth, at default settings: the figures must not regress.

use std::path::Path;

use strangler_analyzer::cluster::{Granularity, SuggestConfig, read_truth, score, suggest};
use strangler_analyzer::{Config, analyze};

fn shop() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/shop-monolith")
}

#[test]
fn shop_matches_its_ground_truth_at_default_settings() {
    let analysis = analyze(&shop(), &Config::default()).unwrap();
    let truth =
        read_truth(&std::fs::read_to_string(shop().join("ground-truth.toml")).unwrap()).unwrap();
    let mut suggestion = suggest(&analysis, &SuggestConfig::default()).unwrap();
    score(&analysis, &mut suggestion, &truth);
    let (mojofm, ari) = (suggestion.mojofm.unwrap(), suggestion.ari.unwrap());
    // Every unit of the reference is scored, its shared ones included, and
    // the analysis has all of them.
    let comparison = suggestion.comparison.as_ref().unwrap();
    assert_eq!(
        (comparison.scored, comparison.missing.len()),
        (truth.len(), 0),
        "{comparison:?}"
    );
    let services: Vec<String> = suggestion
        .services
        .iter()
        .map(|s| format!("{}: {:?} {:?}", s.name, s.members, s.tables))
        .collect();
    assert!(
        mojofm >= 85.0,
        "MoJoFM {mojofm:.1}\n{}",
        services.join("\n")
    );
    assert!(ari >= 0.8, "ARI {ari:.3}\n{}", services.join("\n"));
    // The infrastructure every area uses is left out as shared, not forced
    // into a business service.
    for shared in ["shop::util::error", "shop::db::pool", "shop::app"] {
        assert!(
            suggestion.shared.iter().any(|s| s == shared),
            "{shared} not shared: {:?}",
            suggestion.shared
        );
    }
}

#[test]
fn seeds_agree_closely() {
    // Not a timing or fixture rule: the default seed is not a lucky one.
    let analysis = analyze(&shop(), &Config::default()).unwrap();
    let truth =
        read_truth(&std::fs::read_to_string(shop().join("ground-truth.toml")).unwrap()).unwrap();
    let mut scores = Vec::new();
    for seed in 0..8 {
        let mut s = suggest(
            &analysis,
            &SuggestConfig {
                seed,
                ..SuggestConfig::default()
            },
        )
        .unwrap();
        score(&analysis, &mut s, &truth);
        scores.push(s.mojofm.unwrap());
    }
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    assert!(mean >= 80.0, "mean MoJoFM over seeds {mean:.1}: {scores:?}");
}

#[test]
fn output_is_identical_across_runs() {
    let analysis = analyze(&shop(), &Config::default()).unwrap();
    let a = serde_json::to_string(&suggest(&analysis, &SuggestConfig::default()).unwrap()).unwrap();
    let b = serde_json::to_string(&suggest(&analysis, &SuggestConfig::default()).unwrap()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn file_granularity_is_scored_through_the_modules_files_hold() {
    // The reference names modules; at file granularity each module is
    // scored where its file is, so every unit is found and the score means
    // something (comparing file ids with module ids matched only tables).
    let analysis = analyze(&shop(), &Config::default()).unwrap();
    let truth =
        read_truth(&std::fs::read_to_string(shop().join("ground-truth.toml")).unwrap()).unwrap();
    let mut suggestion = suggest(
        &analysis,
        &SuggestConfig {
            granularity: Granularity::File,
            ..SuggestConfig::default()
        },
    )
    .unwrap();
    score(&analysis, &mut suggestion, &truth);
    // Today: MoJoFM 75.4, ARI 0.623 (one-service baseline 1.8); no floor
    // is held here yet, as file granularity is not tuned.
    let comparison = suggestion.comparison.unwrap();
    assert_eq!(
        (comparison.scored, comparison.missing.len()),
        (truth.len(), 0),
        "{comparison:?}"
    );
    assert!(
        comparison.mojofm > comparison.baseline_mojofm,
        "{comparison:?}"
    );
}

#[test]
fn code_is_tied_to_the_tables_its_calls_reach() {
    use strangler_analyzer::cluster::{Coupling, Weights};
    let analysis = analyze(&shop(), &Config::default()).unwrap();
    let coupling = Coupling::build(&analysis, Granularity::Module, &Weights::default());
    // Checkout reserves stock through `inventory::stock::reserve`: no SQL
    // of its own on `stock_levels`, but a tie all the same, at a share of
    // the weight of a direct write.
    let tie = coupling
        .ties("shop::orders::checkout")
        .find(|t| t.other == "table:stock_levels")
        .expect("checkout is tied to stock_levels");
    assert_eq!(tie.evidence.writes, 0);
    assert!(tie.evidence.writes_through_calls >= 1, "{:?}", tie.evidence);
    let w = Weights::default();
    let e = tie.evidence;
    let expected = w.reads * f64::from(e.reads)
        + w.writes * strangler_analyzer::cluster::REACHED_SHARE * f64::from(e.writes_through_calls)
        + w.reads * strangler_analyzer::cluster::REACHED_SHARE * f64::from(e.reads_through_calls);
    assert!((tie.weight - expected).abs() < 1e-9, "{}", tie.weight);
    // Migration bookkeeping is no unit.
    assert!(
        !coupling
            .units()
            .iter()
            .any(|u| u.id == "table:schema_migrations")
    );
}
