//! Deciding: every program a command would run, against the rules; plus the checks that do not
//! depend on rules (dangerous variables, working directories, arithmetic injection).

use std::collections::VecDeque;
use std::path::Path;

use serde::Serialize;

use crate::commands::{self, Layer, Role};
use crate::rules::{Action, Rule};
use crate::shell::{self, Analysis, Arg, Invocation, MAX_COMMANDS};
use crate::{Policy, danger, paths};

/// Shell builtins that run nothing and only print or change the shell's own state: allowed
/// without a rule (a deny rule can still name them). Assignments they make are checked apart.
const HARMLESS_BUILTINS: &[&str] = &[
    "cd", "pushd", "popd", "dirs", "true", "false", ":", "test", "[", "set", "shopt", "umask",
    "wait", "exit", "return", "shift", "break", "continue", "pwd", "export", "unset", "local",
    "declare", "typeset", "readonly", "read", "getopts", "echo", "printf",
];

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckRequest<'a> {
    pub command: &'a str,
    /// Host name (`local` by default).
    pub host: &'a str,
    /// The job's working directory, when known.
    pub cwd: Option<&'a Path>,
    /// Variables the agent asks to set for the job.
    pub env: &'a [(String, String)],
}

impl<'a> CheckRequest<'a> {
    pub fn new(command: &'a str) -> Self {
        Self {
            command,
            host: "local",
            cwd: None,
            env: &[],
        }
    }
}

/// The decision about one program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allowed,
    Denied,
    Refused,
}

/// One program a command would run, and what the policy says of it.
#[derive(Debug, Clone, Serialize)]
pub struct CommandCheck {
    /// The program and its arguments, as the policy saw them.
    pub command: String,
    pub decision: Decision,
    /// The rule that decided (or `default allow` / `default deny`).
    pub rule: String,
    /// Why, when it was not allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The verdict on a command string.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    pub command: String,
    pub host: String,
    /// Every program found, outermost wrapper first, with its decision.
    pub commands: Vec<CommandCheck>,
    /// Reasons the command as a whole was refused (cannot be analysed, dangerous variables,
    /// paths outside the allowed directories...).
    pub refusals: Vec<String>,
    /// Whether the job may receive input through stdin (`interact`).
    pub stdin: bool,
    /// The rules that allowed it.
    pub rules: Vec<String>,
}

impl Verdict {
    /// One line: `allowed by allow "cargo" (p.toml:2)` or the first reason for refusal.
    pub fn summary(&self) -> String {
        if self.allowed {
            if self.rules.is_empty() {
                return "allowed".into();
            }
            return format!("allowed by {}", self.rules.join(", "));
        }
        let mut reasons: Vec<String> = self.refusals.clone();
        for c in &self.commands {
            if c.decision != Decision::Allowed {
                reasons.push(format!(
                    "`{}`: {}",
                    c.command,
                    c.reason.clone().unwrap_or_else(|| c.rule.clone())
                ));
            }
        }
        format!("refused: {}", reasons.join("; "))
    }
}

impl Policy {
    /// Decides whether `req` may run. Never panics.
    pub fn check(&self, req: &CheckRequest<'_>) -> Verdict {
        let mut v = Verdict {
            allowed: false,
            command: req.command.to_string(),
            host: req.host.to_string(),
            commands: Vec::new(),
            refusals: Vec::new(),
            stdin: self.stdin_for(req.host),
            rules: Vec::new(),
        };
        if self.is_permissive() {
            v.allowed = true;
            v.rules.push(format!("default allow ({})", self.source));
            return v;
        }
        let analysis = shell::analyse(req.command);
        let mut ctx = Ctx {
            policy: self,
            host: req.host,
            rules: self.rules_for(req.host),
            verdict: v,
            analysis: Analysis::default(),
            reads_input: false,
            stdin_votes: Vec::new(),
        };
        ctx.run(analysis);
        ctx.environment(req.env);
        ctx.directories(req.cwd);
        let stdin = ctx.stdin_votes.iter().all(|s| *s)
            && (!ctx.stdin_votes.is_empty() || self.stdin_for(req.host));
        let mut v = ctx.verdict;
        v.stdin = stdin;
        v.allowed = v.refusals.is_empty()
            && !v.commands.is_empty()
            && v.commands.iter().all(|c| c.decision == Decision::Allowed);
        if v.commands.is_empty() && v.refusals.is_empty() {
            v.refusals.push("the command runs no program".into());
        }
        v
    }

