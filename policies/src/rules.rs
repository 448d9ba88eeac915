//! Rules and how they match a program layer.

use regex::Regex;

use crate::commands::Layer;
use crate::shell::Arg;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// How a rule recognises a command.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Leading words: `git status` matches `git status -s` but not `git statusx` or
    /// `git -c x status`.
    Prefix(Vec<String>),
    /// A regex over the command's words joined by single spaces.
    Regex(Regex),
}

/// One rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// How the rule is shown: `deny "rm" (policy.toml:3)`.
    pub id: String,
    pub action: Action,
    pub matcher: Matcher,
    pub reason: Option<String>,
    /// Whether jobs this rule allows may receive stdin; `None`: the policy's default.
    pub stdin: Option<bool>,
    /// Hosts the rule applies to; `None`: all.
    pub hosts: Option<Vec<String>>,
}

impl Rule {
    pub fn applies_to(&self, host: &str) -> bool {
        self.hosts
            .as_ref()
            .is_none_or(|hs| hs.iter().any(|h| h == host))
    }

    /// Whether the rule matches `layer`. An argument only known at run time matches any word
    /// for a deny rule (it could be that word) and no word for an allow rule.
    pub fn matches(&self, layer: &Layer, match_basename: bool) -> bool {
        match &self.matcher {
            Matcher::Prefix(words) => self.prefix_matches(words, layer, match_basename),
            Matcher::Regex(re) => {
                let text = |program: &str| {
                    let mut t = program.to_string();
                    for a in &layer.args {
                        t.push(' ');
                        match a {
                            Arg::Lit(s) => t.push_str(s),
                            Arg::Dyn(s) => t.push_str(s),
                        }
                    }
                    t
                };
                re.is_match(&text(&layer.program))
                    || ((self.action == Action::Deny || match_basename)
                        && layer.program.contains('/')
                        && re.is_match(&text(layer.basename())))
            }
        }
    }

    fn prefix_matches(&self, words: &[String], layer: &Layer, match_basename: bool) -> bool {
        let Some((program, rest)) = words.split_first() else {
            return false;
        };
        let program_ok = if program.contains('/') {
            &layer.program == program
        } else {
            layer.program == *program
                || (layer.program.contains('/')
                    && layer.basename() == program
                    && (self.action == Action::Deny || match_basename))
        };
        if !program_ok || rest.len() > layer.args.len() {
            return false;
        }
        rest.iter().zip(&layer.args).all(|(w, a)| match a {
            Arg::Lit(s) => s == w,
            Arg::Dyn(_) => self.action == Action::Deny,
        })
    }

    /// Whether this (allow) rule names all of `needs` explicitly: the program and the flag that
    /// makes a layer opaque.
    pub fn covers(&self, needs: &[String], layer: &Layer, match_basename: bool) -> bool {
        match &self.matcher {
            Matcher::Prefix(words) => {
                words.len() >= needs.len()
                    && words.iter().zip(needs).enumerate().all(|(i, (w, n))| {
                        if i == 0 {
                            w == n
                                || w == &layer.program
                                || (match_basename && w == layer.basename())
                        } else {
                            w == n
                        }
                    })
            }
            // A regex that matched the whole layer, flag included, is explicit enough.
            Matcher::Regex(_) => self.matches(layer, match_basename),
        }
    }
}
