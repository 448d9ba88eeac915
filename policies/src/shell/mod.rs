//! Static analysis of a bash command string: every simple command it would run, in pipelines,
//! lists, subshells, groups, loops, conditionals, command and process substitutions and
//! here-documents, with its words after quote removal — or the reasons it cannot be analysed.

mod walk;
mod words;

pub use words::Arg;

/// Most nesting (substitutions within substitutions, `sh -c` within `sh -c`) analysed.
pub const MAX_DEPTH: usize = 8;
/// Most simple commands analysed in one command string.
pub const MAX_COMMANDS: usize = 2000;
/// Longest command string analysed.
pub const MAX_LEN: usize = 256 * 1024;

/// One simple command, as the shell would run it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The words after quote removal: program first.
    pub argv: Vec<Arg>,
    /// Variables assigned for this command only (`NAME=value cmd`).
    pub assignments: Vec<(String, Arg)>,
}

/// A redirection target.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    pub target: Arg,
    pub write: bool,
}

/// Everything found in a command string.
#[derive(Debug, Default, Clone)]
pub struct Analysis {
    pub invocations: Vec<Invocation>,
    pub redirects: Vec<Redirect>,
    /// Reasons the string cannot be analysed with certainty.
    pub refusals: Vec<String>,
    /// Variables assigned in the shell itself (bare `NAME=value`, `export`, `for NAME in`...).
    pub shell_assignments: Vec<String>,
    /// The string contains an arithmetic context (`$(( ))`, `(( ))`, `[[ -eq ]]`, `let`,
    /// array subscripts), where bash evaluates variable contents as code.
    pub arithmetic: bool,
    /// Some literal text contains `$(` or a backtick: harmless as text, unless an arithmetic
    /// context evaluates it.
    pub quoted_substitution_text: bool,
    /// The string changes directory (`cd`, `pushd`, `popd`), so relative paths after it are not
    /// relative to the job's working directory.
    pub changes_directory: bool,
}

impl Analysis {
    pub(crate) fn refuse(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        if !self.refusals.contains(&reason) {
            self.refusals.push(reason);
        }
    }

    /// Merges a nested analysis (a substitution, an `sh -c` string) into this one.
    pub(crate) fn absorb(&mut self, other: Analysis) {
        self.invocations.extend(other.invocations);
        self.redirects.extend(other.redirects);
        for r in other.refusals {
            self.refuse(r);
        }
        self.shell_assignments.extend(other.shell_assignments);
        self.arithmetic |= other.arithmetic;
        self.quoted_substitution_text |= other.quoted_substitution_text;
        self.changes_directory |= other.changes_directory;
    }
}

/// Analyses `command` as bash would parse it. Never panics: a parser panic is a refusal.
pub fn analyse(command: &str) -> Analysis {
    analyse_at(command, 0)
}

pub(crate) fn analyse_at(command: &str, depth: usize) -> Analysis {
    let mut a = Analysis::default();
    if depth > MAX_DEPTH {
        a.refuse(format!("nesting deeper than {MAX_DEPTH} levels"));
        return a;
    }
    if command.len() > MAX_LEN {
        a.refuse(format!("the command is longer than {MAX_LEN} bytes"));
        return a;
    }
    if let Some(reason) = crate::danger::bad_characters(command) {
        a.refuse(reason);
        return a;
    }
    let parsed = std::panic::catch_unwind(|| walk::parse(command));
    match parsed {
        Ok(Ok(program)) => {
            let mut walker = walk::Walker::new(depth, command);
            walker.program(&program);
            a.absorb(walker.finish());
        }
        Ok(Err(e)) => a.refuse(format!("cannot parse the command: {e}")),
        Err(_) => a.refuse("the shell parser failed on this command"),
    }
    a
}