    /// Whether `rule` matches some program of `example` (for rule examples).
    pub(crate) fn rule_matches_example(&self, rule: &Rule, example: &str) -> bool {
        let mut work: VecDeque<(Invocation, usize)> = shell::analyse(example)
            .invocations
            .into_iter()
            .map(|i| (i, 0))
            .collect();
        let mut seen = 0;
        while let Some((inv, depth)) = work.pop_front() {
            seen += 1;
            if seen > MAX_COMMANDS {
                return false;
            }
            let ex = commands::expand(&inv);
            if ex
                .layers
                .iter()
                .any(|l| rule.matches(l, self.match_basename))
            {
                return true;
            }
            for s in ex.nested {
                if depth < shell::MAX_DEPTH {
                    work.extend(
                        shell::analyse(&s)
                            .invocations
                            .into_iter()
                            .map(|i| (i, depth + 1)),
                    );
                }
            }
            work.extend(ex.inner.into_iter().map(|i| (i, depth)));
        }
        false
    }
}

struct Ctx<'p> {
    policy: &'p Policy,
    host: &'p str,
    rules: Vec<&'p Rule>,
    verdict: Verdict,
    /// Everything found, nested strings included.
    analysis: Analysis,
    reads_input: bool,
    /// Per allowed program: may the job take stdin?
    stdin_votes: Vec<bool>,
}

impl<'p> Ctx<'p> {
    fn refuse(&mut self, reason: String) {
        if !self.verdict.refusals.contains(&reason) {
            self.verdict.refusals.push(reason);
        }
    }

    fn run(&mut self, top: Analysis) {
        let mut work: VecDeque<(Invocation, usize, bool)> = VecDeque::new();
        self.take(top, 0, false, &mut work);
        let mut seen = 0usize;
        while let Some((inv, depth, probe)) = work.pop_front() {
            seen += 1;
            if seen > MAX_COMMANDS {
                self.refuse(format!("more than {MAX_COMMANDS} commands"));
                break;
            }
            let ex = commands::expand(&inv);
            for r in ex.refusals {
                self.refuse(r);
            }
            for (name, _) in &ex.assignments {
                if danger::dangerous_variable(name) {
                    self.refuse(format!(
                        "sets {name}, which can make programs load or run other code"
                    ));
                }
            }
            for layer in &ex.layers {
                if matches!(layer.basename(), "read" | "mapfile" | "readarray") {
                    self.reads_input = true;
                }
                self.decide(layer, probe);
            }
            for s in ex.nested {
                let nested = shell::analyse_at(&s, depth + 1);
                self.take(nested, depth + 1, probe, &mut work);
            }
            work.extend(ex.inner.into_iter().map(|i| (i, depth, probe)));
            work.extend(ex.probes.into_iter().map(|i| (i, depth, true)));
        }
        for name in self.analysis.shell_assignments.clone() {
            if danger::dangerous_variable(&name) {
                self.refuse(format!(
                    "sets {name} in the shell, which can make later commands load or run other code"
                ));
            }
        }
        if self.analysis.arithmetic && (self.analysis.quoted_substitution_text || self.reads_input)
        {
            self.refuse(
                "arithmetic evaluation together with text that could hold a command substitution \
(bash evaluates variable contents in arithmetic, which can run commands)"
                    .into(),
            );
        }
    }

    /// Adds a (possibly nested) analysis: its refusals and facts, and its commands to the work.
    fn take(
        &mut self,
        a: Analysis,
        depth: usize,
        probe: bool,
        work: &mut VecDeque<(Invocation, usize, bool)>,
    ) {
        for r in &a.refusals {
            self.refuse(r.clone());
        }
        work.extend(a.invocations.iter().cloned().map(|i| (i, depth, probe)));
        let mut facts = a;
        facts.invocations.clear();
        facts.refusals.clear();
        self.analysis.absorb(facts);
    }

