//! Walking bash's syntax tree (from brush-parser) under the positive grammar: lists,
//! pipelines, groups, subshells, `if`, `for`, `while`/`until`, `case`, `[[ ]]` with string and
//! file tests, simple commands and redirections are modelled; functions, coprocesses and
//! arithmetic on anything but literal numbers are refused. The walk also follows the working
//! directory through `cd`, so that redirections are judged where they happen.

use brush_parser::ParserOptions;
use brush_parser::ast::{
    self, AndOr, Assignment, AssignmentName, AssignmentValue, BinaryPredicate, Command,
    CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, ExtendedTestExpr, IoFileRedirectKind,
    IoFileRedirectTarget, IoRedirect, SeparatorOperator, UnaryPredicate,
};

use super::words::{Arg, Evaluator, Found, literal_arithmetic};
use super::{Access, Analysis, CdStep, Cwd, Invocation, MAX_COMMANDS, Redirect, analyse_at, vars};
use crate::bounds::Budget;

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

/// Deepest nesting of `(` (subshells, arithmetic commands) parsed: brush-parser's grammar
/// backtracks between `( (` and `((` at each level, which takes time exponential in the depth
/// of parentheses that do not close (22 levels: a quarter of a second; 30: a minute).
pub const MAX_PARENS: usize = 12;

pub(super) fn parse(command: &str) -> Result<ast::Program, String> {
    let opts = options();
    let tokens = brush_parser::uncached_tokenize_str(command, &opts.tokenizer_options())
        .map_err(|e| format!("cannot parse the command: {e}"))?;
    let mut depth = 0usize;
    for t in &tokens {
        if let brush_parser::Token::Operator(op, _) = t {
            for c in op.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if depth > MAX_PARENS {
                    return Err(format!(
                        "subshells or parentheses nested more than {MAX_PARENS} levels deep"
                    ));
                }
            }
        }
    }
    brush_parser::parse_tokens(&tokens, &opts).map_err(|e| format!("cannot parse the command: {e}"))
}

/// Deepest nesting of compound commands and test expressions walked.
const MAX_NESTING: usize = 1024;

pub(super) struct Walker<'b> {
    depth: usize,
    out: Analysis,
    opts: ParserOptions,
    source: String,
    cwd: Cwd,
    nesting: usize,
    budget: &'b Budget,
}

