//! The policy file (TOML) and its compilation into a [`Policy`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::PolicyError;
use crate::rules::{Action, Matcher, Rule};
use crate::{HostPolicy, Limits, Policy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    default: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
    stdin: Option<bool>,
    #[serde(default)]
    match_basename: bool,
    redirect_writes: Option<bool>,
    cwd: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    env: EnvFile,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    rule: Vec<Spanned<RuleFile>>,
    #[serde(default)]
    hosts: BTreeMap<String, Spanned<HostFile>>,
    /// Places commands may not write, besides the built-in ones.
    #[serde(default)]
    protect: Vec<String>,
    sandbox: Option<Spanned<SandboxFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxFile {
    filesystem: Option<String>,
    #[serde(default)]
    writable: Vec<String>,
    #[serde(default)]
    hide: Vec<String>,
    /// False (no IP networking) unless said otherwise.
    #[serde(default)]
    network: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvFile {
    allow: Option<Vec<String>>,
    pass: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_timeout: Option<f64>,
    default_timeout: Option<f64>,
    log_cap_bytes: Option<u64>,
    max_concurrent: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    action: String,
    command: Option<String>,
    regex: Option<String>,
    reason: Option<String>,
    stdin: Option<bool>,
    hosts: Option<Vec<String>>,
    #[serde(default, rename = "match")]
    matches: Vec<String>,
    #[serde(default)]
    not_match: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    default: Option<String>,
    allow: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
    stdin: Option<bool>,
    cwd: Option<Vec<String>>,
}

struct Ctx<'a> {
    path: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn err(&self, offset: Option<usize>, message: impl Into<String>) -> PolicyError {
        PolicyError {
            path: self.path.to_string(),
            line: offset.map(|o| self.line(o)),
            message: message.into(),
        }
    }
}

fn action(ctx: &Ctx<'_>, s: &str, at: usize) -> Result<Action, PolicyError> {
    match s {
        "allow" => Ok(Action::Allow),
        "deny" => Ok(Action::Deny),
        other => Err(ctx.err(
            Some(at),
            format!("expected \"allow\" or \"deny\", found {other:?}"),
        )),
    }
}

fn prefix(ctx: &Ctx<'_>, text: &str, at: usize) -> Result<Vec<String>, PolicyError> {
    let words = shlex::split(text).ok_or_else(|| {
        ctx.err(
            Some(at),
            format!("cannot split {text:?} into words (unbalanced quotes?)"),
        )
    })?;
    let Some(first) = words.first() else {
        return Err(ctx.err(Some(at), "an empty command prefix matches nothing"));
    };
    if first.contains(['$', '*', '?', '[', '`', '{']) {
        return Err(ctx.err(
            Some(at),
            format!("the program in {text:?} must be a plain name or path"),
        ));
    }
    Ok(words)
}

fn list_rule(
    ctx: &Ctx<'_>,
    s: &Spanned<String>,
    act: Action,
    hosts: Option<Vec<String>>,
) -> Result<Rule, PolicyError> {
    let at = s.span().start;
    Ok(Rule {
        id: format!(
            "{} {:?} ({}:{})",
            act.as_str(),
            s.get_ref(),
            ctx.path,
            ctx.line(at)
        ),
        action: act,
        matcher: Matcher::Prefix(prefix(ctx, s.get_ref(), at)?),
        reason: None,
        stdin: None,
        hosts,
    })
}

fn paths(list: &[String]) -> Vec<PathBuf> {
    list.iter()
        .map(|p| crate::paths::normalize(Path::new(p)))
        .collect()
}

fn sandbox(
    ctx: &Ctx<'_>,
    s: &Spanned<SandboxFile>,
) -> Result<crate::sandbox::SandboxConfig, PolicyError> {
    use crate::sandbox::{FilesystemMode, SandboxConfig, expand_home};
    let at = Some(s.span().start);
    let f = s.get_ref();
    let filesystem = match &f.filesystem {
        None => FilesystemMode::Off,
        Some(m) => FilesystemMode::parse(m).ok_or_else(|| {
            ctx.err(
                at,
                format!(
                    "sandbox.filesystem must be {}, not {m:?}",
                    FilesystemMode::NAMES
                ),
            )
        })?,
    };
    let absolute = |what: &str, list: &[String]| -> Result<Vec<PathBuf>, PolicyError> {
        list.iter()
            .map(|p| {
                let e = expand_home(p);
                if e.is_absolute() {
                    Ok(crate::paths::normalize(&e))
                } else {
                    Err(ctx.err(
                        at,
                        format!("sandbox.{what}: {p:?} must be an absolute path or start with ~/"),
                    ))
                }
            })
            .collect()
    };
    let writable = absolute("writable", &f.writable)?;
    if filesystem != FilesystemMode::WorkspaceWrite && !writable.is_empty() {
        return Err(ctx.err(
            at,
            "sandbox.writable needs filesystem = \"workspace-write\"",
        ));
    }
    Ok(SandboxConfig {
        filesystem,
        writable,
        hide: absolute("hide", &f.hide)?,
        network: f.network,
    })
}

/// Parses and compiles a policy. `path` names the source in messages.
pub(crate) fn compile(text: &str, path: &str) -> Result<Policy, PolicyError> {
    let ctx = Ctx { path, text };
    let file: PolicyFile = toml::from_str(text)
        .map_err(|e| ctx.err(e.span().map(|s| s.start), e.message().to_string()))?;
    // A file that only configures the sandbox vets no command: the kernel confines them.
    let sandbox_only = file.sandbox.is_some()
        && file.allow.is_empty()
        && file.deny.is_empty()
        && file.rule.is_empty()
        && file.hosts.is_empty();
    let default = match &file.default {
        Some(d) => action(&ctx, d.get_ref(), d.span().start)?,
        None if sandbox_only => Action::Allow,
        None => Action::Deny,
    };
    let sandbox = file
        .sandbox
        .as_ref()
        .map(|s| sandbox(&ctx, s))
        .transpose()?;
    let mut rules = Vec::new();
    for s in &file.deny {
        rules.push(list_rule(&ctx, s, Action::Deny, None)?);
    }
    for s in &file.allow {
        rules.push(list_rule(&ctx, s, Action::Allow, None)?);
    }
    let mut examples = Vec::new();
    for r in &file.rule {
        let at = r.span().start;
        let f = r.get_ref();
        let act = action(&ctx, &f.action, at)?;
        let matcher = match (&f.command, &f.regex) {
            (Some(c), None) => Matcher::Prefix(prefix(&ctx, c, at)?),
            (None, Some(re)) => Matcher::regex(
                regex::RegexBuilder::new(re)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| ctx.err(Some(at), format!("bad regex {re:?}: {e}")))?,
            ),
            _ => return Err(ctx.err(Some(at), "a rule needs exactly one of `command` or `regex`")),
        };
        let what = f.command.clone().or(f.regex.clone()).unwrap_or_default();
        let rule = Rule {
            id: format!("{} {what:?} ({}:{})", act.as_str(), path, ctx.line(at)),
            action: act,
            matcher,
            reason: f.reason.clone(),
            stdin: f.stdin,
            hosts: f.hosts.clone(),
        };
        examples.push((rules.len(), at, f.matches.clone(), f.not_match.clone()));
        rules.push(rule);
    }
    let mut hosts = BTreeMap::new();
    for (name, h) in &file.hosts {
        let at = h.span().start;
        let hf = h.get_ref();
        let mut host_rules = Vec::new();
        for s in &hf.deny {
            host_rules.push(list_rule(&ctx, s, Action::Deny, None)?);
        }
        let replaces_allow = hf.allow.is_some();
        for s in hf.allow.iter().flatten() {
            host_rules.push(list_rule(&ctx, s, Action::Allow, None)?);
        }
        hosts.insert(
            name.clone(),
            HostPolicy {
                default: hf
                    .default
                    .as_deref()
                    .map(|d| action(&ctx, d, at))
                    .transpose()?,
                rules: host_rules,
                replaces_allow,
                stdin: hf.stdin,
                cwd: hf.cwd.as_deref().map(paths),
            },
        );
    }
    let secs = |v: Option<f64>, what: &str| -> Result<Option<std::time::Duration>, PolicyError> {
        v.map(|s| {
            std::time::Duration::try_from_secs_f64(s).map_err(|_| {
                ctx.err(
                    None,
                    format!("limits.{what} must be a non-negative number of seconds"),
                )
            })
        })
        .transpose()
    };
    let policy = Policy {
        source: path.to_string(),
        default,
        rules,
        stdin: file.stdin.unwrap_or(default == Action::Allow),
        match_basename: file.match_basename,
        cwd: file.cwd.as_ref().map(|c| paths(c.get_ref())),
        redirect_writes: file.redirect_writes.unwrap_or(true),
        env_allow: file.env.allow,
        env_pass: file.env.pass,
        protect: file.protect.clone(),
        sandbox,
        protected: std::sync::OnceLock::new(),
        limits: Limits {
            max_timeout: secs(file.limits.max_timeout, "max_timeout")?,
            default_timeout: secs(file.limits.default_timeout, "default_timeout")?,
            log_cap_bytes: file.limits.log_cap_bytes,
            max_concurrent: file.limits.max_concurrent,
        },
        hosts,
    };
    for (index, at, matches, not_match) in examples {
        let rule = &policy.rules[index];
        for ex in &matches {
            if !policy.rule_matches_example(rule, ex) {
                return Err(ctx.err(
                    Some(at),
                    format!("rule example {ex:?} should match this rule but does not"),
                ));
            }
        }
        for ex in &not_match {
            if policy.rule_matches_example(rule, ex) {
                return Err(ctx.err(
                    Some(at),
                    format!("rule example {ex:?} should not match this rule but does"),
                ));
            }
        }
    }
    Ok(policy)
}
