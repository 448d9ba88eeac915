//! From simple commands to the programs they run.
//!
//! A simple command can start more than one program: `sudo env X=1 nice cargo build` runs sudo,
//! env, nice and cargo; `find . -exec rm {} +` runs find and rm; `sh -c 'a; b'` runs a and b.
//! [`expand`] turns one invocation into *layers* (each program, outermost first), the nested
//! command strings to analyse, and the files programs write by their options — or the reasons
//! it cannot. Programs are read by their real option syntax ([`getopt`]): an option a table
//! does not know is refused for every program whose options can run code or write files.

mod builtins;
mod code;
pub mod getopt;
mod git;
mod programs;
mod sed;
mod wrappers;

use crate::shell::{Arg, Cwd, Invocation};

/// How a layer relates to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A program the rules must allow.
    Program,
    /// A wrapper that only changes how the next layer runs (`nice`, `timeout`, `env`...): it
    /// needs no allow rule of its own, though a deny rule can still name it.
    Transparent,
    /// A shell builtin used only in ways the engine models as harmless (`cd`, `echo`,
    /// `test`...): no allow rule needed, though a deny rule can still name it.
    Builtin,
}

/// One program a command runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// The program as written (after quote removal), possibly with a path.
    pub program: String,
    pub args: Vec<Arg>,
    pub role: Role,
    /// Set when the layer runs code that cannot be seen here (inline interpreter code, a
    /// tool's command hook): it then needs an allow rule that names this flag explicitly.
    pub opaque: Option<Opaque>,
}

/// Code run by a layer that the policy cannot see.
#[derive(Debug, Clone, PartialEq)]
pub struct Opaque {
    /// Why it is opaque.
    pub reason: String,
    /// The words an allow rule must name (e.g. `["python3", "-c"]`) to permit it.
    pub needs: Vec<String>,
}

impl Layer {
    /// `git status -s`
    pub fn display(&self) -> String {
        let mut s = Arg::Lit(self.program.clone()).display();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.display());
        }
        s
    }

    /// The program's file name (`rm` for `/bin/rm`).
    pub fn basename(&self) -> &str {
        self.program.rsplit('/').next().unwrap_or(&self.program)
    }
}

/// A file a program writes because of its options or operands (`tee FILE`, `sort -o FILE`,
/// `find -fprint FILE`, `sed -i`, `cp ... DEST`), judged like a redirection.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub target: Arg,
    pub cwd: Cwd,
    /// Who writes it, for messages.
    pub by: String,
    pub kind: WriteKind,
}

/// What a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// Creates or changes a file.
    File,
    /// May create a symlink there (`ln`, `cp -a`, `mv`): writes through it are refused.
    Link,
    /// Deletes it: not code in a protected place, so only the directory limits apply.
    Delete,
}

/// What one invocation runs.
#[derive(Debug, Default)]
pub struct Expansion {
    pub layers: Vec<Layer>,
    /// Command strings run by a shell (`sh -c STRING`, `su -c`, `watch`...), to analyse, with
    /// the directory they start in.
    pub nested: Vec<(String, Cwd)>,
    /// Further invocations (`find -exec`, `xargs CMD`), to expand and check in turn.
    pub inner: Vec<Invocation>,
    /// Reasons the invocation cannot be analysed.
    pub refusals: Vec<String>,
    /// Variables put in a program's environment (prefix assignments, `env NAME=value`,
    /// `export NAME`).
    pub assignments: Vec<(String, Arg)>,
    /// Variables a builtin assigns in the shell (`read NAME`, `declare NAME=`).
    pub shell_assignments: Vec<String>,
    /// Files written by options or operands.
    pub writes: Vec<Write>,
    /// Set by a program's inspection: the layer it returns `Step::Program` for is opaque.
    pub(crate) pending_opaque: Option<Opaque>,
    /// Set by a program's inspection: the arguments in canonical spelling (`--rec` is
    /// `--recursive`), which rules then see.
    pub(crate) pending_args: Option<Vec<Arg>>,
    /// Directories a program runs in, besides the command's (`git -C DIR`, `make -C DIR`).
    pub runs_in: Vec<String>,
    /// A program creates files its command line does not name (an archive, a checkout): any
    /// of them may be a symlink.
    pub creates_files: bool,
}

