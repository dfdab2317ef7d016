//! Golden-script tests: plain-text scripts whose commands a test runs and whose expected
//! output sits under each block, regenerated with `UPDATE_GOLDENFILES=1` and reviewed as
//! a diff.
//!
//! A script is a sequence of blocks: comment lines (`#`), command lines, a `---` line,
//! then the expected output, ended by a blank line. [`run`] hands each block's commands to
//! the caller and assembles the script with the actual output; [`compare_or_update`]
//! either asserts it equals the file (printing a readable diff) or rewrites the file.
//! The state machines' tests in `strait-control` and `strait-raft` use it.

use std::path::Path;

/// A block of a script: its input lines (comments, blank lines, commands), and the
/// expected output if the block has a `---` line.
struct Block {
    input: Vec<String>,
    /// The 1-based line number of each command.
    commands: Vec<(usize, String)>,
    expected: Option<Vec<String>>,
}

fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut block = Block {
        input: Vec::new(),
        commands: Vec::new(),
        expected: None,
    };
    for (i, line) in text.lines().enumerate() {
        match &mut block.expected {
            Some(_) if line.trim().is_empty() => {
                let next = Block {
                    input: vec![line.to_string()],
                    commands: Vec::new(),
                    expected: None,
                };
                blocks.push(std::mem::replace(&mut block, next));
            }
            Some(expected) => expected.push(line.to_string()),
            None if line == "---" => block.expected = Some(Vec::new()),
            None => {
                let trimmed = line.trim();
                if !trimmed.is_empty() && !trimmed.starts_with('#') {
                    block.commands.push((i + 1, trimmed.to_string()));
                }
                block.input.push(line.to_string());
            }
        }
    }
    blocks.push(block);
    blocks
}

/// Runs every block's commands, each with its 1-based line number, through `run` and
/// returns the script with the outputs produced in place of the expected ones.
pub fn run(text: &str, mut run: impl FnMut(&[(usize, String)]) -> String) -> String {
    let mut actual = String::new();
    for block in parse(text) {
        for line in &block.input {
            actual.push_str(line);
            actual.push('\n');
        }
        if block.commands.is_empty() && block.expected.is_none() {
            continue;
        }
        actual.push_str("---\n");
        actual.push_str(&run(&block.commands));
    }
    // Trailing blank lines of the file are not part of any block.
    let trimmed = actual.trim_end_matches('\n').len();
    actual.truncate(trimmed);
    actual.push('\n');
    actual
}

/// Rewrites the script with `UPDATE_GOLDENFILES=1`, or else panics with a diff when
/// the outputs differ from the expected ones.
pub fn compare_or_update(path: &Path, expected: &str, actual: &str) {
    if std::env::var("UPDATE_GOLDENFILES").is_ok_and(|v| v == "1") {
        if expected != actual {
            std::fs::write(path, actual).unwrap();
        }
        return;
    }
    if expected != actual {
        panic!(
            "{} differs from its expected output (rerun with UPDATE_GOLDENFILES=1 to accept):\n{}",
            path.display(),
            diff(expected, actual)
        );
    }
}

/// A line diff (`-` expected, `+` actual) with two lines of context around changes,
/// numbered by the lines of the script as it stands.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // Longest common subsequence table, from the ends.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', Some(i + 1), a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', Some(i + 1), a[i]));
            i += 1;
        } else {
            lines.push(('+', None, b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        let from = k.saturating_sub(2);
        let to = (k + 3).min(lines.len());
        lines[from..to].iter().any(|l| l.0 != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (tag, line_no, text)) in lines.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("   ...\n");
                skipped = false;
            }
            let line_no = line_no.map_or(String::new(), |n| n.to_string());
            out.push_str(&format!("{tag} {line_no:>4} | {text}\n"));
        } else {
            skipped = true;
        }
    }
    out
}
