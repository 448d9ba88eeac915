//! Bounded work: parsing and walking a command recurse once per level of nesting, and a
//! command string of a few kilobytes can nest thousands of levels (`{ { { ...`, `$( $( ...`,
//! `if if if ...`). A stack overflow aborts the whole process — the server and every job — so
//! the analysis runs with a stack known to be large enough for the nesting it may meet, and
//! anything nested deeper is refused.
//!
//! How deep a string can nest is bounded from above, without parsing it, by counting the
//! tokens that can open a level (brackets, braces, parentheses, backquotes, `!`, `&&`, `||`,
//! and compound-command keywords): quotes are ignored, so the count only over-estimates.
//! Commands with few such tokens are analysed on the caller's thread; others on a thread whose
//! stack is sized for the count; beyond [`MAX_TOKENS`], the command is refused.

use std::cell::Cell;

/// Stack allowed per nesting token: brush-parser and the walk use under 8 KiB per level in an
/// optimised build (measured: 1000 levels of `{`, `$(`, `${x:-`, `if`, `[[ (` parse within
/// 8 MiB), and over 16 KiB without optimisation (4000 levels of `{` overflowed 64 MiB).
#[cfg(not(debug_assertions))]
const STACK_PER_TOKEN: usize = 16 * 1024;
#[cfg(debug_assertions)]
const STACK_PER_TOKEN: usize = 64 * 1024;
/// Stack for everything that does not nest.
const BASE_STACK: usize = 512 * 1024;
/// Nesting tokens analysed on the caller's thread (a thread of 2 MiB, as tokio's workers, has
/// room for 16 of them even unoptimised).
const INLINE_TOKENS: usize = 16;
/// Most nesting tokens analysed at all, over every command string the analysis parses (nested
/// ones included): a 64 MiB stack, reserved, not used, unless the command nests that deep.
pub const MAX_TOKENS: usize = 4096;

const KEYWORDS: &[&str] = &[
    "if", "then", "elif", "else", "while", "until", "for", "do", "case", "select", "function",
    "coproc", "time",
];

/// An upper bound on the nesting depth of `text` when parsed as bash.
pub fn nesting_tokens(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut n = 0;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'(' | b'{' | b'[' | b'`' | b'!' => n += 1,
            b'&' | b'|' if bytes.get(i + 1) == Some(b) => n += 1,
            _ => {}
        }
    }
    n + text
        .split(|c: char| c.is_ascii_whitespace() || ";&|()<>`".contains(c))
        .filter(|w| KEYWORDS.contains(w))
        .count()
}

/// What the current thread's stack still allows.
pub struct Budget {
    left: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Budget {
    fn new(tokens: usize) -> Self {
        Self {
            left: Cell::new(tokens),
            exceeded: Cell::new(false),
        }
    }

    /// Takes what parsing `text` may need; refuses when the stack would not hold it.
    pub fn take(&self, text: &str) -> Result<(), String> {
        let need = nesting_tokens(text);
        match self.left.get().checked_sub(need) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.exceeded.set(true);
                Err(too_deep())
            }
        }
    }
}

/// Runs `f` with a stack large enough for what it may parse. `Err` when even the largest
/// allowed stack would not do (or the thread could not start).
pub fn run<T: Send>(text: &str, f: impl Fn(&Budget) -> T + Send + Sync) -> Result<T, String> {
    // The command itself is counted once, here; `f` charges only the strings nested in it.
    let top = nesting_tokens(text);
    if top > MAX_TOKENS {
        return Err(too_deep());
    }
    if top <= INLINE_TOKENS {
        let budget = Budget::new(INLINE_TOKENS - top);
        let out = f(&budget);
        if !budget.exceeded.get() {
            return Ok(out);
        }
    }
    let stack = BASE_STACK + STACK_PER_TOKEN * MAX_TOKENS;
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("policy-check".into())
            .stack_size(stack)
            .spawn_scoped(s, || {
                let budget = Budget::new(MAX_TOKENS - top);
                let out = f(&budget);
                (out, budget.exceeded.get())
            })
            .map_err(|e| format!("cannot start the analysis: {e}"))?;
        match handle.join() {
            Ok((_, true)) => Err(too_deep()),
            Ok((out, false)) => Ok(out),
            Err(_) => Err("the analysis failed on this command".to_string()),
        }
    })
}

fn too_deep() -> String {
    format!(
        "the command nests too deeply to analyse (more than {MAX_TOKENS} brackets, \
substitutions, keywords or operators that open a level)"
    )
}

#[cfg(test)]
mod tests {
    use super::nesting_tokens;

    #[test]
    fn counts_what_opens_a_level() {
        assert_eq!(nesting_tokens("cargo build --release"), 0);
        assert_eq!(nesting_tokens("echo $(ls) && { ls; }"), 3);
        assert_eq!(nesting_tokens("if true; then ls; fi"), 2);
        assert_eq!(nesting_tokens("diff a b"), 0);
    }
}
