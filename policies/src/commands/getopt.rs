//! GNU `getopt_long` option parsing from one table per program: clustered short options,
//! attached or separate values, `--name=value`, unambiguous prefixes of long names, `--`, and
//! (for most GNU tools) options after operands. Programs accept exactly these spellings, so the
//! policy must read them the same way: `env --sp=...` *is* `env --split-string=...`.

use crate::shell::Arg;

/// Whether an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    No,
    /// A value, attached (`-ovalue`, `--opt=value`) or in the next word.
    Yes,
    /// A value only when attached (`-i{}`, `--replace=X`).
    Optional,
}

/// The option syntax of one program.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Short options: letter and whether it takes a value.
    pub short: &'static [(char, Val)],
    /// Long options (without `--`).
    pub long: &'static [(&'static str, Val)],
    /// Options may follow operands (GNU permutation). Wrappers stop at their first operand.
    pub permute: bool,
    /// How many leading operands to collect before parsing stops for good (wrappers: the
    /// command begins after them); `None`: parse every word.
    pub stop_after: Option<usize>,
}

/// One option found, by its canonical name: the short letter as `-x`, the long name as
/// `--name` (a prefix is resolved to the full name).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub name: String,
    pub value: Option<Arg>,
}

/// The parse of a command line.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub options: Vec<Found>,
    pub operands: Vec<Arg>,
    /// Index into the arguments where the rest begins (only with `stop_after`).
    pub rest: usize,
}

impl Parsed {
    pub fn has(&self, name: &str) -> bool {
        self.options.iter().any(|o| o.name == name)
    }

    pub fn value(&self, name: &str) -> Option<&Arg> {
        self.options
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.value.as_ref())
    }

    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Arg> + 'a {
        self.options
            .iter()
            .filter(move |o| o.name == name)
            .filter_map(|o| o.value.as_ref())
    }
}

/// Why a command line cannot be read with certainty.
#[derive(Debug, Clone, PartialEq)]
pub enum OptError {
    Unknown(String),
    Ambiguous(String, Vec<String>),
    /// `--flag=value` for a flag without value, or a missing value.
    BadValue(String),
    /// A word only known at run time where an option could be.
    Dynamic(String),
}

impl OptError {
    pub fn describe(&self, program: &str) -> String {
        match self {
            OptError::Unknown(o) => format!(
                "{program}: option {o} is not one the policy models (refused: it could change what {program} runs or writes)"
            ),
            OptError::Ambiguous(o, c) => {
                format!("{program}: option {o} is ambiguous ({})", c.join(", "))
            }
            OptError::BadValue(o) => {
                format!("{program}: option {o} has a missing or unexpected value")
            }
            OptError::Dynamic(src) => format!(
                "{program}: the word {src} is only known at run time and could be an option"
            ),
        }
    }
}

