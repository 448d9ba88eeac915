//! Walking bash's syntax tree (from brush-parser) to collect every simple command.

use brush_parser::ast::{
    self, AndOr, Assignment, AssignmentName, AssignmentValue, Command, CommandPrefixOrSuffixItem,
    CompoundCommand, CompoundList, ExtendedTestExpr, IoFileRedirectKind, IoFileRedirectTarget,
    IoRedirect,
};
use brush_parser::{Parser, ParserOptions, word};

use super::words::{Arg, Pieces};
use super::{Analysis, Invocation, MAX_COMMANDS, Redirect, analyse_at};

/// Options matching `bash -c` as mcp-jobs runs it: not POSIX mode, extglob off (bash's
/// non-interactive default, so `@(...)` is a syntax error here as it is there).
pub(super) fn options() -> ParserOptions {
    ParserOptions {
        enable_extended_globbing: false,
        posix_mode: false,
        sh_mode: false,
        tilde_expansion_at_word_start: true,
        tilde_expansion_after_colon: false,
        ..ParserOptions::default()
    }
}

pub(super) fn parse(command: &str) -> Result<ast::Program, brush_parser::ParseError> {
    Parser::new(std::io::Cursor::new(command.as_bytes()), &options()).parse_program()
}

pub(super) struct Walker {
    depth: usize,
    out: Analysis,
    opts: ParserOptions,
    source: String,
}

impl Walker {
    pub(super) fn new(depth: usize, source: &str) -> Self {
        Self {
            depth,
            out: Analysis::default(),
            opts: options(),
            source: source.to_string(),
        }
    }

    pub(super) fn finish(self) -> Analysis {
        self.out
    }

    pub(super) fn program(&mut self, p: &ast::Program) {
        for c in &p.complete_commands {
            self.list(c);
        }
    }

    fn list(&mut self, l: &CompoundList) {
        for item in &l.0 {
            let a = &item.0;
            self.pipeline(&a.first);
            for next in &a.additional {
                match next {
                    AndOr::And(p) | AndOr::Or(p) => self.pipeline(p),
                }
            }
        }
    }

    fn pipeline(&mut self, p: &ast::Pipeline) {
        for c in &p.seq {
            self.command(c);
        }
    }

    fn command(&mut self, c: &Command) {
        match c {
            Command::Simple(sc) => self.simple(sc),
            Command::Compound(cc, redirects) => {
                self.compound(cc);
                if let Some(r) = redirects {
                    for r in &r.0 {
                        self.redirect(r);
                    }
                }
            }
            Command::Function(f) => self.out.refuse(format!(
                "defines a function ({}), which later commands could call under any name",
                f.fname.value
            )),
            Command::ExtendedTest(t, redirects) => {
                self.test_expr(&t.expr);
                if let Some(r) = redirects {
                    for r in &r.0 {
                        self.redirect(r);
                    }
                }
            }
        }
    }

