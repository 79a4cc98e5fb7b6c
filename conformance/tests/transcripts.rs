//! Every documented example of both command references, replayed against the
//! module in its container (one container per transcript, so examples cannot leak
//! state into each other), checked against the documentation and a snapshot.
//!
//! Run with `cargo xtask conformance`, which builds the image first.

use anyhow::{Context, Result};
use conformance::container::GearsContainer;
use conformance::replay::{replay, Replay};
use conformance::transcript::{self, Transcript};
use conformance::{pending, transcripts_dir};
use std::path::{Path, PathBuf};

fn transcript_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(transcript_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "txt") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn run(transcript: &Transcript) -> Result<Replay> {
    let container = GearsContainer::start(&transcript.module_args)?;
    let mut client = container.client()?;
    replay(transcript, &mut client)
}

fn snapshot_name(transcript: &Transcript) -> String {
    transcript.name.replace(['/', '.'], "_")
}

#[test]
fn every_documented_example() -> Result<()> {
    let root = transcripts_dir();
    let pending = pending::load(&root.join("pending.toml"))?;
    let transcripts = transcript_files(&root)?
        .iter()
        .map(|path| transcript::load(&root, path))
        .collect::<Result<Vec<_>>>()?;

    let mut failures = Vec::new();
    for name in pending.keys() {
        if !transcripts.iter().any(|t| &t.name == name) {
            failures.push(format!(
                "pending.toml lists {name}, which has no transcript"
            ));
        }
    }

    let (mut passed, mut still_pending) = (0, 0);
    for transcript in &transcripts {
        let outcome = run(transcript).with_context(|| format!("replaying {}", transcript.name));
        if let Some(waits_for) = pending.get(&transcript.name) {
            match outcome {
                Ok(replay) if replay.matched() && replay.snapshot_only == 0 => {
                    failures.push(format!(
                        "{} now passes: remove it from pending.toml (it waited for {waits_for})",
                        transcript.name
                    ))
                }
                _ => {
                    still_pending += 1;
                    println!("pending  {} (waits for {waits_for})", transcript.name);
                }
            }
            continue;
        }
        let replay = match outcome {
            Ok(replay) => replay,
            Err(error) => {
                failures.push(format!("{}: {error:#}", transcript.name));
                continue;
            }
        };
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_description(format!("transcripts/{}.txt", transcript.name));
        let snapshot = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(snapshot_name(transcript), replay.snapshot));
        }));
        let mut problems = replay.mismatches.clone();
        if snapshot.is_err() {
            problems.push("the snapshot differs (see the diff above)".to_owned());
        }
        if problems.is_empty() {
            passed += 1;
            println!("passed   {}", transcript.name);
        } else {
            failures.push(format!("{}:\n{}", transcript.name, problems.join("\n")));
        }
    }

    println!("conformance: {passed} passed, {still_pending} pending");
    println!(
        "conformance: {passed} passed, {} failed, {still_pending} skipped",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "conformance failures:\n\n{}",
        failures.join("\n\n")
    );
    Ok(())
}

/// The harness must be able to fail: a transcript whose documented replies are wrong
/// is caught step by step, and a doc-differs step is left to the snapshot.
#[test]
fn a_wrong_documented_reply_is_caught() -> Result<()> {
    let transcript = transcript::parse(
        "self-check",
        "\
redis> RG.CONFIGGET MaxExecutions
1) (integer) 999
redis> RG.CONFIGGET foo
1) \"bar\"
#! doc-differs: left to the snapshot
redis> RG.CONFIGSET ExecutionThreads 5
1) OK
redis> RG.CONFIGGET ProfileExecutions
1) (integer) 0
",
    )?;
    let replay = run(&transcript)?;
    assert_eq!(replay.mismatches.len(), 2, "{:#?}", replay.mismatches);
    assert!(
        replay.mismatches[0].contains("(integer) 1000"),
        "{}",
        replay.mismatches[0]
    );
    assert!(
        replay.mismatches[1].contains("Unsupported config parameter: foo"),
        "{}",
        replay.mismatches[1]
    );
    assert_eq!(replay.snapshot_only, 1);
    assert!(replay
        .snapshot
        .contains("1) (error) (error) Config value ExecutionThreads not modifiable at runtime"));
    Ok(())
}
