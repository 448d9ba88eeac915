//! From simple commands to the programs they run.
//!
//! A simple command can start more than one program: `sudo env X=1 nice cargo build` runs sudo,
//! env, nice and cargo; `find . -exec rm {} +` runs find and rm; `sh -c 'a; b'` runs a and b.
//! [`expand`] turns one invocation into *layers* (each program, outermost first) and the
//! nested command strings to analyse, or the reasons it cannot.

mod code;
mod git;
mod wrappers;

use crate::shell::{Arg, Invocation};

/// How a layer relates to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A program the rules must allow.
    Program,
    /// A wrapper that only changes how the next layer runs (`nice`, `timeout`, `env`...): it
    /// needs no allow rule of its own, though a deny rule can still name it.
    Transparent,
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

/// What one invocation runs.
#[derive(Debug, Default)]
pub struct Expansion {
    pub layers: Vec<Layer>,
    /// Command strings run by a shell (`sh -c STRING`, `su -c`, `watch`...), to analyse.
    pub nested: Vec<String>,
    /// Further invocations (`find -exec`), to expand and check in turn.
    pub inner: Vec<Invocation>,
    /// Invocations a wrapper may run, to check against deny rules only.
    pub probes: Vec<Invocation>,
    /// Reasons the invocation cannot be analysed.
    pub refusals: Vec<String>,
    /// Variables set for the command (prefix assignments, `env NAME=value`).
    pub assignments: Vec<(String, Arg)>,
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
            Arg::Dyn(src) => {
                out.refusals.push(format!(
                    "the program name {src} is only known at run time (a variable, substitution \
or glob in command position)"
                ));
                return out;
            }
        };
        if let Some(reason) = crate::danger::bad_program_name(&program) {
            out.refusals.push(reason);
            return out;
        }
        let rest = rest.to_vec();
        let base = program.rsplit('/').next().unwrap_or(&program).to_string();
        match wrappers::step(&base, &rest) {
            wrappers::Step::Program => {
                let mut layer = Layer {
                    program,
                    args: rest,
                    role: Role::Program,
                    opaque: None,
                };
                code::inspect(&base, &mut layer, &mut out);
                git::inspect(&base, &mut layer, &mut out);
                out.layers.push(layer);
                return out;
            }
            wrappers::Step::Refuse(reason) => {
                out.refusals.push(reason);
                return out;
            }
            wrappers::Step::Wrap {
                inner,
                role,
                assignments,
                also,
                probes,
                shell,
            } => {
                out.layers.push(Layer {
                    program,
                    args: rest,
                    role,
                    opaque: None,
                });
                out.assignments.extend(assignments);
                out.inner.extend(also);
                out.probes.extend(probes);
                if let Some(s) = shell {
                    match s {
                        Arg::Lit(text) => out.nested.push(text),
                        Arg::Dyn(src) => {
                            out.refusals.push(format!(
                                "the shell command string {src} is only known at run time"
                            ));
                            return out;
                        }
                    }
                }
                match inner {
                    Some(next) => argv = next,
                    None => return out,
                }
            }
        }
    }
    out.refusals.push("too many nested wrappers".into());
    out
}