    fn compound(&mut self, cc: &CompoundCommand) {
        match cc {
            CompoundCommand::Arithmetic(a) => {
                // bash reads `((` as arithmetic only when the two parentheses touch; brush also
                // reads `( (` that way, where bash sees nested subshells. Refuse the difference.
                let at = self.source.get(a.loc.start.index..).unwrap_or("");
                if !at.starts_with("((") {
                    self.out.refuse(
                        "nested subshells written `( (` (bash runs them as commands, not arithmetic): \
write `((` for arithmetic or `( ( ... ) )` with a command inside on one level"
                            .to_string(),
                    );
                }
                self.arithmetic(&a.expr.value)
            }
            CompoundCommand::ArithmeticForClause(f) => {
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arithmetic(&e.value);
                }
                self.list(&f.body.list);
            }
            CompoundCommand::BraceGroup(b) => self.list(&b.list),
            CompoundCommand::Subshell(s) => self.list(&s.list),
            CompoundCommand::ForClause(f) => {
                self.out.shell_assignments.push(f.variable_name.clone());
                for w in f.values.iter().flatten() {
                    self.word(w);
                }
                self.list(&f.body.list);
            }
            CompoundCommand::CaseClause(c) => {
                self.word(&c.value);
                for item in &c.cases {
                    for p in &item.patterns {
                        self.word(p);
                    }
                    if let Some(cmd) = &item.cmd {
                        self.list(cmd);
                    }
                }
            }
            CompoundCommand::IfClause(i) => {
                self.list(&i.condition);
                self.list(&i.then);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c);
                    }
                    self.list(&e.body);
                }
            }
            CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
                self.list(&w.0);
                self.list(&w.1.list);
            }
            CompoundCommand::Coprocess(_) => self
                .out
                .refuse("starts a coprocess (coproc), whose input and output cannot be followed"),
        }
    }

    fn test_expr(&mut self, e: &ExtendedTestExpr) {
        use brush_parser::ast::BinaryPredicate as B;
        match e {
            ExtendedTestExpr::And(a, b) | ExtendedTestExpr::Or(a, b) => {
                self.test_expr(a);
                self.test_expr(b);
            }
            ExtendedTestExpr::Not(a) | ExtendedTestExpr::Parenthesized(a) => self.test_expr(a),
            ExtendedTestExpr::UnaryTest(_, w) => {
                // `-v name[subscript]` evaluates the subscript.
                if w.value.contains('[') {
                    self.out.arithmetic = true;
                }
                self.word(w);
            }
            ExtendedTestExpr::BinaryTest(op, a, b) => {
                if matches!(
                    op,
                    B::ArithmeticEqualTo
                        | B::ArithmeticNotEqualTo
                        | B::ArithmeticLessThan
                        | B::ArithmeticLessThanOrEqualTo
                        | B::ArithmeticGreaterThan
                        | B::ArithmeticGreaterThanOrEqualTo
                ) {
                    self.arithmetic(&a.value);
                    self.arithmetic(&b.value);
                }
                self.word(a);
                self.word(b);
            }
        }
    }

    /// Arithmetic text: bash expands `$(...)` in it, and evaluates array subscripts and
    /// variable contents as further arithmetic (which can run commands).
    fn arithmetic(&mut self, text: &str) {
        self.out.arithmetic = true;
        if text.contains("$(") || text.contains('`') {
            self.out.refuse(format!(
                "a command substitution inside arithmetic ({text}) cannot be analysed"
            ));
        }
    }

    fn simple(&mut self, sc: &ast::SimpleCommand) {
        if self.out.invocations.len() >= MAX_COMMANDS {
            self.out
                .refuse(format!("more than {MAX_COMMANDS} commands"));
            return;
        }
        let mut argv: Vec<Arg> = Vec::new();
        let mut assignments: Vec<(String, Arg)> = Vec::new();
        let prefix = sc.prefix.iter().flat_map(|p| p.0.iter());
        for item in prefix {
            match item {
                CommandPrefixOrSuffixItem::AssignmentWord(a, _) => {
                    if let Some(pair) = self.assignment(a) {
                        assignments.push(pair);
                    }
                }
                other => self.item(other, &mut argv),
            }
        }
        if let Some(w) = &sc.word_or_name {
            let a = self.word(w);
            argv.push(a);
        }
        for item in sc.suffix.iter().flat_map(|s| s.0.iter()) {
            match item {
                // `export NAME=value`, `declare NAME=value`: an assignment in the shell, and an
                // argument of the builtin.
                CommandPrefixOrSuffixItem::AssignmentWord(a, w) => {
                    if let Some((name, _)) = self.assignment(a) {
                        self.out.shell_assignments.push(name);
                    }
                    let arg = self.word(w);
                    argv.push(arg);
                }
                other => self.item(other, &mut argv),
            }
        }
        if argv.is_empty() {
            // Bare assignments persist in the shell.
            self.out
                .shell_assignments
                .extend(assignments.into_iter().map(|(n, _)| n));
            return;
        }
        if let Some(Arg::Lit(p)) = argv.first()
            && matches!(p.as_str(), "cd" | "pushd" | "popd")
        {
            self.out.changes_directory = true;
        }
        self.out.invocations.push(Invocation { argv, assignments });
    }

    fn item(&mut self, item: &CommandPrefixOrSuffixItem, argv: &mut Vec<Arg>) {
        match item {
            CommandPrefixOrSuffixItem::IoRedirect(r) => self.redirect(r),
            CommandPrefixOrSuffixItem::Word(w) => {
                let a = self.word(w);
                argv.push(a);
            }
            CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                self.list(&sub.list);
                argv.push(Arg::Dyn("<(...)".into()));
            }
            CommandPrefixOrSuffixItem::AssignmentWord(a, _) => {
                if let Some((name, _)) = self.assignment(a) {
                    self.out.shell_assignments.push(name);
                }
            }
        }
    }

    fn assignment(&mut self, a: &Assignment) -> Option<(String, Arg)> {
        let name = match &a.name {
            AssignmentName::VariableName(n) => n.clone(),
            AssignmentName::ArrayElementName(n, index) => {
                self.arithmetic(index);
                n.clone()
            }
        };
        match &a.value {
            AssignmentValue::Scalar(w) => {
                let v = self.word(w);
                Some((name, v))
            }
            AssignmentValue::Array(items) => {
                for (k, v) in items {
                    if let Some(k) = k {
                        self.word(k);
                    }
                    self.word(v);
                }
                Some((name, Arg::Dyn("(...)".into())))
            }
        }
    }

    fn redirect(&mut self, r: &IoRedirect) {
        match r {
            IoRedirect::File(_, kind, target) => {
                let write = !matches!(
                    kind,
                    IoFileRedirectKind::Read | IoFileRedirectKind::DuplicateInput
                );
                match target {
                    IoFileRedirectTarget::Filename(w) => {
                        let t = self.word(w);
                        self.out.redirects.push(Redirect { target: t, write });
                    }
                    IoFileRedirectTarget::Fd(_) => {}
                    IoFileRedirectTarget::ProcessSubstitution(_, sub) => self.list(&sub.list),
                    IoFileRedirectTarget::Duplicate(w) => {
                        // `>&word`: a descriptor number, `-`, or else a file name.
                        let t = self.word(w);
                        let is_fd = t.lit().is_some_and(|s| {
                            s == "-" || s.trim_end_matches('-').parse::<u32>().is_ok()
                        });
                        if !is_fd {
                            self.out.redirects.push(Redirect { target: t, write });
                        }
                    }
                }
            }
            IoRedirect::HereDocument(_, h) => {
                if h.requires_expansion {
                    match word::parse_heredoc(&h.doc.value, &self.opts) {
                        Ok(pieces) => {
                            let mut p = Pieces::default();
                            p.eval(&h.doc.value, &pieces, true);
                            self.absorb_pieces(p);
                        }
                        Err(e) => self
                            .out
                            .refuse(format!("cannot parse a here-document: {e}")),
                    }
                }
            }
            IoRedirect::HereString(_, w) => {
                self.word(w);
            }
            IoRedirect::OutputAndError(w, _) => {
                let t = self.word(w);
                self.out.redirects.push(Redirect {
                    target: t,
                    write: true,
                });
            }
        }
    }

    /// Evaluates a word: its literal value if it has one, and everything it would run.
    fn word(&mut self, w: &ast::Word) -> Arg {
        match word::parse(&w.value, &self.opts) {
            Ok(pieces) => {
                let mut p = Pieces::default();
                p.eval(&w.value, &pieces, false);
                let dynamic = p.dynamic;
                let text = p.text.clone();
                self.absorb_pieces(p);
                if dynamic {
                    Arg::Dyn(w.value.clone())
                } else {
                    if text.contains("$(") || text.contains('`') {
                        self.out.quoted_substitution_text = true;
                    }
                    Arg::Lit(text)
                }
            }
            Err(e) => {
                self.out
                    .refuse(format!("cannot parse the word {}: {e}", w.value));
                Arg::Dyn(w.value.clone())
            }
        }
    }

    fn absorb_pieces(&mut self, p: Pieces) {
        for r in p.refusals {
            self.out.refuse(r);
        }
        for e in &p.arithmetic {
            self.arithmetic(e);
        }
        if p.subscripted {
            self.out.arithmetic = true;
        }
        if p.quoted_substitution {
            self.out.quoted_substitution_text = true;
        }
        for s in &p.substitutions {
            let nested = analyse_at(s, self.depth + 1);
            self.out.absorb(nested);
        }
    }
}
