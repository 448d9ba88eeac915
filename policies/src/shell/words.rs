//! Words after quote removal, as far as they can be known before the command runs, under a
//! positive grammar: every piece of a word is one whose full meaning is modelled (literal text,
//! quotes, ANSI-C escapes, plain parameter expansions, command substitutions analysed in turn,
//! arithmetic on literal numbers, globs and tildes); anything else is refused, naming it.

use brush_parser::ParserOptions;
use brush_parser::word::{
    self, Parameter, ParameterExpr, TildeExpr, WordPiece, WordPieceWithSource,
};

use super::ansi_c;

/// A word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Known text: no expansion happens (quotes and escapes removed).
    Lit(String),
    /// Depends on an expansion at run time.
    Dyn(Dyn),
}

/// A word only known at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dyn {
    /// The source text.
    pub src: String,
    /// It could begin with `-` (nothing literal other than `-` comes first).
    pub may_be_option: bool,
    /// Unquoted expansion: its value is split into any words at all (`-x` included).
    pub may_split: bool,
    /// Unquoted glob or brace: several words (or none), each matching the pattern.
    pub glob: bool,
    /// The literal text before the first expansion (`--author=` of `--author="$(...)"`).
    pub prefix: String,
}

impl Dyn {
    /// Whether some word it becomes could be read as an option.
    pub fn could_be_option(&self) -> bool {
        self.may_be_option || self.may_split
    }

    /// Whether it could become other than exactly one word.
    pub fn could_split(&self) -> bool {
        self.may_split || self.glob
    }
}

impl Arg {
    pub fn lit(&self) -> Option<&str> {
        match self {
            Arg::Lit(s) => Some(s),
            Arg::Dyn(_) => None,
        }
    }

    /// A run-time word (for synthetic words: `{}` of find, xargs input).
    pub fn unknown(src: impl Into<String>) -> Arg {
        Arg::Dyn(Dyn {
            src: src.into(),
            may_be_option: true,
            may_split: false,
            glob: false,
            prefix: String::new(),
        })
    }

    /// How to show the word to a person.
    pub fn display(&self) -> String {
        match self {
            Arg::Lit(s) => {
                shlex::try_quote(s).map_or_else(|_| format!("{s:?}"), |q| q.into_owned())
            }
            Arg::Dyn(d) => d.src.clone(),
        }
    }

    /// The text a regex rule sees.
    pub fn text(&self) -> &str {
        match self {
            Arg::Lit(s) => s,
            Arg::Dyn(d) => &d.src,
        }
    }
}

/// Deepest nesting of words inside parameter expansions (`${a:-${b:-...}}`).
const MAX_WORD_DEPTH: usize = 16;

/// What evaluating one word found besides its value.
#[derive(Default)]
pub(super) struct Found {
    /// Command substitutions to analyse (their source).
    pub substitutions: Vec<String>,
    /// Reasons the word is refused.
    pub refusals: Vec<String>,
}

/// Evaluates words.
pub(super) struct Evaluator<'a> {
    pub opts: &'a ParserOptions,
    pub found: Found,
}

#[derive(Default)]
struct State {
    text: String,
    dynamic: bool,
    may_be_option: bool,
    may_split: bool,
    glob: bool,
    prefix: String,
}

impl State {
    fn mark(&mut self, splits: bool) {
        if !self.dynamic {
            self.may_be_option = self.text.is_empty() || self.text.starts_with('-');
            self.prefix = self.text.clone();
        }
        self.dynamic = true;
        self.may_split |= splits;
    }

    fn mark_glob(&mut self) {
        self.mark(false);
        self.glob = true;
    }
}

/// Unquoted text that bash would glob or brace-expand.
fn expands(text: &str) -> bool {
    if text.contains(['*', '?']) {
        return true;
    }
    // `[` opens a bracket expression only when a `]` follows it.
    if let Some(open) = text.find('[')
        && text[open + 1..].contains(']')
    {
        return true;
    }
    if let Some(open) = text.find('{')
        && let Some(close) = text[open..].find('}')
    {
        let inner = &text[open + 1..open + close];
        return inner.contains(',') || inner.contains("..");
    }
    false
}

/// Arithmetic the engine models: literal decimal numbers and operators, nothing that names a
/// variable (bash evaluates a variable's contents as arithmetic, recursively, and array
/// subscripts inside them run command substitutions).
pub fn literal_arithmetic(expr: &str) -> bool {
    expr.chars().all(|c| {
        c.is_ascii_digit()
            || c.is_ascii_whitespace()
            || matches!(
                c,
                '+' | '-'
                    | '*'
                    | '/'
                    | '%'
                    | '('
                    | ')'
                    | '<'
                    | '>'
                    | '!'
                    | '&'
                    | '|'
                    | '^'
                    | '~'
                    | '?'
                    | ':'
            )
    })
}