impl Expansion {
    pub(crate) fn refuse(&mut self, reason: impl Into<String>) {
        let reason = crate::clip(reason.into());
        if !self.refusals.contains(&reason) {
            self.refusals.push(reason);
        }
    }

    pub(crate) fn write(&mut self, inv: &Invocation, by: &str, target: Arg) {
        self.writes.push(Write {
            target,
            cwd: inv.cwd.clone(),
            by: by.to_string(),
            kind: WriteKind::File,
        });
    }

    /// A write that may create a symlink (or move one into place).
    pub(crate) fn write_link(&mut self, inv: &Invocation, by: &str, target: Arg) {
        self.writes.push(Write {
            target,
            cwd: inv.cwd.clone(),
            by: by.to_string(),
            kind: WriteKind::Link,
        });
    }

    /// A deletion.
    pub(crate) fn delete(&mut self, inv: &Invocation, by: &str, target: Arg) {
        self.writes.push(Write {
            target,
            cwd: inv.cwd.clone(),
            by: by.to_string(),
            kind: WriteKind::Delete,
        });
    }
}

/// What a program does with its arguments.
pub(crate) enum Step {
    /// It is the program: nothing more to peel.
    Program,
    /// A builtin used harmlessly.
    Builtin,
    /// It runs `inner` (when known): the words of the next program.
    Wrap { inner: Option<Vec<Arg>>, role: Role },
    /// It runs a command string with a shell.
    Shell { text: Arg, role: Role },
}

/// The layers of one invocation.
pub fn expand(inv: &Invocation) -> Expansion {
    let mut out = Expansion {
        assignments: inv.assignments.clone(),
        ..Expansion::default()
    };
    let mut argv: Vec<Arg> = inv.argv.clone();
    // Bounded: each step consumes at least the program word.
    for _ in 0..64 {
        let Some((first, rest)) = argv.split_first() else {
            return out;
        };
        let program = match first {
            Arg::Lit(p) => p.clone(),
            Arg::Dyn(d) => {
                out.refuse(format!(
                    "the program name {} is only known at run time (a variable, substitution \
or glob in command position)",
                    d.src
                ));
                return out;
            }
        };
        if let Some(reason) = crate::danger::bad_program_name(&program) {
            out.refuse(reason);
            return out;
        }
        let rest = rest.to_vec();
        let base = program.rsplit('/').next().unwrap_or(&program).to_string();
        let mut layer = Layer {
            program: program.clone(),
            args: rest.clone(),
            role: Role::Program,
            opaque: None,
        };
        let step = if !program.contains('/') && builtins::is_builtin(&base) {
            builtins::step(&base, &rest, inv, &mut out)
        } else {
            wrappers::step(&base, &rest, inv, &mut out)
                .or_else(|| code::step(&base, &mut layer, inv, &mut out))
                .or_else(|| git::step(&base, &mut layer, inv, &mut out))
                .or_else(|| programs::step(&base, &rest, inv, &mut out))
                .unwrap_or(Step::Program)
        };
        if let Some(o) = out.pending_opaque.take() {
            layer.opaque = Some(o);
        }
        if let Some(a) = out.pending_args.take() {
            layer.args = a;
        }
        match step {
            Step::Program => {
                out.layers.push(layer);
                return out;
            }
            Step::Builtin => {
                layer.role = Role::Builtin;
                out.layers.push(layer);
                return out;
            }
            Step::Shell { text, role } => {
                layer.role = role;
                out.layers.push(layer);
                match text {
                    Arg::Lit(t) => out.nested.push((t, inv.cwd.clone())),
                    Arg::Dyn(d) => out.refuse(format!(
                        "the shell command string {} is only known at run time",
                        d.src
                    )),
                }
                return out;
            }
            Step::Wrap { inner, role } => {
                layer.role = role;
                out.layers.push(layer);
                match inner {
                    Some(next) => argv = next,
                    None => return out,
                }
            }
        }
    }
    out.refuse("too many nested wrappers");
    out
}

/// Refuses words that could split into several (unquoted expansions, globs) where the count
/// of words matters; returns whether all were fine.
pub(crate) fn no_split(args: &[Arg], program: &str, out: &mut Expansion) -> bool {
    for a in args {
        if let Arg::Dyn(d) = a
            && d.could_split()
        {
            out.refuse(format!(
                "{program}: the unquoted word {} could become several words (or none) at run time; quote it",
                d.src
            ));
            return false;
        }
    }
    true
}
