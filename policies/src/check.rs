//! Deciding: every program a command would run, against the rules; plus the checks that do not
//! depend on rules (variables, working directories, the files a command writes).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bounds::Budget;
use crate::commands::{self, Layer, Role};
use crate::paths::{self, Protected};
use crate::rules::{Action, Rule};
use crate::shell::{self, Access, Analysis, Arg, Cwd, Invocation, MAX_COMMANDS, vars};
use crate::{Policy, danger};

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
    /// The rule that decided (or `default allow` / `default deny`, `shell builtin`...).
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
    /// Reasons the command as a whole was refused (constructs not modelled, variables, paths
    /// outside the allowed directories...).
    pub refusals: Vec<String>,
    /// Whether the job may receive input through stdin (`interact`).
    pub stdin: bool,
    /// The rules that allowed it.
    pub rules: Vec<String>,
}

impl Verdict {
    /// One line: `allowed by allow "cargo" (p.toml:2)` or the reasons for refusal.
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

const BUILTIN_RULE: &str = "shell builtin";
const WRAPPER_RULE: &str = "transparent wrapper";

impl Policy {
    /// Decides whether `req` may run. Never panics; bounded in time and stack.
    pub fn check(&self, req: &CheckRequest<'_>) -> Verdict {
        let mut v = self.undecided(req);
        if self.is_permissive() {
            v.allowed = true;
            v.rules.push(format!("default allow ({})", self.source));
            return v;
        }
        match crate::bounds::run(req.command, |budget| self.check_bounded(req, budget)) {
            Ok(v) => v,
            Err(reason) => {
                v.refusals.push(reason);
                v
            }
        }
    }

    /// A verdict with nothing decided yet.
    fn undecided(&self, req: &CheckRequest<'_>) -> Verdict {
        Verdict {
            allowed: false,
            command: req.command.to_string(),
            host: req.host.to_string(),
            commands: Vec::new(),
            refusals: Vec::new(),
            stdin: self.stdin_for(req.host),
            rules: Vec::new(),
        }
    }

    fn check_bounded(&self, req: &CheckRequest<'_>, budget: &Budget) -> Verdict {
        let verdict = self.undecided(req);
        let mut ctx = Ctx {
            policy: self,
            host: req.host,
            rules: self.rules_for(req.host),
            verdict,
            redirects: Vec::new(),
            dups: Vec::new(),
            writes: Vec::new(),
            cwds: Vec::new(),
            written: Vec::new(),
            glob_writes: false,
            creates_files: false,
            stdin_votes: Vec::new(),
            budget,
        };
        let top = shell::analyse_at(req.command, 0, &Cwd::start(), budget);
        ctx.run(top);
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
        crate::bounds::run(example, |budget| {
            let mut work: VecDeque<(Invocation, usize)> =
                shell::analyse_at(example, 0, &Cwd::start(), budget)
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
                for (s, cwd) in ex.nested {
                    if depth < shell::MAX_DEPTH {
                        work.extend(
                            shell::analyse_at(&s, depth + 1, &cwd, budget)
                                .invocations
                                .into_iter()
                                .map(|i| (i, depth + 1)),
                        );
                    }
                }
                work.extend(ex.inner.into_iter().map(|i| (i, depth)));
            }
            false
        })
        .unwrap_or(false)
    }
}

/// A file a command opens: a redirection, or a program's output option.
struct FileUse {
    fd: Option<i32>,
    access: Access,
    target: Arg,
    cwd: Cwd,
    by: String,
    kind: commands::WriteKind,
}

struct Ctx<'p, 'b> {
    policy: &'p Policy,
    host: &'p str,
    rules: Vec<&'p Rule>,
    verdict: Verdict,
    redirects: Vec<FileUse>,
    dups: Vec<(i32, i32)>,
    writes: Vec<FileUse>,
    /// Where each program runs.
    cwds: Vec<Cwd>,
    /// Every path written, as resolved, and how.
    written: Vec<(PathBuf, commands::WriteKind, String)>,
    /// Some write target is a glob (expanded at check time, before any link the command makes).
    glob_writes: bool,
    /// Some program creates files it is not told the names of (any may be a symlink).
    creates_files: bool,
    /// Per allowed program: may the job take stdin?
    stdin_votes: Vec<bool>,
    budget: &'b Budget,
}

