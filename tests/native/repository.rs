//! Rules for the repository's own files: nothing in them points at one machine, and every
//! model card keeps the model-card template's sections.

use std::path::Path;
use std::process::Command;

/// The files git tracks, relative to the checkout.
fn tracked_files() -> Vec<String> {
    let o = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs (the tests run in a git checkout)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A scratch folder or home folder of one machine, in any text file but `.ci/run` (whose
/// target folder is CI's own): a reader cannot follow it.
#[test]
fn no_tracked_file_names_a_machine_path() {
    // Spelt in pieces, so that this file does not match itself.
    let patterns = [
        ["/var", "/tmp"].concat(),
        ["/ro", "ot/"].concat(),
        ["/ho", "me/"].concat(),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = tracked_files();
    assert!(files.len() > 50, "{} tracked files", files.len());
    let mut found = Vec::new();
    for file in files.iter().filter(|f| *f != ".ci/run") {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue; // binary: weights, images
        };
        for (n, line) in text.lines().enumerate() {
            if patterns.iter().any(|p| line.contains(p.as_str())) {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "machine paths:\n{}", found.join("\n"));
}

#[test]
fn every_model_card_has_the_template_sections() {
    let sections = [
        "## Summary",
        "## Intended use",
        "## Out of scope",
        "## Training data",
        "## Evaluation",
        "## Bias, risks and limitations",
        "## How to train it again",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cards: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| f.starts_with("models/") && f.ends_with("/README.md"))
        .collect();
    assert_eq!(cards.len(), 7, "{cards:?}");
    for card in cards {
        let text = std::fs::read_to_string(root.join(&card)).unwrap();
        let missing: Vec<&str> = sections
            .iter()
            .copied()
            .filter(|s| !text.contains(s))
            .collect();
        assert!(missing.is_empty(), "{card} lacks {missing:?}");
    }
}
