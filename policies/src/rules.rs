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
    Regex {
        re: Regex,
        /// The literal texts a match must begin with (when the regex is anchored with `^` and
        /// they are finite): a command with words known only at run time is taken to match
        /// when its known beginning agrees with one of them.
        starts: Option<Vec<String>>,
    },
}

impl Matcher {
    pub fn regex(re: Regex) -> Matcher {
        let starts = literal_starts(re.as_str());
        Matcher::Regex { re, starts }
    }
}

/// The finite set of literal texts every match of an anchored regex begins with.
fn literal_starts(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    if !pattern.starts_with('^') {
        return None;
    }
    let hir = regex_syntax::parse(pattern).ok()?;
    let mut ex = Extractor::new();
    ex.kind(ExtractKind::Prefix);
    let seq = ex.extract(&hir);
    let lits = seq.literals()?;
    let out: Vec<String> = lits
        .iter()
        .filter_map(|l| std::str::from_utf8(l.as_bytes()).ok().map(str::to_string))
        .collect();
    (out.len() == lits.len() && !out.is_empty()).then_some(out)
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

    /// How specific the rule is (more words named: more specific).
    pub fn specificity(&self) -> usize {
        match &self.matcher {
            Matcher::Prefix(w) => w.len(),
            Matcher::Regex { .. } => usize::MAX,
        }
    }

    /// Whether the rule matches `layer`. A word only known at run time matches any word for a
    /// deny rule (it could be that word, or several) and no word for an allow rule.
    pub fn matches(&self, layer: &Layer, match_basename: bool) -> bool {
        let deny = self.action == Action::Deny;
        match &self.matcher {
            Matcher::Prefix(words) => self.prefix_matches(words, layer, match_basename),
            Matcher::Regex { re, starts } => {
                let names: Vec<&str> = if layer.program.contains('/') && (deny || match_basename) {
                    vec![layer.program.as_str(), layer.basename()]
                } else {
                    vec![layer.program.as_str()]
                };
                names.into_iter().any(|program| {
                    let mut text = program.to_string();
                    let mut known: Option<String> = None;
                    for a in &layer.args {
                        if known.is_none() && matches!(a, Arg::Dyn(_)) {
                            known = Some(format!("{text} "));
                        }
                        text.push(' ');
                        text.push_str(a.text());
                    }
                    if re.is_match(&text) {
                        return true;
                    }
                    // A run-time word could make a deny regex match.
                    match (deny, known) {
                        (true, Some(prefix)) => match starts {
                            Some(starts) => starts
                                .iter()
                                .any(|s| s.starts_with(&prefix) || prefix.starts_with(s.as_str())),
                            None => true,
                        },
                        _ => false,
                    }
                })
            }
        }
    }

    fn prefix_matches(&self, words: &[String], layer: &Layer, match_basename: bool) -> bool {
        let Some((program, rest)) = words.split_first() else {
            return false;
        };
        let deny = self.action == Action::Deny;
        let program_ok = if program.contains('/') {
            &layer.program == program
        } else {
            layer.program == *program
                || (layer.program.contains('/')
                    && layer.basename() == program
                    && (deny || match_basename))
        };
        if !program_ok {
            return false;
        }
        for (i, w) in rest.iter().enumerate() {
            match layer.args.get(i) {
                Some(Arg::Lit(s)) if s == w => {}
                // Could be this word, or split into several that shift the rest.
                Some(Arg::Dyn(_)) => return deny,
                _ => return false,
            }
        }
        true
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
            Matcher::Regex { .. } => self.matches(layer, match_basename),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::literal_starts;

    #[test]
    fn anchored_regexes_have_literal_starts() {
        let s = literal_starts(r"^git push(\s.*)?\s(-f|--force)").unwrap();
        assert!(s.iter().all(|l| l.starts_with("git push")), "{s:?}");
        assert!(literal_starts(r"rm -rf").is_none());
    }
}