impl<'b> Walker<'b> {
    pub(super) fn new(depth: usize, source: &str, cwd: Cwd, budget: &'b Budget) -> Self {
        Self {
            depth,
            out: Analysis::default(),
            opts: options(),
            source: source.to_string(),
            cwd,
            nesting: 0,
            budget,
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

    fn enter(&mut self) -> bool {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            self.out.refuse(format!(
                "commands nested more than {MAX_NESTING} levels deep"
            ));
            return false;
        }
        true
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn list(&mut self, l: &CompoundList) {
        if !self.enter() {
            return;
        }
        for item in &l.0 {
            let before = self.cwd.clone();
            self.and_or(&item.0);
            if matches!(item.1, SeparatorOperator::Async) {
                // A background list runs in a subshell: its `cd` stays there.
                self.cwd = before;
            }
        }
        self.leave();
    }

    fn and_or(&mut self, a: &ast::AndOrList) {
        let start = self.cwd.clone();
        self.pipeline(&a.first);
        // Each later pipeline runs after the previous one succeeded (`&&`) or failed (`||`):
        // a `cd` that failed leaves the directory as it was, so after `||`, and after the
        // whole list, every alternative is possible.
        let mut all = start.union(&self.cwd);
        for next in &a.additional {
            match next {
                AndOr::And(p) => self.pipeline(p),
                AndOr::Or(p) => {
                    self.cwd = all.clone();
                    self.pipeline(p);
                }
            }
            all = all.union(&self.cwd);
        }
        self.cwd = all;
    }

    fn pipeline(&mut self, p: &ast::Pipeline) {
        if p.seq.len() > 1 {
            // Every command of a pipeline runs in a subshell.
            let before = self.cwd.clone();
            for c in &p.seq {
                self.command(c);
                self.cwd = before.clone();
            }
        } else {
            for c in &p.seq {
                self.command(c);
            }
        }
    }

    fn redirects(&mut self, r: &Option<ast::RedirectList>) {
        if let Some(r) = r {
            for r in &r.0 {
                self.redirect(r);
            }
        }
    }

    fn command(&mut self, c: &Command) {
        match c {
            Command::Simple(sc) => self.simple(sc),
            Command::Compound(cc, redirects) => {
                // Redirections of a compound command apply before its body runs, from the
                // directory it starts in.
                self.redirects(redirects);
                self.compound(cc);
            }
            Command::Function(f) => self.out.refuse(format!(
                "defining a function ({}) is not modelled: later commands could call it under any name",
                f.fname.value
            )),
            Command::ExtendedTest(t, redirects) => {
                self.redirects(redirects);
                if self.enter() {
                    self.test_expr(&t.expr);
                    self.leave();
                }
            }
        }
    }

    /// Walks a body that may run zero or more times (or not at all): afterwards the directory
    /// is any of before and after.
    fn maybe(&mut self, f: impl FnOnce(&mut Self)) {
        let before = self.cwd.clone();
        f(self);
        self.cwd = before.union(&self.cwd);
    }

    fn compound(&mut self, cc: &CompoundCommand) {
        if !self.enter() {
            return;
        }
        match cc {
            CompoundCommand::Arithmetic(a) => {
                let at = self.source.get(a.loc.start.index..).unwrap_or("");
                if !at.starts_with("((") {
                    self.out.refuse(
                        "nested subshells written `( (` are read differently by bash and the \
parser: write `( ( ... ) )` on one level"
                            .to_string(),
                    );
                }
                self.arithmetic(&a.expr.value);
            }
            CompoundCommand::ArithmeticForClause(f) => {
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arithmetic(&e.value);
                }
                self.maybe(|w| w.list(&f.body.list));
            }
            CompoundCommand::BraceGroup(b) => self.list(&b.list),
            CompoundCommand::Subshell(s) => {
                let before = self.cwd.clone();
                self.list(&s.list);
                self.cwd = before;
            }
            CompoundCommand::ForClause(f) => {
                if let Some(reason) = vars::assignable(&f.variable_name) {
                    self.out
                        .refuse(format!("for {}: {reason}", f.variable_name));
                }
                self.out.shell_assignments.push(f.variable_name.clone());
                for w in f.values.iter().flatten() {
                    self.word(&w.value);
                }
                self.maybe(|w| w.list(&f.body.list));
            }
            CompoundCommand::CaseClause(c) => {
                self.word(&c.value.value);
                let before = self.cwd.clone();
                let mut after = before.clone();
                for item in &c.cases {
                    for p in &item.patterns {
                        self.word(&p.value);
                    }
                    if let Some(cmd) = &item.cmd {
                        self.cwd = before.clone();
                        self.list(cmd);
                        after = after.union(&self.cwd);
                    }
                }
                self.cwd = after;
            }
            CompoundCommand::IfClause(i) => {
                let before = self.cwd.clone();
                self.list(&i.condition);
                let cond = before.union(&self.cwd);
                self.cwd = cond.clone();
                self.list(&i.then);
                let mut after = self.cwd.clone();
                for e in i.elses.iter().flatten() {
                    self.cwd = cond.clone();
                    if let Some(c) = &e.condition {
                        self.list(c);
                        self.cwd = cond.union(&self.cwd);
                    }
                    self.list(&e.body);
                    after = after.union(&self.cwd);
                }
                self.cwd = after.union(&cond);
            }
            CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
                self.maybe(|s| {
                    s.list(&w.0);
                    s.list(&w.1.list);
                    // A second round starts where the first ended.
                    s.list(&w.0);
                });
            }
            CompoundCommand::Coprocess(_) => {
                self.out.refuse("a coprocess (coproc) is not modelled")
            }
        }
        self.leave();
    }