    fn decide(&mut self, layer: &Layer, probe: bool) {
        let mb = self.policy.match_basename;
        let display = layer.display();
        let deny = self
            .rules
            .iter()
            .find(|r| r.action == Action::Deny && r.matches(layer, mb));
        if let Some(rule) = deny {
            self.verdict.commands.push(CommandCheck {
                command: display,
                decision: Decision::Denied,
                rule: rule.id.clone(),
                reason: Some(
                    rule.reason
                        .clone()
                        .unwrap_or_else(|| format!("denied by {}", rule.id)),
                ),
            });
            return;
        }
        if probe {
            return;
        }
        let allow = self
            .rules
            .iter()
            .find(|r| r.action == Action::Allow && r.matches(layer, mb))
            .copied();
        let (decision, rule, reason, stdin_rule) = if let Some(opaque) = &layer.opaque {
            match allow {
                Some(r) if r.covers(&opaque.needs, layer, mb) => {
                    (Decision::Allowed, r.id.clone(), None, Some(r))
                }
                _ => (
                    Decision::Refused,
                    "opaque code".to_string(),
                    Some(format!(
                        "{}; to permit it, allow it explicitly (e.g. allow = [\"{}\"])",
                        opaque.reason,
                        opaque.needs.join(" ")
                    )),
                    None,
                ),
            }
        } else if layer.role == Role::Transparent && allow.is_none() {
            (
                Decision::Allowed,
                "transparent wrapper".to_string(),
                None,
                None,
            )
        } else if allow.is_none()
            && !layer.program.contains('/')
            && HARMLESS_BUILTINS.contains(&layer.program.as_str())
        {
            (Decision::Allowed, "shell builtin".to_string(), None, None)
        } else {
            match allow {
                Some(r) => (Decision::Allowed, r.id.clone(), None, Some(r)),
                None => match self.policy.default_for(self.host) {
                    Action::Allow => (
                        Decision::Allowed,
                        format!("default allow ({})", self.policy.source),
                        None,
                        None,
                    ),
                    Action::Deny => (
                        Decision::Denied,
                        format!("default deny ({})", self.policy.source),
                        Some(format!(
                            "`{}` is not allowed by any rule (the policy's default is deny)",
                            layer.basename()
                        )),
                        None,
                    ),
                },
            }
        };
        if decision == Decision::Allowed {
            if !self.verdict.rules.contains(&rule)
                && rule != "transparent wrapper"
                && rule != "shell builtin"
            {
                self.verdict.rules.push(rule.clone());
            }
            if rule != "transparent wrapper" && rule != "shell builtin" {
                let default = self.policy.stdin_for(self.host);
                self.stdin_votes
                    .push(stdin_rule.and_then(|r| r.stdin).unwrap_or(default));
            }
        }
        self.verdict.commands.push(CommandCheck {
            command: display,
            decision,
            rule,
            reason,
        });
    }

    fn environment(&mut self, env: &[(String, String)]) {
        for (name, value) in env {
            if danger::dangerous_variable(name) {
                self.refuse(format!("the job's environment sets {name}, which can make programs load or run other code"));
            }
            if let Some(allowed) = &self.policy.env_allow
                && !allowed.iter().any(|p| crate::glob_match(p, name))
            {
                self.refuse(format!(
                    "the policy does not let jobs set {name} (allowed: {})",
                    allowed.join(", ")
                ));
            }
            if self.analysis.arithmetic && (value.contains("$(") || value.contains('`')) {
                self.refuse(format!(
                    "{name}'s value holds a command substitution and the command evaluates arithmetic"
                ));
            }
            if let Some(reason) =
                danger::bad_characters(value).or_else(|| danger::bad_characters(name))
            {
                self.refuse(format!("the job's environment: {reason}"));
            }
        }
    }

    fn directories(&mut self, cwd: Option<&Path>) {
        if !self.policy.redirect_writes {
            for r in self.analysis.redirects.clone() {
                let harmless = r.target.lit().is_some_and(paths::harmless_device);
                if r.write && !harmless {
                    self.refuse(format!(
                        "redirection into {} writes a file, which this policy does not allow",
                        r.target.display()
                    ));
                }
            }
        }
        let Some(roots) = self.policy.cwd_for(self.host) else {
            return;
        };
        let roots = roots.to_vec();
        let base = match cwd {
            Some(c) => c.to_path_buf(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        if !paths::within(&base, &roots) {
            self.refuse(format!(
                "the working directory {} is outside the allowed directories ({})",
                base.display(),
                show(&roots)
            ));
        }
        for r in self.analysis.redirects.clone() {
            match &r.target {
                Arg::Lit(p) if paths::harmless_device(p) => {}
                Arg::Lit(p) => {
                    let path = Path::new(p);
                    if path.is_relative() && self.analysis.changes_directory {
                        self.refuse(format!(
                            "redirection to {p} after a change of directory cannot be checked against the allowed directories"
                        ));
                        continue;
                    }
                    let full = base.join(path);
                    if !paths::within(&full, &roots) {
                        self.refuse(format!(
                            "redirection to {p} is outside the allowed directories ({})",
                            show(&roots)
                        ));
                    }
                }
                Arg::Dyn(src) => self.refuse(format!(
                    "redirection to {src}, only known at run time, cannot be checked against the allowed directories"
                )),
            }
        }
        if self.analysis.changes_directory {
            // `cd` itself: its target must be inside too.
        }
    }
}

fn show(roots: &[std::path::PathBuf]) -> String {
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