impl Ctx<'_, '_> {
    fn refuse(&mut self, reason: String) {
        let reason = crate::clip(reason);
        if !self.verdict.refusals.contains(&reason) {
            self.verdict.refusals.push(reason);
        }
    }

    fn take(&mut self, a: Analysis, depth: usize, work: &mut VecDeque<(Invocation, usize)>) {
        for r in a.refusals {
            self.refuse(r);
        }
        for name in a.shell_assignments {
            self.shell_assignment(&name);
        }
        self.dups.extend(a.dups);
        for r in a.redirects {
            self.redirects.push(FileUse {
                fd: Some(r.fd),
                access: r.access,
                target: r.target,
                cwd: r.cwd,
                by: "redirection".into(),
                kind: commands::WriteKind::File,
            });
        }
        work.extend(a.invocations.into_iter().map(|i| (i, depth)));
    }

    fn run(&mut self, top: Analysis) {
        let mut work: VecDeque<(Invocation, usize)> = VecDeque::new();
        self.take(top, 0, &mut work);
        let mut seen = 0usize;
        while let Some((inv, depth)) = work.pop_front() {
            seen += 1;
            if seen > MAX_COMMANDS {
                self.refuse(format!("more than {MAX_COMMANDS} commands"));
                break;
            }
            let ex = commands::expand(&inv);
            if !self.cwds.contains(&inv.cwd) {
                self.cwds.push(inv.cwd.clone());
            }
            for r in ex.refusals {
                self.refuse(r);
            }
            for (name, value) in &ex.assignments {
                self.env_assignment(name, value.lit(), "the command");
            }
            for name in &ex.shell_assignments {
                self.shell_assignment(name);
            }
            for w in ex.writes {
                self.writes.push(FileUse {
                    fd: None,
                    access: Access::Write,
                    target: w.target,
                    cwd: w.cwd,
                    by: w.by,
                    kind: w.kind,
                });
            }
            for layer in &ex.layers {
                self.decide(layer);
            }
            for d in &ex.runs_in {
                let moved = inv.cwd.then(shell::CdStep {
                    target: d.clone(),
                    physical: true,
                });
                if !self.cwds.contains(&moved) {
                    self.cwds.push(moved);
                }
            }
            self.creates_files |= ex.creates_files;
            for (s, cwd) in ex.nested {
                if depth + 1 > shell::MAX_DEPTH {
                    self.refuse(format!(
                        "command strings nested deeper than {} levels",
                        shell::MAX_DEPTH
                    ));
                    continue;
                }
                let nested = shell::analyse_at(&s, depth + 1, &cwd, self.budget);
                self.take(nested, depth + 1, &mut work);
            }
            work.extend(ex.inner.into_iter().map(|i| (i, depth)));
        }
    }