    fn test_expr(&mut self, e: &ExtendedTestExpr) {
        if !self.enter() {
            return;
        }
        match e {
            ExtendedTestExpr::And(a, b) | ExtendedTestExpr::Or(a, b) => {
                self.test_expr(a);
                self.test_expr(b);
            }
            ExtendedTestExpr::Not(a) | ExtendedTestExpr::Parenthesized(a) => self.test_expr(a),
            ExtendedTestExpr::UnaryTest(op, w) => {
                if matches!(
                    op,
                    UnaryPredicate::ShellVariableIsSetAndAssigned
                        | UnaryPredicate::ShellVariableIsSetAndNameRef
                ) {
                    self.out.refuse(format!(
                        "[[ -v / -R {} ]] is not modelled (a subscript in the name is evaluated as arithmetic)",
                        w.value
                    ));
                }
                self.word(&w.value);
            }
            ExtendedTestExpr::BinaryTest(op, a, b) => {
                use BinaryPredicate as B;
                let arithmetic = matches!(
                    op,
                    B::ArithmeticEqualTo
                        | B::ArithmeticNotEqualTo
                        | B::ArithmeticLessThan
                        | B::ArithmeticLessThanOrEqualTo
                        | B::ArithmeticGreaterThan
                        | B::ArithmeticGreaterThanOrEqualTo
                );
                let left = self.word(&a.value);
                let right = self.word(&b.value);
                if arithmetic {
                    for side in [&left, &right] {
                        let literal = side
                            .lit()
                            .is_some_and(|s| !s.trim().is_empty() && literal_arithmetic(s));
                        if !literal {
                            self.out.refuse(format!(
                                "[[ {} ... {} ]]: an arithmetic comparison of anything but literal \
numbers is not modelled (bash evaluates variable contents as arithmetic, which can run commands)",
                                a.value, b.value
                            ));
                        }
                    }
                }
            }
        }
        self.leave();
    }

