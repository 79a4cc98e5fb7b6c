//! Replaying one transcript against a real server.
//!
//! Each step's command is sent (with documented ids replaced by the ids the server
//! really handed out), the real reply is normalized and rendered into the snapshot
//! text, and compared with the documented reply normalized the same way. A
//! `doc-differs` step is left to the snapshot, which follows the real behaviour.

use crate::client::Client;
use crate::normalize::Normalizer;
use crate::redis_cli;
use crate::transcript::{StepKind, Transcript};
use anyhow::Result;
use gears_protocol::Reply;
use regex::Regex;
use std::collections::HashMap;

/// What replaying a transcript showed.
#[derive(Debug, Default)]
pub struct Replay {
    /// The normalized session, for the snapshot.
    pub snapshot: String,
    /// Steps whose reply differs from the documented (or our) expectation.
    pub mismatches: Vec<String>,
    /// Steps checked by the snapshot only (`doc-differs`).
    pub snapshot_only: usize,
}

impl Replay {
    /// True when every checked step matched.
    pub fn matched(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Replays `transcript` on `client`'s server.
pub fn replay(transcript: &Transcript, client: &mut Client) -> Result<Replay> {
    let gears_id = Regex::new(r"^[0-9A-Za-z]{40}-\d+$")?;
    let mut learned: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut normalizer = Normalizer::new();
    let mut result = Replay::default();
    for (index, step) in transcript.steps.iter().enumerate() {
        let args: Vec<Vec<u8>> = step
            .args
            .iter()
            .map(|arg| substitute(arg, &learned))
            .collect();
        let actual = client.call(&args)?;
        let documented = if step.raw_reply {
            Ok(Reply::bulk(step.documented.as_bytes()))
        } else {
            redis_cli::parse(&step.documented)
        };
        if let Ok(documented) = &documented {
            learn_ids(documented, &actual, &gears_id, &mut learned);
        }
        let actual_text = rewrite(
            transcript,
            &render(step.raw_reply, &normalizer.reply(&actual)),
        );
        result.snapshot.push_str(&format!(
            "{}> {}\n{}\n",
            step.prompt, step.command_line, actual_text
        ));
        if let StepKind::DocDiffers(_) = step.kind {
            result.snapshot_only += 1;
            continue;
        }
        let expected_text = match &documented {
            Ok(documented) => {
                let documented = replace_ids(documented, &learned);
                rewrite(
                    transcript,
                    &render(step.raw_reply, &normalizer.reply(&documented)),
                )
            }
            Err(error) => {
                result.mismatches.push(format!(
                    "step {} `{}`: the documented reply does not parse: {error:#}",
                    index + 1,
                    step.command_line
                ));
                continue;
            }
        };
        if expected_text != actual_text {
            result.mismatches.push(format!(
                "step {} `{}`:\n--- expected ({})\n{expected_text}\n--- actual\n{actual_text}",
                index + 1,
                step.command_line,
                match &step.kind {
                    StepKind::NotInDoc(why) => format!("ours: {why}"),
                    _ => "documented".to_owned(),
                },
            ));
        }
    }
    Ok(result)
}

fn render(raw: bool, reply: &Reply) -> String {
    match (raw, reply) {
        (true, Reply::Bulk(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        _ => redis_cli::render(reply).trim_end_matches('\n').to_owned(),
    }
}

fn rewrite(transcript: &Transcript, text: &str) -> String {
    transcript
        .normalizers
        .iter()
        .fold(text.to_owned(), |text, (pattern, replacement)| {
            pattern
                .replace_all(&text, replacement.as_str())
                .into_owned()
        })
}

/// Records `documented id → real id` wherever the two replies hold ids at the same place.
fn learn_ids(
    documented: &Reply,
    actual: &Reply,
    gears_id: &Regex,
    learned: &mut HashMap<Vec<u8>, Vec<u8>>,
) {
    match (documented, actual) {
        (Reply::Array(doc), Reply::Array(real)) => {
            for (doc, real) in doc.iter().zip(real) {
                learn_ids(doc, real, gears_id, learned);
            }
        }
        _ => {
            if let (Some(doc), Some(real)) = (text_of(documented), text_of(actual)) {
                if doc != real && gears_id.is_match(doc) && gears_id.is_match(real) {
                    learned.insert(doc.as_bytes().to_vec(), real.as_bytes().to_vec());
                }
            }
        }
    }
}

fn text_of(reply: &Reply) -> Option<&str> {
    match reply {
        Reply::Bulk(bytes) => std::str::from_utf8(bytes).ok(),
        Reply::Simple(text) => Some(text),
        _ => None,
    }
}

fn replace_ids(reply: &Reply, learned: &HashMap<Vec<u8>, Vec<u8>>) -> Reply {
    match reply {
        Reply::Array(items) => {
            Reply::Array(items.iter().map(|i| replace_ids(i, learned)).collect())
        }
        Reply::Bulk(bytes) => Reply::Bulk(substitute(bytes, learned)),
        Reply::Simple(text) => Reply::Simple(
            String::from_utf8_lossy(&substitute(text.as_bytes(), learned)).into_owned(),
        ),
        Reply::Error(text) => Reply::Error(
            String::from_utf8_lossy(&substitute(text.as_bytes(), learned)).into_owned(),
        ),
        other => other.clone(),
    }
}

/// Replaces every learned documented id inside `bytes` with the real one.
fn substitute(bytes: &[u8], learned: &HashMap<Vec<u8>, Vec<u8>>) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (doc, real) in learned {
        if doc.is_empty() {
            continue;
        }
        let mut replaced = Vec::with_capacity(out.len());
        let mut index = 0;
        while index < out.len() {
            if out[index..].starts_with(doc) {
                replaced.extend_from_slice(real);
                index += doc.len();
            } else {
                replaced.push(out[index]);
                index += 1;
            }
        }
        out = replaced;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_ids_rewrite_later_commands_and_replies() {
        let doc_id = format!("{}-4", "0".repeat(40));
        let real_id = format!("{}-0", "0".repeat(40));
        let gears_id = Regex::new(r"^[0-9A-Za-z]{40}-\d+$").expect("pattern");
        let mut learned = HashMap::new();
        learn_ids(
            &Reply::bulk(doc_id.clone()),
            &Reply::bulk(real_id.clone()),
            &gears_id,
            &mut learned,
        );
        assert_eq!(
            substitute(format!("RG.GETRESULTS {doc_id}").as_bytes(), &learned),
            format!("RG.GETRESULTS {real_id}").into_bytes()
        );
        assert_eq!(
            replace_ids(&Reply::array([Reply::bulk(doc_id)]), &learned),
            Reply::array([Reply::bulk(real_id)])
        );
    }
}
