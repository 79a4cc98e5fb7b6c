//! The pending manifest: transcripts whose commands land in a later issue.
//!
//! `transcripts/pending.toml` lists each with the issue it waits for. Pending
//! transcripts are still replayed; one that starts to pass must leave the manifest
//! (the run fails until it does), so nothing stays pending silently.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One manifest entry.
#[derive(Debug, Deserialize)]
struct Entry {
    transcript: String,
    waits_for: String,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    pending: Vec<Entry>,
}

/// Reads the manifest: transcript name → what it waits for.
pub fn load(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut pending = BTreeMap::new();
    for entry in manifest.pending {
        if entry.waits_for.trim().is_empty() {
            bail!("{}: say what it waits for", entry.transcript);
        }
        if pending
            .insert(entry.transcript.clone(), entry.waits_for)
            .is_some()
        {
            bail!("{} is listed twice in {}", entry.transcript, path.display());
        }
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_and_refuses_duplicates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pending.toml");
        std::fs::write(
            &path,
            "[[pending]]\ntranscript = \"a\"\nwaits_for = \"issue 3\"\n",
        )
        .expect("write");
        assert_eq!(
            load(&path).expect("valid").get("a").map(String::as_str),
            Some("issue 3")
        );
        std::fs::write(
            &path,
            "[[pending]]\ntranscript = \"a\"\nwaits_for = \"x\"\n[[pending]]\ntranscript = \"a\"\nwaits_for = \"y\"\n",
        )
        .expect("write");
        assert!(load(&path).is_err());
    }
}
