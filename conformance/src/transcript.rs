//! Transcripts: a documented example, as the command reference prints it.
//!
//! A transcript file holds prompts (`redis> ` or `127.0.0.1:6379> `) followed by the
//! command, and under each the reply exactly as the reference prints it (redis-cli
//! form). Lines starting with `# ` are comments. Directives start with `#! `:
//!
//! - `#! module-args: k v ...`: module arguments for the server of this transcript;
//! - `#! normalize: <regex> => <replacement>`: an extra rewrite of both the documented
//!   and the real reply text (for output such as profiler timings);
//! - before a step, `#! not-in-doc: <why>`: a step we added (setup the example needs);
//!   its expected reply is ours, not the reference's;
//! - before a step, `#! doc-differs: <why>`: the reference's reply differs from
//!   RedisGears' real behaviour (a DOC≠CODE note of behaviour.md); the step is
//!   checked by its snapshot only, which follows the real behaviour;
//! - before a step, `#! raw-reply`: the documented reply is the raw text of a bulk
//!   string (the reference printed it without redis-cli quoting).

use anyhow::{bail, Context, Result};
use regex::Regex;
use std::path::Path;

/// Why a step is there and how its documented reply is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// A step of the documented example: the reply must match the documented one.
    Documented,
    /// A step added to make the example runnable: the reply must match ours.
    NotInDoc(String),
    /// The reference is wrong here: only the snapshot checks the reply.
    DocDiffers(String),
}

/// One command and its documented reply.
#[derive(Clone, Debug)]
pub struct Step {
    /// The prompt as printed (`redis>`).
    pub prompt: String,
    /// The command line as printed.
    pub command_line: String,
    /// The command split into arguments, redis-cli style.
    pub args: Vec<Vec<u8>>,
    /// The documented reply, as printed.
    pub documented: String,
    /// The documented reply is raw bulk text.
    pub raw_reply: bool,
    /// How the documented reply is used.
    pub kind: StepKind,
}

/// A whole transcript file.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// Its path under the transcripts directory, without extension (`v1.0/rg.configget`).
    pub name: String,
    /// Module arguments for its server.
    pub module_args: Vec<String>,
    /// Extra rewrites of reply text.
    pub normalizers: Vec<(Regex, String)>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Reads one transcript file.
pub fn load(root: &Path, path: &Path) -> Result<Transcript> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path
        .strip_prefix(root)
        .unwrap_or(path)
        .with_extension("")
        .to_string_lossy()
        .into_owned();
    parse(&name, &text).with_context(|| format!("in transcript {}", path.display()))
}

/// Parses transcript text.
pub fn parse(name: &str, text: &str) -> Result<Transcript> {
    let prompt = Regex::new(r"^(redis|[0-9.]+:\d+)> (.*)$")?;
    let mut transcript = Transcript {
        name: name.to_owned(),
        module_args: Vec::new(),
        normalizers: Vec::new(),
        steps: Vec::new(),
    };
    let mut pending_kind = StepKind::Documented;
    let mut pending_raw = false;
    let mut current: Option<Step> = None;
    for (number, line) in text.lines().enumerate() {
        let context = || format!("line {}", number + 1);
        if let Some(directive) = line.strip_prefix("#! ") {
            finish(&mut transcript, &mut current);
            let (key, value) = directive.split_once(':').unwrap_or((directive, ""));
            let value = value.trim();
            match key.trim() {
                "module-args" => transcript
                    .module_args
                    .extend(value.split_whitespace().map(str::to_owned)),
                "normalize" => {
                    let (pattern, replacement) = value.split_once(" => ").with_context(|| {
                        format!("{}: normalize needs `regex => replacement`", context())
                    })?;
                    transcript
                        .normalizers
                        .push((Regex::new(pattern)?, replacement.to_owned()));
                }
                "not-in-doc" => pending_kind = StepKind::NotInDoc(value.to_owned()),
                "doc-differs" => pending_kind = StepKind::DocDiffers(value.to_owned()),
                "raw-reply" => pending_raw = true,
                other => bail!("{}: unknown directive {other:?}", context()),
            }
            continue;
        }
        if let Some(captures) = prompt.captures(line) {
            finish(&mut transcript, &mut current);
            let command_line = captures[2].to_owned();
            let args = split_args(&command_line).with_context(context)?;
            if args.is_empty() {
                bail!("{}: an empty command", context());
            }
            current = Some(Step {
                prompt: captures[1].to_owned(),
                command_line,
                args,
                documented: String::new(),
                raw_reply: std::mem::take(&mut pending_raw),
                kind: std::mem::replace(&mut pending_kind, StepKind::Documented),
            });
            continue;
        }
        let is_comment = line.starts_with("# ") || line == "#";
        match current.as_mut() {
            Some(step) if step.raw_reply || (!is_comment && !line.trim().is_empty()) => {
                step.documented.push_str(line);
                step.documented.push('\n');
            }
            Some(_) => {}
            None if is_comment || line.trim().is_empty() => {}
            None => bail!("{}: a reply line before any command: {line:?}", context()),
        }
    }
    finish(&mut transcript, &mut current);
    if transcript.steps.is_empty() {
        bail!("a transcript without commands");
    }
    Ok(transcript)
}

