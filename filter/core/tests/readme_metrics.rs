//! The README's table of the filter's own metrics is [`own::ALL`]: the same families, in the
//! same order, with the same label keys. A family added in code without a row (or a row left
//! after its family went) fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llm_telemetry_core::catalogue::own;

const README: &str = include_str!("../../../README.md");

/// The rows of the table that follows "The filter's own metrics:": (name, label keys).
fn readme_rows() -> Vec<(String, Vec<String>)> {
    let table = README
        .split_once("The filter's own metrics:")
        .expect("README has the own-metrics table")
        .1;
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let labels = match cells[2] {
                "—" => Vec::new(),
                l => l.split(',').map(|k| k.trim().to_owned()).collect(),
            };
            (name, labels)
        })
        .collect()
}

#[test]
fn the_readme_lists_every_own_family_with_its_labels() {
    let listed: Vec<(String, Vec<String>)> = own::ALL
        .iter()
        .map(|f| {
            (
                f.name.to_owned(),
                f.labels.iter().map(|l| (*l).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(readme_rows(), listed);
}

/// Every family the filter emits has its exposition name in the README (LiteLLM's, spend's and
/// the gen_ai families): a family added without documentation fails here.
#[test]
fn the_readme_names_every_family_the_filter_emits() {
    use llm_telemetry_core::catalogue::{Kind, FAMILIES};
    let missing: Vec<String> = FAMILIES
        .iter()
        .map(|f| match f.kind {
            Kind::Counter => format!("{}_total", f.name),
            _ => f.name.to_owned(),
        })
        // Its name, or its series' (`_bucket`, `_sum`, `_count`) for a histogram.
        .filter(|name| {
            !README.contains(&format!("`{name}`")) && !README.contains(&format!("`{name}_"))
        })
        .collect();
    assert!(missing.is_empty(), "not in the README: {missing:?}");
}
