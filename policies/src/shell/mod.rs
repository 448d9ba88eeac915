//! Static analysis of a bash command string under a positive grammar: every simple command it
//! would run (in lists, pipelines, subshells, groups, `if`/`for`/`while`/`case`, command and
//! process substitutions), every redirection with the directory it happens in, every variable
//! it assigns — or, for any construct whose full meaning is not modelled, a refusal that names
//! it.

mod ansi_c;
pub mod vars;
mod walk;
mod words;

pub use words::{Arg, Dyn, literal_arithmetic};

/// Most nesting of command strings (substitutions within substitutions, `sh -c` within
/// `sh -c`) analysed.
pub const MAX_DEPTH: usize = 8;
/// Most simple commands analysed in one command string.
pub const MAX_COMMANDS: usize = 2000;
/// Longest command string analysed.
pub const MAX_LEN: usize = 256 * 1024;

/// Where a command runs, relative to the job's working directory: the possible sequences of
/// `cd` targets taken since the start (more than one when a `cd` may have failed), or unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cwd {
    Known(Vec<Vec<CdStep>>),
    Unknown,
}

/// One change of directory, as `cd` would take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdStep {
    pub target: String,
    /// `cd -P`: resolve symlinks first (physical); otherwise `..` is taken textually.
    pub physical: bool,
}

/// Most alternatives kept for the working directory before it counts as unknown.
const MAX_CWD_ALTERNATIVES: usize = 8;

impl Cwd {
    pub fn start() -> Self {
        Cwd::Known(vec![Vec::new()])
    }

    /// Every alternative of `self` or `other`.
    pub fn union(&self, other: &Cwd) -> Cwd {
        match (self, other) {
            (Cwd::Known(a), Cwd::Known(b)) => {
                let mut all = a.clone();
                for s in b {
                    if !all.contains(s) {
                        all.push(s.clone());
                    }
                }
                if all.len() > MAX_CWD_ALTERNATIVES {
                    Cwd::Unknown
                } else {
                    Cwd::Known(all)
                }
            }
            _ => Cwd::Unknown,
        }
    }

    /// After a successful `cd`.
    pub fn then(&self, step: CdStep) -> Cwd {
        match self {
            Cwd::Known(alts) => Cwd::Known(
                alts.iter()
                    .map(|a| {
                        let mut a = a.clone();
                        a.push(step.clone());
                        a
                    })
                    .collect(),
            ),
            Cwd::Unknown => Cwd::Unknown,
        }
    }
}

/// One simple command, as the shell would run it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The words after quote removal: program first.
    pub argv: Vec<Arg>,
    /// Variables assigned for this command only (`NAME=value cmd`): its environment.
    pub assignments: Vec<(String, Arg)>,
    /// Where it runs.
    pub cwd: Cwd,
}

impl Invocation {
    /// An invocation another program makes (`find -exec`, `xargs`), in the same directory.
    pub fn derived(&self, argv: Vec<Arg>) -> Invocation {
        Invocation {
            argv,
            assignments: Vec::new(),
            cwd: self.cwd.clone(),
        }
    }
}

/// What a redirection does with its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A redirection to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// The descriptor it opens (`2>` is 2; `>` is 1, `<` is 0).
    pub fd: i32,
    pub access: Access,
    pub target: Arg,
    pub cwd: Cwd,
}

/// Everything found in a command string.
#[derive(Debug, Default, Clone)]
pub struct Analysis {
    pub invocations: Vec<Invocation>,
    pub redirects: Vec<Redirect>,
    /// Reasons the string is refused: constructs not modelled.
    pub refusals: Vec<String>,
    /// Variables assigned in the shell itself (bare `NAME=value`, `for NAME in`).
    pub shell_assignments: Vec<String>,
    /// Descriptor duplications `N>&M` / `N<&M`, as (N, M).
    pub dups: Vec<(i32, i32)>,
}

impl Analysis {
    pub(crate) fn refuse(&mut self, reason: impl Into<String>) {
        let reason = crate::clip(reason.into());
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
        self.dups.extend(other.dups);
    }
}

/// Analyses `command` as bash would parse it, run from the job's working directory. Never
/// panics; bounded in depth (see [`crate::bounds`]).
pub fn analyse(command: &str) -> Analysis {
    crate::bounds::run(command, |budget| {
        analyse_at(command, 0, &Cwd::start(), budget)
    })
    .unwrap_or_else(|reason| {
        let mut a = Analysis::default();
        a.refuse(reason);
        a
    })
}

/// Analyses a command string nested at `depth`, run from `cwd`. Must run on a thread sized by
/// [`crate::bounds`]; `budget` is what that stack still allows.
pub(crate) fn analyse_at(
    command: &str,
    depth: usize,
    cwd: &Cwd,
    budget: &crate::bounds::Budget,
) -> Analysis {
    let mut a = Analysis::default();
    if depth > MAX_DEPTH {
        a.refuse(format!(
            "command strings nested deeper than {MAX_DEPTH} levels"
        ));
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
    // The top-level command was counted by `bounds::run`.
    if depth > 0
        && let Err(reason) = budget.take(command)
    {
        a.refuse(reason);
        return a;
    }
    let parsed = std::panic::catch_unwind(|| walk::parse(command));
    match parsed {
        Ok(Ok(program)) => {
            let mut walker = walk::Walker::new(depth, command, cwd.clone(), budget);
            walker.program(&program);
            a.absorb(walker.finish());
        }
        Ok(Err(e)) => a.refuse(e),
        Err(_) => a.refuse("the shell parser failed on this command"),
    }
    a
}