fn long_lookup(spec: &Spec, name: &str) -> Result<(&'static str, Val), OptError> {
    if let Some((n, v)) = spec.long.iter().find(|(n, _)| *n == name) {
        return Ok((n, *v));
    }
    let cands: Vec<&(&'static str, Val)> = spec
        .long
        .iter()
        .filter(|(n, _)| n.starts_with(name))
        .collect();
    match cands.as_slice() {
        [(n, v)] => Ok((n, *v)),
        [] => Err(OptError::Unknown(format!("--{name}"))),
        many => Err(OptError::Ambiguous(
            format!("--{name}"),
            many.iter().map(|(n, _)| format!("--{n}")).collect(),
        )),
    }
}

/// Parses `args` by `spec`.
pub fn parse(args: &[Arg], spec: &Spec) -> Result<Parsed, OptError> {
    let mut out = Parsed::default();
    let mut i = 0;
    let mut options_done = false;
    let full = |out: &Parsed| spec.stop_after.is_some_and(|n| out.operands.len() >= n);
    while i < args.len() {
        let word = match &args[i] {
            Arg::Lit(s) => s.as_str(),
            dynamic @ Arg::Dyn(d) => {
                // Checked first: a wrapper stops at its first operand, and this word could be
                // an option instead.
                if !options_done && d.could_be_option() {
                    return Err(OptError::Dynamic(d.src.clone()));
                }
                if full(&out) {
                    break;
                }
                out.operands.push(dynamic.clone());
                if !spec.permute {
                    options_done = true;
                }
                i += 1;
                continue;
            }
        };
        if options_done || word == "-" || !word.starts_with('-') {
            if full(&out) {
                break;
            }
            out.operands.push(args[i].clone());
            if !spec.permute {
                options_done = true;
            }
            i += 1;
            continue;
        }
        if word == "--" {
            options_done = true;
            i += 1;
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let (canon, val) = long_lookup(spec, name)?;
            let value = match (val, inline) {
                (Val::No, Some(_)) => return Err(OptError::BadValue(word.to_string())),
                (Val::No, None) | (Val::Optional, None) => None,
                (_, Some(v)) => Some(Arg::Lit(v.to_string())),
                (Val::Yes, None) => {
                    i += 1;
                    Some(
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| OptError::BadValue(word.to_string()))?,
                    )
                }
            };
            out.options.push(Found {
                name: format!("--{canon}"),
                value,
            });
            i += 1;
            continue;
        }
        // A cluster of short options.
        let letters: Vec<char> = word[1..].chars().collect();
        let mut j = 0;
        while j < letters.len() {
            let c = letters[j];
            let Some((_, val)) = spec.short.iter().find(|(l, _)| *l == c) else {
                return Err(OptError::Unknown(format!("-{c}")));
            };
            let attached: String = letters[j + 1..].iter().collect();
            match val {
                Val::No => {
                    out.options.push(Found {
                        name: format!("-{c}"),
                        value: None,
                    });
                    j += 1;
                    continue;
                }
                Val::Optional => out.options.push(Found {
                    name: format!("-{c}"),
                    value: (!attached.is_empty()).then_some(Arg::Lit(attached)),
                }),
                Val::Yes => {
                    let value = if attached.is_empty() {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| OptError::BadValue(format!("-{c}")))?
                    } else {
                        Arg::Lit(attached)
                    };
                    out.options.push(Found {
                        name: format!("-{c}"),
                        value: Some(value),
                    });
                }
            }
            break;
        }
        i += 1;
    }
    out.rest = i.min(args.len());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(words: &[&str]) -> Vec<Arg> {
        words.iter().map(|w| Arg::Lit(w.to_string())).collect()
    }

    const ENV: Spec = Spec {
        short: &[
            ('i', Val::No),
            ('u', Val::Yes),
            ('C', Val::Yes),
            ('S', Val::Yes),
        ],
        long: &[
            ("ignore-environment", Val::No),
            ("unset", Val::Yes),
            ("chdir", Val::Yes),
            ("split-string", Val::Yes),
            ("debug", Val::No),
        ],
        permute: false,
        stop_after: Some(0),
    };

    #[test]
    fn prefixes_and_attached_values() {
        let p = parse(&lits(&["--sp=touch m"]), &ENV).unwrap();
        assert_eq!(p.options[0].name, "--split-string");
        let p = parse(&lits(&["--ch", "/tmp", "rm", "x"]), &ENV).unwrap();
        assert_eq!(p.value("--chdir"), Some(&Arg::Lit("/tmp".into())));
        assert_eq!(p.rest, 2);
        let p = parse(&lits(&["-iuX", "rm"]), &ENV).unwrap();
        assert!(p.has("-i"));
        assert_eq!(p.value("-u"), Some(&Arg::Lit("X".into())));
        assert!(matches!(
            parse(&lits(&["--d"]), &ENV),
            Ok(p) if p.has("--debug")
        ));
        assert!(matches!(
            parse(&lits(&["--x"]), &ENV),
            Err(OptError::Unknown(_))
        ));
        assert!(matches!(
            parse(&lits(&["-iz"]), &ENV),
            Err(OptError::Unknown(_))
        ));
    }
}