    fn decide(&mut self, layer: &Layer) {
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
        // The most specific allow rule decides (`python3 -c` over `python3`).
        let mut allows: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.action == Action::Allow && r.matches(layer, mb))
            .copied()
            .collect();
        allows.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        let allow = match &layer.opaque {
            Some(o) => allows
                .iter()
                .find(|r| r.covers(&o.needs, layer, mb))
                .copied(),
            None => allows.first().copied(),
        };
        let (decision, rule, reason, stdin_rule) = if let Some(opaque) = &layer.opaque {
            match allow {
                Some(r) => (Decision::Allowed, r.id.clone(), None, Some(r)),
                None => (
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
        } else if allow.is_none() && layer.role == Role::Transparent {
            (Decision::Allowed, WRAPPER_RULE.to_string(), None, None)
        } else if allow.is_none() && layer.role == Role::Builtin {
            (Decision::Allowed, BUILTIN_RULE.to_string(), None, None)
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
        if decision == Decision::Allowed && rule != WRAPPER_RULE && rule != BUILTIN_RULE {
            if !self.verdict.rules.contains(&rule) {
                self.verdict.rules.push(rule.clone());
            }
            let default = self.policy.stdin_for(self.host);
            self.stdin_votes
                .push(stdin_rule.and_then(|r| r.stdin).unwrap_or(default));
        }
        self.verdict.commands.push(CommandCheck {
            command: display,
            decision,
            rule,
            reason,
        });
    }

    /// A variable assigned in the shell itself.
    fn shell_assignment(&mut self, name: &str) {
        if let Some(why) = vars::assignable(name) {
            self.refuse(format!("assigns {name}: {why}"));
            return;
        }
        // A variable the job inherits is exported: assigning it changes the environment of
        // every program that follows.
        let env_like = name.chars().any(|c| c.is_ascii_uppercase())
            || std::env::var_os(name).is_some()
            || danger::dangerous_variable(name);
        if env_like {
            self.env_assignment(name, None, "the command");
        }
    }

    /// A variable put in a program's environment (or the job's).
    fn env_assignment(&mut self, name: &str, value: Option<&str>, by: &str) {
        if danger::dangerous_variable(name) {
            self.refuse(format!(
                "{by} sets {name}, which can make programs load or run other code"
            ));
            return;
        }
        if let Some(why) = vars::assignable(name) {
            self.refuse(format!("{by} sets {name}: {why}"));
            return;
        }
        let deny_default = self.policy.default_for(self.host) == Action::Deny;
        match &self.policy.env_allow {
            Some(allowed) if allowed.iter().any(|p| crate::glob_match(p, name)) => {}
            Some(allowed) => self.refuse(format!(
                "the policy does not let jobs set {name} (its [env] allow names: {})",
                allowed.join(", ")
            )),
            None if deny_default
                && !crate::DEFAULT_ENV_ALLOW
                    .iter()
                    .any(|p| crate::glob_match(p, name)) =>
            {
                self.refuse(format!(
                    "the policy does not let jobs set {name}: under default = \"deny\" only \
the variables [env] allow names may be set (without it: {})",
                    crate::DEFAULT_ENV_ALLOW.join(", ")
                ));
            }
            None => {}
        }
        if let Some(v) = value
            && let Some(reason) = danger::bad_characters(v)
        {
            self.refuse(format!("the value of {name}: {reason}"));
        }
    }

    fn environment(&mut self, env: &[(String, String)]) {
        for (name, value) in env {
            if let Some(reason) = danger::bad_characters(name) {
                self.refuse(format!("the job's environment: {reason}"));
                continue;
            }
            self.env_assignment(name, Some(value), "the job's environment");
        }
    }

    /// A path as the job's kernel will open it: on this machine, resolved on the file system;
    /// on an SSH host, whose file system is not here, only textually (symlinks there are not
    /// seen: README, SSH hosts).
    fn resolve(&self, path: &Path) -> Result<PathBuf, paths::Unresolvable> {
        if self.host == "local" {
            paths::resolve(path)
        } else if path.is_absolute() {
            Ok(paths::normalize(path))
        } else {
            Err(paths::Unresolvable(format!(
                "{} is not absolute",
                path.display()
            )))
        }
    }

    /// Resolves each alternative of `cwd` from `base`; `None` when unknown.
    fn resolve_cwd(&self, base: &Path, cwd: &Cwd) -> Option<Vec<PathBuf>> {
        let Cwd::Known(alts) = cwd else {
            return None;
        };
        let mut out = Vec::new();
        for steps in alts {
            let mut dir = base.to_path_buf();
            for s in steps {
                let target = match expand_tilde(&s.target) {
                    Some(p) => p,
                    None => PathBuf::from(&s.target),
                };
                let joined = dir.join(target);
                // `cd` without -P takes `..` textually, but when that directory does not
                // exist, bash tries the path physically.
                let logical = paths::normalize(&joined);
                let next = if s.physical || (self.host == "local" && !logical.is_dir()) {
                    joined
                } else {
                    logical
                };
                dir = self.resolve(&next).ok()?;
            }
            out.push(dir);
        }
        Some(out)
    }

    fn directories(&mut self, cwd: Option<&Path>) {
        // Nothing to judge: no limits, and no file written (reads matter only under limits).
        let writes_files = self.writes.iter().any(|w| w.access == Access::Write)
            || self.redirects.iter().any(|r| r.access == Access::Write);
        if self.policy.cwd_for(self.host).is_none() && !writes_files {
            return;
        }
        let roots: Option<Vec<PathBuf>> = self.policy.cwd_for(self.host).map(|r| {
            r.iter()
                .map(|p| self.resolve(p).unwrap_or_else(|_| paths::normalize(p)))
                .collect()
        });
        let given = match cwd {
            Some(c) => c.to_path_buf(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        // The kernel resolves the working directory physically (`/jail/link/..` is the
        // parent of the link's target).
        let base = match self.resolve(&given) {
            Ok(b) => b,
            Err(e) => {
                if roots.is_some() {
                    self.refuse(format!(
                        "the working directory {} cannot be resolved: {}",
                        given.display(),
                        e.0
                    ));
                }
                given.clone()
            }
        };
        if let Some(roots) = &roots
            && !paths::within(&base, roots)
        {
            self.refuse(format!(
                "the working directory {} is outside the allowed directories ({})",
                base.display(),
                show(roots)
            ));
        }
        if let Some(roots) = &roots {
            for cwd in std::mem::take(&mut self.cwds) {
                match self.resolve_cwd(&base, &cwd) {
                    Some(dirs) => {
                        for d in dirs {
                            if !paths::within(&d, roots) {
                                self.refuse(format!(
                                    "a command runs in {}, outside the allowed directories ({})",
                                    d.display(),
                                    show(roots)
                                ));
                            }
                        }
                    }
                    None => self.refuse(
                        "a change of directory cannot be followed, so where commands run cannot be checked against the allowed directories"
                            .to_string(),
                    ),
                }
            }
        }
        let protect: &[Protected] = self.policy.protected();
        // Descriptors that a read redirection opened: reopening them for writing (through
        // /dev/fd/N) would write the file that was only vetted for reading.
        let mut read_fds: Vec<i32> = self
            .redirects
            .iter()
            .filter(|r| r.access == Access::Read)
            .filter_map(|r| r.fd)
            .collect();
        // `1<&0`, `1>&2` after `2<file`: descriptor 1 is then a copy of something else, which
        // `/dev/stdout` would reopen for writing.
        for _ in 0..2 {
            for (n, m) in &self.dups {
                if (*n == 1 || *n == 2)
                    && (!(*m == 1 || *m == 2) || read_fds.contains(m))
                    && !read_fds.contains(n)
                {
                    read_fds.push(*n);
                }
            }
        }
        let uses: Vec<FileUse> = std::mem::take(&mut self.redirects)
            .into_iter()
            .chain(std::mem::take(&mut self.writes))
            .collect();
        for u in &uses {
            self.file_use(u, &base, roots.as_deref(), protect, &read_fds);
        }
        // A link the command may create, written through by another part of it: the check
        // saw the place before the link existed.
        let written = std::mem::take(&mut self.written);
        if self.glob_writes
            && (self.creates_files
                || written
                    .iter()
                    .any(|(_, k, _)| *k == commands::WriteKind::Link))
        {
            self.refuse(
                "the command may create a link and also writes to a glob, which could match it"
                    .to_string(),
            );
        }
        for (link, kind, by) in &written {
            if *kind != commands::WriteKind::Link {
                continue;
            }
            for (path, _, other) in &written {
                if path != link && path.starts_with(link) {
                    self.refuse(format!(
                        "{other} writes {} through {}, which {by} may make a symlink",
                        path.display(),
                        link.display()
                    ));
                }
            }
        }
    }

    fn file_use(
        &mut self,
        u: &FileUse,
        base: &Path,
        roots: Option<&[PathBuf]>,
        protect: &[Protected],
        read_fds: &[i32],
    ) {
        let write = u.access == Access::Write;
        let what = if write { "writes" } else { "reads" };
        let by = &u.by;
        let text = match &u.target {
            Arg::Lit(p) => p.clone(),
            Arg::Dyn(d) => match expand_tilde(&d.src) {
                Some(p) if !d.may_split => p.to_string_lossy().into_owned(),
                // A glob: every file it matches now, and the pattern itself (what bash passes
                // when nothing matches).
                _ if d.glob && !d.may_split && paths::plain_glob(&d.src) => {
                    if write {
                        self.glob_writes = true;
                    }
                    let mut texts = vec![d.src.clone()];
                    let dirs = if d.src.starts_with('/') {
                        Some(vec![base.to_path_buf()])
                    } else {
                        self.resolve_cwd(base, &u.cwd)
                    };
                    match dirs {
                        Some(dirs) => {
                            for dir in dirs {
                                let expanded = if self.host == "local" {
                                    paths::glob_expand(&dir, &d.src)
                                } else {
                                    Err("a glob on a remote host cannot be expanded here".into())
                                };
                                match expanded {
                                    Ok(found) => texts.extend(
                                        found.into_iter().map(|p| p.to_string_lossy().into_owned()),
                                    ),
                                    Err(e) => {
                                        self.refuse(format!("{by} {what} {}: {e}", d.src));
                                        return;
                                    }
                                }
                            }
                        }
                        None => {
                            self.refuse(format!(
                                "{by} {what} {} after a change of directory that cannot be followed",
                                d.src
                            ));
                            return;
                        }
                    }
                    for t in texts {
                        let lit = FileUse {
                            fd: u.fd,
                            access: u.access,
                            target: Arg::Lit(t),
                            cwd: u.cwd.clone(),
                            by: u.by.clone(),
                            kind: u.kind,
                        };
                        self.file_use(&lit, base, roots, protect, read_fds);
                    }
                    return;
                }
                _ => {
                    let deletes = u.kind == commands::WriteKind::Delete;
                    let matters =
                        roots.is_some() || (write && (!deletes || !self.policy.redirect_writes));
                    if matters {
                        self.refuse(format!(
                            "{by} {what} {}, a path only known at run time, which cannot be checked",
                            d.src
                        ));
                    }
                    return;
                }
            },
        };
        if text.contains("/dev/tcp") || text.contains("/dev/udp") {
            self.refuse(format!(
                "{by} to {text}: bash opens a network connection for /dev/tcp and /dev/udp"
            ));
            return;
        }
        if paths::harmless_device(&text) {
            return;
        }
        if let Some(fd) = paths::descriptor_file(&text) {
            if !write {
                return;
            }
            if (fd == 1 || fd == 2) && !read_fds.contains(&fd) {
                return;
            }
            self.refuse(format!(
                "{by} writes {text}, which reopens a descriptor that is not the job's output"
            ));
            return;
        }
        if text.starts_with("/proc/")
            || text.starts_with("/dev/fd/")
            || text.starts_with("/dev/std")
        {
            self.refuse(format!(
                "{by} {what} {text}, which names another file through a descriptor"
            ));
            return;
        }
        let needs_check = write || roots.is_some();
        if !needs_check {
            return;
        }
        if write && !self.policy.redirect_writes {
            self.refuse(format!(
                "{by} writes {text}, and this policy does not let commands write files"
            ));
            return;
        }
        let path = Path::new(&text);
        let candidates: Vec<PathBuf> = if path.is_absolute() {
            vec![path.to_path_buf()]
        } else {
            match self.resolve_cwd(base, &u.cwd) {
                Some(dirs) => dirs.into_iter().map(|d| d.join(path)).collect(),
                None => {
                    self.refuse(format!(
                        "{by} {what} {text} after a change of directory that cannot be followed"
                    ));
                    return;
                }
            }
        };
        for c in candidates {
            let real = match self.resolve(&c) {
                Ok(r) => r,
                Err(e) => {
                    self.refuse(format!("{by} {what} {text}: {}", e.0));
                    continue;
                }
            };
            if let Some(roots) = roots
                && !paths::within(&real, roots)
            {
                self.refuse(format!(
                    "{by} {what} {text} ({}), outside the allowed directories ({})",
                    real.display(),
                    show(roots)
                ));
            }
            // Through a directory that does not exist yet, while something in the command
            // creates files it is not told the names of (a checkout, an archive): that
            // directory could arrive as a symlink.
            if self.creates_files && real.parent().is_some_and(|p| !p.exists()) {
                self.refuse(format!(
                    "{by} {what} {text} through a directory that does not exist yet, while the \
command also creates files (a checkout or an archive) that could put a symlink there"
                ));
            }
            self.written.push((real.clone(), u.kind, u.by.clone()));
            if write && protect.iter().any(|p| p.covers(&real)) {
                self.refuse(format!(
                    "{by} writes {text} ({}), a protected place where programs read code or \
configuration",
                    real.display()
                ));
            }
        }
    }
}

/// `~` or `~/rest` with `$HOME`.
fn expand_tilde(src: &str) -> Option<PathBuf> {
    let rest = if src == "~" {
        ""
    } else {
        src.strip_prefix("~/")?
    };
    if rest.contains(['$', '`', '*', '?', '[', '{', '\'', '"', '\\', '~']) {
        return None;
    }
    let home = std::env::var_os("HOME")?;
    Some(Path::new(&home).join(rest))
}

fn show(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