    /// Arithmetic text (`(( ))`, `for (( ))`): only literal numbers are modelled.
    fn arithmetic(&mut self, text: &str) {
        if !literal_arithmetic(text) {
            self.out.refuse(format!(
                "arithmetic on anything but literal numbers (({text})) is not modelled: bash \
evaluates variable contents in arithmetic, which can run commands"
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
        let mut redirects: Vec<&IoRedirect> = Vec::new();
        for item in sc.prefix.iter().flat_map(|p| p.0.iter()) {
            match item {
                CommandPrefixOrSuffixItem::AssignmentWord(a, _) => {
                    if let Some(pair) = self.assignment(a) {
                        assignments.push(pair);
                    }
                }
                other => self.item(other, &mut argv, &mut redirects),
            }
        }
        if let Some(w) = &sc.word_or_name {
            let a = self.word(&w.value);
            argv.push(a);
        }
        for item in sc.suffix.iter().flat_map(|s| s.0.iter()) {
            match item {
                // `export NAME=value`, `declare NAME=value`: a word the builtin reads.
                CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                    let arg = self.word(&w.value);
                    argv.push(arg);
                }
                other => self.item(other, &mut argv, &mut redirects),
            }
        }
        // Redirections are performed before the command runs, from the current directory.
        for r in redirects {
            self.redirect(r);
        }
        if argv.is_empty() {
            // Bare assignments persist in the shell.
            self.out
                .shell_assignments
                .extend(assignments.into_iter().map(|(n, _)| n));
            return;
        }
        let cwd = self.cwd.clone();
        self.change_directory(&argv);
        self.out.invocations.push(Invocation {
            argv,
            assignments,
            cwd,
        });
    }

    fn item<'a>(
        &mut self,
        item: &'a CommandPrefixOrSuffixItem,
        argv: &mut Vec<Arg>,
        redirects: &mut Vec<&'a IoRedirect>,
    ) {
        match item {
            CommandPrefixOrSuffixItem::IoRedirect(r) => redirects.push(r),
            CommandPrefixOrSuffixItem::Word(w) => {
                let a = self.word(&w.value);
                argv.push(a);
            }
            CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                let before = self.cwd.clone();
                self.list(&sub.list);
                self.cwd = before;
                argv.push(Arg::Dyn(super::Dyn {
                    src: "<(...)".into(),
                    may_be_option: false,
                    may_split: false,
                    glob: false,
                    prefix: String::new(),
                }));
            }
            CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                let a = self.word(&w.value);
                argv.push(a);
            }
        }
    }

    /// Follows `cd`, `pushd` and `popd` (also behind `builtin` and `command`).
    fn change_directory(&mut self, argv: &[Arg]) {
        let mut words = argv;
        while let Some(Arg::Lit(w)) = words.first()
            && (w == "builtin" || w == "command")
        {
            words = &words[1..];
            if matches!(words.first().and_then(Arg::lit), Some("--")) {
                words = &words[1..];
            }
        }
        let Some(Arg::Lit(program)) = words.first() else {
            return;
        };
        match program.as_str() {
            "cd" | "pushd" => {
                let mut physical = false;
                let mut rest = &words[1..];
                while let Some(Arg::Lit(o)) = rest.first() {
                    match o.as_str() {
                        "-P" => physical = true,
                        "-L" => physical = false,
                        "--" => {
                            rest = &rest[1..];
                            break;
                        }
                        _ => break,
                    }
                    rest = &rest[1..];
                }
                match rest {
                    [Arg::Lit(t)]
                        if !t.is_empty()
                            && t != "-"
                            && !t.starts_with(['+', '-'])
                            && std::env::var_os("CDPATH").is_none() =>
                    {
                        let step = CdStep {
                            target: t.clone(),
                            physical,
                        };
                        // `cd` may fail and leave the directory as it was.
                        self.cwd = self.cwd.union(&self.cwd.then(step));
                    }
                    _ => self.cwd = Cwd::Unknown,
                }
            }
            "popd" => self.cwd = Cwd::Unknown,
            _ => {}
        }
    }

    fn assignment(&mut self, a: &Assignment) -> Option<(String, Arg)> {
        let name = match &a.name {
            AssignmentName::VariableName(n) => n.clone(),
            AssignmentName::ArrayElementName(n, index) => {
                self.out.refuse(format!(
                    "assigning an array element ({n}[{index}]) is not modelled (the subscript is evaluated as arithmetic)"
                ));
                return None;
            }
        };
        match &a.value {
            AssignmentValue::Scalar(w) => {
                let v = self.word(&w.value);
                Some((name, v))
            }
            AssignmentValue::Array(_) => {
                self.out
                    .refuse(format!("assigning an array ({name}=(...)) is not modelled"));
                None
            }
        }
    }

    fn redirect(&mut self, r: &IoRedirect) {
        match r {
            IoRedirect::File(fd, kind, target) => {
                let access = match kind {
                    IoFileRedirectKind::Read | IoFileRedirectKind::DuplicateInput => Access::Read,
                    _ => Access::Write,
                };
                let fd = fd.unwrap_or(match access {
                    Access::Read => 0,
                    Access::Write => 1,
                });
                match target {
                    IoFileRedirectTarget::Filename(w) => {
                        let t = self.word(&w.value);
                        self.push_redirect(fd, access, t);
                    }
                    IoFileRedirectTarget::Fd(m) => self.out.dups.push((fd, *m)),
                    IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        let before = self.cwd.clone();
                        self.list(&sub.list);
                        self.cwd = before;
                    }
                    IoFileRedirectTarget::Duplicate(w) => {
                        // `>&word`: a descriptor number, `-` (close), `N-` (move), or else a
                        // file name (for `>&`).
                        let t = self.word(&w.value);
                        let is_fd = t.lit().is_some_and(|s| {
                            s == "-"
                                || (!s.is_empty()
                                    && s.trim_end_matches('-').chars().all(|c| c.is_ascii_digit()))
                        });
                        if let Some(m) = t
                            .lit()
                            .and_then(|s| s.trim_end_matches('-').parse::<i32>().ok())
                        {
                            self.out.dups.push((fd, m));
                        }
                        if !is_fd {
                            if matches!(t, Arg::Dyn(_)) {
                                self.out.refuse(format!(
                                    "the redirection target {} is only known at run time (a descriptor or a file)",
                                    w.value
                                ));
                            }
                            self.push_redirect(fd, access, t);
                        }
                    }
                }
            }
            IoRedirect::HereDocument(_, h) => {
                if let Some(reason) =
                    heredoc_mismatch(&h.here_end.value, &h.doc.value, h.remove_tabs)
                {
                    self.out.refuse(reason);
                }
                if h.requires_expansion {
                    let mut ev = Evaluator {
                        opts: &self.opts,
                        found: Found::default(),
                    };
                    ev.heredoc(&h.doc.value);
                    self.absorb(ev.found);
                }
            }
            IoRedirect::HereString(_, w) => {
                self.word(&w.value);
            }
            IoRedirect::OutputAndError(w, _) => {
                let t = self.word(&w.value);
                self.push_redirect(1, Access::Write, t.clone());
                self.push_redirect(2, Access::Write, t);
            }
        }
    }

    fn push_redirect(&mut self, fd: i32, access: Access, target: Arg) {
        self.out.redirects.push(Redirect {
            fd,
            access,
            target,
            cwd: self.cwd.clone(),
        });
    }

    /// Evaluates a word: its literal value if it has one; substitutions in it are analysed.
    fn word(&mut self, source: &str) -> Arg {
        // A word the parser rewrote (it moves a here-document out of `$(...)`) is not text
        // of the command: what bash runs is not what was read.
        if (source.contains("$(") || source.contains('`')) && !self.source.contains(source) {
            self.out.refuse(format!(
                "the parser read {source} differently from the command's text (a here-document inside a substitution?)"
            ));
        }
        // `{NAME}>file` makes bash open a descriptor and assign its number to NAME (the
        // parser reads `{NAME}` as a word): PATH, GLOBIGNORE, IFS... could be assigned so.
        if let Some(name) = source.strip_prefix('{').and_then(|r| r.strip_suffix('}'))
            && vars::is_name(name)
        {
            self.out.refuse(format!(
                "the word {source} (bash reads `{{NAME}}` before a redirection as a variable to assign) is not modelled"
            ));
        }
        let mut ev = Evaluator {
            opts: &self.opts,
            found: Found::default(),
        };
        let arg = ev.word(source);
        self.absorb(ev.found);
        arg
    }

    fn absorb(&mut self, found: Found) {
        for r in found.refusals {
            self.out.refuse(r);
        }
        for s in &found.substitutions {
            let nested = analyse_at(s, self.depth + 1, &self.cwd, self.budget);
            self.out.absorb(nested);
        }
    }
}

/// Why a here-document may end elsewhere in bash than in the parser, if it may: a delimiter
/// with expansions or ANSI-C quoting (`<<$'E'`), or a body line that begins with the delimiter
/// (inside `$(...)` bash ends the document at `E)`).
fn heredoc_mismatch(delimiter: &str, body: &str, remove_tabs: bool) -> Option<String> {
    let plain = delimiter
        .trim_matches(|c| c == '\'' || c == '"')
        .trim_start_matches('\\');
    let simple = !plain.is_empty()
        && plain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-+:@%".contains(c))
        && (delimiter == plain
            || delimiter == format!("'{plain}'")
            || delimiter == format!("\"{plain}\"")
            || delimiter == format!("\\{plain}"));
    if !simple {
        return Some(format!(
            "the here-document delimiter {delimiter} is not modelled: write a plain word, quoted or not"
        ));
    }
    for line in body.lines() {
        let line = if remove_tabs {
            line.trim_start_matches('\t')
        } else {
            line
        };
        if line.starts_with(plain) && line != plain {
            return Some(format!(
                "a line of the here-document begins with its delimiter {plain} ({line}): bash may end \
the document there"
            ));
        }
    }
    None
}