impl Evaluator<'_> {
    fn refuse(&mut self, reason: String) {
        let reason = crate::clip(reason);
        if !self.found.refusals.contains(&reason) {
            self.found.refusals.push(reason);
        }
    }

    /// Evaluates a word's source text.
    pub fn word(&mut self, source: &str) -> Arg {
        self.word_at(source, 0)
    }

    /// Evaluates the body of a here-document that expands (its delimiter was not quoted).
    pub fn heredoc(&mut self, body: &str) {
        match word::parse_heredoc(body, self.opts) {
            Ok(pieces) => {
                let mut st = State::default();
                self.pieces(body, &pieces, true, 0, &mut st);
            }
            Err(e) => self.refuse(format!("cannot parse a here-document: {e}")),
        }
    }

    fn word_at(&mut self, source: &str, depth: usize) -> Arg {
        if depth > MAX_WORD_DEPTH {
            self.refuse(format!(
                "words nested more than {MAX_WORD_DEPTH} levels deep"
            ));
            return Arg::unknown(source);
        }
        // `$[expr]` is bash's old arithmetic expansion; the parser reads it as text.
        if source.contains("$[") {
            self.refuse(format!(
                "`$[...]` arithmetic in {source} is not modelled (write the number)"
            ));
        }
        let pieces = match word::parse(source, self.opts) {
            Ok(p) => p,
            Err(e) => {
                self.refuse(format!("cannot parse the word {source}: {e}"));
                return Arg::unknown(source);
            }
        };
        let mut st = State::default();
        self.pieces(source, &pieces, false, depth, &mut st);
        if st.dynamic {
            Arg::Dyn(Dyn {
                src: source.to_string(),
                may_be_option: st.may_be_option,
                may_split: st.may_split,
                glob: st.glob,
                prefix: st.prefix,
            })
        } else {
            Arg::Lit(st.text)
        }
    }

    fn pieces(
        &mut self,
        source: &str,
        pieces: &[WordPieceWithSource],
        in_dq: bool,
        depth: usize,
        st: &mut State,
    ) {
        for p in pieces {
            let raw = source.get(p.start_index..p.end_index).unwrap_or("");
            match &p.piece {
                WordPiece::Text(t) => {
                    if !in_dq && expands(t) {
                        st.mark_glob();
                    }
                    // An unquoted newline ends a word in bash: one inside a word means the
                    // parser read the text differently (around a here-document in `$(...)`).
                    if !in_dq && t.contains('\n') {
                        self.refuse(format!(
                            "the parser and bash would split {source} differently (a newline inside a word)"
                        ));
                    }
                    st.text.push_str(t);
                }
                WordPiece::SingleQuotedText(t) => st.text.push_str(t),
                WordPiece::AnsiCQuotedText(t) => match ansi_c::decode(t) {
                    Some(s) => st.text.push_str(&s),
                    None => self.refuse(format!(
                        "the ANSI-C string $'{t}' uses an escape the policy does not model"
                    )),
                },
                WordPiece::DoubleQuotedSequence(inner) => {
                    self.pieces(source, inner, true, depth, st);
                }
                WordPiece::GettextDoubleQuotedSequence(_) => self.refuse(format!(
                    "locale-translated strings ({raw}) are not modelled: use plain double quotes"
                )),
                WordPiece::TildeExpansion(t) => {
                    if !matches!(t, TildeExpr::Home) {
                        self.refuse(format!("the tilde expansion {raw} is not modelled"));
                    }
                    st.mark(false);
                    // A home directory is an absolute path: never an option.
                    if st.text.is_empty() {
                        st.may_be_option = false;
                    }
                }
                WordPiece::ParameterExpansion(expr) => {
                    // Inside double quotes, single quotes in an inner word are plain text and
                    // `$(...)` there runs: not read that way here, so refused.
                    if in_dq && raw.contains('\'') {
                        self.refuse(format!(
                            "single quotes inside a double-quoted expansion ({raw}) are not modelled"
                        ));
                    }
                    self.parameter(raw, expr, depth);
                    st.mark(!in_dq);
                }
                WordPiece::CommandSubstitution(s) => {
                    // A here-document begun inside `$(...)` must end inside it.
                    if s.contains("<<") && !s.contains('\n') {
                        self.refuse(format!(
                            "a here-document inside {raw} whose body is outside it is not modelled"
                        ));
                    }
                    self.found.substitutions.push(s.clone());
                    st.mark(!in_dq);
                }
                WordPiece::BackquotedCommandSubstitution(s) => {
                    // Inside backquotes, \$ \` \\ lose their backslash before the text is parsed.
                    let unescaped = s
                        .replace("\\\\", "\u{0}")
                        .replace("\\`", "`")
                        .replace("\\$", "$")
                        .replace('\u{0}', "\\");
                    self.found.substitutions.push(unescaped);
                    st.mark(!in_dq);
                }
                WordPiece::EscapeSequence(s) => {
                    let escaped = s.strip_prefix('\\').unwrap_or(s);
                    if escaped == "\n" {
                        // A line continuation.
                    } else if in_dq && !matches!(escaped, "$" | "`" | "\"" | "\\") {
                        st.text.push_str(s);
                    } else {
                        st.text.push_str(escaped);
                    }
                }
                WordPiece::ArithmeticExpression(e) => {
                    if !literal_arithmetic(&e.value) {
                        self.refuse(format!(
                            "arithmetic on anything but literal numbers ({raw}) is not modelled: \
bash evaluates variable contents in arithmetic, which can run commands"
                        ));
                    }
                    st.mark(!in_dq);
                }
            }
        }
    }

    fn parameter(&mut self, raw: &str, expr: &ParameterExpr, depth: usize) {
        use ParameterExpr as P;
        let (parameter, indirect) = match expr {
            P::Parameter {
                parameter,
                indirect,
            }
            | P::ParameterLength {
                parameter,
                indirect,
            } => (parameter, *indirect),
            P::UseDefaultValues {
                parameter,
                indirect,
                default_value: inner,
                ..
            }
            | P::IndicateErrorIfNullOrUnset {
                parameter,
                indirect,
                error_message: inner,
                ..
            }
            | P::UseAlternativeValue {
                parameter,
                indirect,
                alternative_value: inner,
                ..
            }
            | P::RemoveSmallestSuffixPattern {
                parameter,
                indirect,
                pattern: inner,
            }
            | P::RemoveLargestSuffixPattern {
                parameter,
                indirect,
                pattern: inner,
            }
            | P::RemoveSmallestPrefixPattern {
                parameter,
                indirect,
                pattern: inner,
            }
            | P::RemoveLargestPrefixPattern {
                parameter,
                indirect,
                pattern: inner,
            }
            | P::UppercaseFirstChar {
                parameter,
                indirect,
                pattern: inner,
            }
            | P::UppercasePattern {
                parameter,
                indirect,
                pattern: inner,
            }
            | P::LowercaseFirstChar {
                parameter,
                indirect,
                pattern: inner,
            }
            | P::LowercasePattern {
                parameter,
                indirect,
                pattern: inner,
            } => {
                if let Some(w) = inner {
                    self.word_at(w, depth + 1);
                }
                (parameter, *indirect)
            }
            P::ReplaceSubstring {
                parameter,
                indirect,
                pattern,
                replacement,
                ..
            } => {
                self.word_at(pattern, depth + 1);
                if let Some(w) = replacement {
                    self.word_at(w, depth + 1);
                }
                (parameter, *indirect)
            }
            P::Substring {
                parameter,
                indirect,
                offset,
                length,
            } => {
                let literal = literal_arithmetic(&offset.value)
                    && length.as_ref().is_none_or(|l| literal_arithmetic(&l.value));
                if !literal {
                    self.refuse(format!(
                        "a substring offset that is not a literal number ({raw}) is not modelled \
(bash evaluates it as arithmetic)"
                    ));
                }
                (parameter, *indirect)
            }
            P::AssignDefaultValues { .. } => {
                self.refuse(format!(
                    "{raw} assigns a variable inside an expansion, which is not modelled"
                ));
                return;
            }
            P::Transform { .. } => {
                self.refuse(format!("the transformation {raw} is not modelled"));
                return;
            }
            P::VariableNames { .. } | P::MemberKeys { .. } => {
                self.refuse(format!("the expansion {raw} is not modelled"));
                return;
            }
        };
        if indirect {
            self.refuse(format!(
                "indirect expansion ({raw}) reads a variable named by another's value, which is not modelled"
            ));
        }
        if let Parameter::NamedWithIndex { index, .. } = parameter
            && !index.chars().all(|c| c.is_ascii_digit())
        {
            self.refuse(format!(
                "an array subscript that is not a literal number ({raw}) is evaluated as arithmetic, \
which is not modelled"
            ));
        }
    }
}
