//! Words after quote removal, as far as they can be known before the command runs.

use brush_parser::word::{Parameter, ParameterExpr, WordPiece, WordPieceWithSource};

/// A word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Known text: no expansion happens (quotes and escapes removed).
    Lit(String),
    /// Depends on an expansion at run time (variable, substitution, glob, brace, tilde); holds
    /// the source text.
    Dyn(String),
}

impl Arg {
    pub fn lit(&self) -> Option<&str> {
        match self {
            Arg::Lit(s) => Some(s),
            Arg::Dyn(_) => None,
        }
    }

    /// How to show the word to a person.
    pub fn display(&self) -> String {
        match self {
            Arg::Lit(s) => {
                shlex::try_quote(s).map_or_else(|_| format!("{s:?}"), |q| q.into_owned())
            }
            Arg::Dyn(s) => s.clone(),
        }
    }
}

/// What evaluating the pieces of one word found.
#[derive(Default)]
pub(super) struct Pieces {
    pub text: String,
    pub dynamic: bool,
    /// Command substitutions to analyse (their source).
    pub substitutions: Vec<String>,
    /// Arithmetic expressions met (their source).
    pub arithmetic: Vec<String>,
    /// Reasons the word cannot be analysed.
    pub refusals: Vec<String>,
    /// A parameter expansion with an array subscript, offset or indirection (bash evaluates
    /// those as arithmetic).
    pub subscripted: bool,
    /// Single-quoted text containing `$(` or a backtick.
    pub quoted_substitution: bool,
}

/// Unquoted text that bash would glob or brace-expand.
fn expands(text: &str) -> bool {
    if text.contains(['*', '?', '[']) {
        return true;
    }
    // Brace expansion: `{a,b}` or `{1..3}`; a lone `{}` (find -exec) is literal.
    if let Some(open) = text.find('{')
        && let Some(close) = text[open..].find('}')
    {
        let inner = &text[open + 1..open + close];
        return inner.contains(',') || inner.contains("..");
    }
    false
}

impl Pieces {
    pub(super) fn eval(&mut self, source: &str, pieces: &[WordPieceWithSource], in_dq: bool) {
        for p in pieces {
            let raw = source.get(p.start_index..p.end_index).unwrap_or("");
            match &p.piece {
                WordPiece::Text(t) => {
                    if !in_dq && expands(t) {
                        self.dynamic = true;
                    }
                    self.text.push_str(t);
                }
                WordPiece::SingleQuotedText(t) => {
                    self.quoted_substitution |= t.contains("$(") || t.contains('`');
                    self.text.push_str(t);
                }
                WordPiece::AnsiCQuotedText(t) => {
                    // Escapes such as \x72 would spell any name: not decoded here, so unknown.
                    if t.contains('\\') {
                        self.dynamic = true;
                    }
                    self.text.push_str(t);
                }
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    self.eval(source, inner, true);
                }
                WordPiece::TildeExpansion(_) => self.dynamic = true,
                WordPiece::ParameterExpansion(expr) => {
                    self.dynamic = true;
                    if raw.contains("@P") {
                        self.refusals.push(format!(
                            "prompt expansion ({raw}) runs the substitutions in a variable's value"
                        ));
                    }
                    if raw.contains("$(") || raw.contains('`') {
                        self.refusals.push(format!(
                            "a command substitution inside a parameter expansion ({raw}) cannot be analysed"
                        ));
                    }
                    if subscripted(expr) || raw.starts_with("${!") {
                        self.subscripted = true;
                    }
                }
                WordPiece::CommandSubstitution(s) => {
                    self.dynamic = true;
                    self.substitutions.push(s.clone());
                }
                WordPiece::BackquotedCommandSubstitution(s) => {
                    self.dynamic = true;
                    // Inside backquotes, \$ \` \\ lose their backslash before the text is parsed.
                    let unescaped = s
                        .replace("\\\\", "\u{0}")
                        .replace("\\`", "`")
                        .replace("\\$", "$");
                    self.substitutions.push(unescaped.replace('\u{0}', "\\"));
                }
                WordPiece::EscapeSequence(s) => {
                    let escaped = s.strip_prefix('\\').unwrap_or(s);
                    if escaped == "\n" {
                        // A line continuation.
                    } else if in_dq && !matches!(escaped, "$" | "`" | "\"" | "\\") {
                        self.text.push_str(s);
                    } else {
                        self.text.push_str(escaped);
                    }
                }
                WordPiece::ArithmeticExpression(e) => {
                    self.dynamic = true;
                    self.arithmetic.push(e.value.clone());
                }
            }
        }
    }
}

fn subscripted(expr: &ParameterExpr) -> bool {
    let param = match expr {
        ParameterExpr::Parameter { parameter, .. }
        | ParameterExpr::UseDefaultValues { parameter, .. }
        | ParameterExpr::AssignDefaultValues { parameter, .. }
        | ParameterExpr::IndicateErrorIfNullOrUnset { parameter, .. }
        | ParameterExpr::UseAlternativeValue { parameter, .. }
        | ParameterExpr::ParameterLength { parameter, .. }
        | ParameterExpr::RemoveSmallestSuffixPattern { parameter, .. }
        | ParameterExpr::RemoveLargestSuffixPattern { parameter, .. }
        | ParameterExpr::RemoveSmallestPrefixPattern { parameter, .. }
        | ParameterExpr::RemoveLargestPrefixPattern { parameter, .. }
        | ParameterExpr::Substring { parameter, .. }
        | ParameterExpr::Transform { parameter, .. }
        | ParameterExpr::UppercaseFirstChar { parameter, .. }
        | ParameterExpr::UppercasePattern { parameter, .. }
        | ParameterExpr::LowercaseFirstChar { parameter, .. }
        | ParameterExpr::LowercasePattern { parameter, .. }
        | ParameterExpr::ReplaceSubstring { parameter, .. } => Some(parameter),
        _ => None,
    };
    matches!(param, Some(Parameter::NamedWithIndex { .. }))
        || matches!(expr, ParameterExpr::Substring { .. })
}