fn finish(transcript: &mut Transcript, current: &mut Option<Step>) {
    if let Some(mut step) = current.take() {
        let trimmed = step.documented.trim_end_matches('\n').len();
        step.documented.truncate(trimmed);
        transcript.steps.push(step);
    }
}

/// Splits a command line as redis-cli does (`sdssplitargs`): blanks separate words,
/// double quotes allow `\n \r \t \b \a \\ \" \xHH`, single quotes allow `\'`.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut index = 0;
    loop {
        while index < bytes.len() && bytes[index].is_ascii_whitespace() {
            index += 1;
        }
        if index >= bytes.len() {
            return Ok(args);
        }
        let mut word = Vec::new();
        match bytes[index] {
            b'"' => {
                index += 1;
                loop {
                    match bytes.get(index) {
                        None => bail!("unbalanced double quotes in {line:?}"),
                        Some(b'"') => {
                            index += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let (byte, next) = crate::redis_cli::unescape_at(bytes, index)
                                .with_context(|| format!("in {line:?}"))?;
                            word.push(byte);
                            index = next;
                        }
                        Some(&byte) => {
                            word.push(byte);
                            index += 1;
                        }
                    }
                }
            }
            b'\'' => {
                index += 1;
                loop {
                    match bytes.get(index) {
                        None => bail!("unbalanced single quotes in {line:?}"),
                        Some(b'\'') => {
                            index += 1;
                            break;
                        }
                        Some(b'\\') if bytes.get(index + 1) == Some(&b'\'') => {
                            word.push(b'\'');
                            index += 2;
                        }
                        Some(&byte) => {
                            word.push(byte);
                            index += 1;
                        }
                    }
                }
            }
            _ => {
                while index < bytes.len() && !bytes[index].is_ascii_whitespace() {
                    word.push(bytes[index]);
                    index += 1;
                }
            }
        }
        if index < bytes.len() && !bytes[index].is_ascii_whitespace() {
            bail!("a closing quote must be followed by a blank in {line:?}");
        }
        args.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_redis_cli() {
        let args = split_args(
            r#"RG.PYEXECUTE "GB().map(lambda x: \"a\\nb\").run()" UNBLOCKING 'it\'s' "\x41""#,
        )
        .expect("valid line");
        assert_eq!(
            args,
            vec![
                b"RG.PYEXECUTE".to_vec(),
                b"GB().map(lambda x: \"a\\nb\").run()".to_vec(),
                b"UNBLOCKING".to_vec(),
                b"it's".to_vec(),
                b"A".to_vec()
            ]
        );
        assert!(split_args("a \"b").is_err());
        assert!(split_args("\"a\"b").is_err());
    }

    #[test]
    fn parses_steps_notes_and_directives() {
        let text = "\
# RG.CONFIGGET, commands-v1.0.md
#! module-args: Plugin /x.so
redis> RG.CONFIGGET ProfileExecutions
1) (integer) 0
#! doc-differs: the reference forgets the error
127.0.0.1:6379> RG.CONFIGGET foo
1) \"x\"

#! not-in-doc: setup
#! raw-reply
redis> PING
line one

line three
";
        let transcript = parse("t", text).expect("valid transcript");
        assert_eq!(transcript.module_args, vec!["Plugin", "/x.so"]);
        assert_eq!(transcript.steps.len(), 3);
        assert_eq!(transcript.steps[0].documented, "1) (integer) 0");
        assert_eq!(transcript.steps[0].kind, StepKind::Documented);
        assert_eq!(
            transcript.steps[1].kind,
            StepKind::DocDiffers("the reference forgets the error".into())
        );
        assert_eq!(transcript.steps[1].prompt, "127.0.0.1:6379");
        assert!(transcript.steps[2].raw_reply);
        assert_eq!(transcript.steps[2].documented, "line one\n\nline three");
        assert_eq!(transcript.steps[2].kind, StepKind::NotInDoc("setup".into()));
    }

    #[test]
    fn refuses_malformed_files() {
        assert!(parse("t", "1) (integer) 0\n").is_err());
        assert!(parse("t", "# nothing\n").is_err());
        assert!(parse("t", "#! bogus: x\nredis> PING\nPONG\n").is_err());
    }
}
