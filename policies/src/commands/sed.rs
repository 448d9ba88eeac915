//! GNU sed: its options, and its scripts read command by command. A script is modelled when
//! every command in it is one sed knows; `e` (and the `e` flag of `s`) runs commands, `w`/`W`
//! (and the `w` flag) write files, `r`/`R` read them. An option or command the reader does not
//! know refuses the whole command.

use super::getopt::{self, Spec, Val};
use super::{Expansion, Layer, Opaque};
use crate::shell::{Arg, Invocation};

const SED: Spec = Spec {
    short: &[
        ('n', Val::No),
        ('r', Val::No),
        ('E', Val::No),
        ('s', Val::No),
        ('u', Val::No),
        ('z', Val::No),
        ('b', Val::No),
        ('e', Val::Yes),
        ('f', Val::Yes),
        ('l', Val::Yes),
        ('i', Val::Optional),
    ],
    long: &[
        ("quiet", Val::No),
        ("silent", Val::No),
        ("expression", Val::Yes),
        ("file", Val::Yes),
        ("in-place", Val::Optional),
        ("line-length", Val::Yes),
        ("null-data", Val::No),
        ("zero-terminated", Val::No),
        ("posix", Val::No),
        ("regexp-extended", Val::No),
        ("separate", Val::No),
        ("sandbox", Val::No),
        ("unbuffered", Val::No),
        ("debug", Val::No),
        ("follow-symlinks", Val::No),
        ("binary", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: true,
    stop_after: None,
};

/// What a sed script does besides editing its input.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    /// It runs commands (`e`, `s///e`).
    pub executes: bool,
    /// Files it writes (`w FILE`, `W FILE`, `s///w FILE`).
    pub writes: Vec<String>,
}

pub(super) fn inspect(base: &str, layer: &mut Layer, inv: &Invocation, out: &mut Expansion) {
    let p = match getopt::parse(&layer.args, &SED) {
        Ok(p) => p,
        Err(e) => {
            out.refuse(e.describe(base));
            return;
        }
    };
    if p.has("-f") || p.has("--file") {
        layer.opaque = Some(Opaque {
            reason: format!("{base} -f runs a script file, which cannot be analysed"),
            needs: vec![base.into(), "-f".into()],
        });
        return;
    }
    let mut scripts: Vec<&Arg> = p.values("-e").chain(p.values("--expression")).collect();
    let mut files: &[Arg] = &p.operands;
    if scripts.is_empty() {
        match p.operands.split_first() {
            Some((s, rest)) => {
                scripts.push(s);
                files = rest;
            }
            None => return,
        }
    }
    let sandbox = p.has("--sandbox");
    // -e pieces are joined by newlines into one script.
    let mut text = String::new();
    for s in scripts {
        match s {
            Arg::Lit(t) => {
                text.push_str(t);
                text.push('\n');
            }
            Arg::Dyn(d) => {
                out.refuse(format!(
                    "{base}: the script {} is only known at run time",
                    d.src
                ));
                return;
            }
        }
    }
    match effects(&text) {
        Ok(fx) => {
            if fx.executes && !sandbox {
                layer.opaque = Some(Opaque {
                    reason: format!(
                        "the {base} script runs commands (the e command or flag), which cannot be analysed"
                    ),
                    needs: vec![base.into(), "e".into()],
                });
            }
            for w in fx.writes {
                out.write(inv, base, Arg::Lit(w));
            }
        }
        Err(why) => out.refuse(format!("{base}: {why}")),
    }
    if p.has("-i") || p.has("--in-place") {
        // A backup suffix with `/` or `*` names a path of its own (`-i'../*'`).
        let suffix = p.value("-i").or(p.value("--in-place"));
        match suffix {
            Some(Arg::Lit(sfx)) if sfx.contains(['/', '*']) => {
                out.refuse(format!(
                    "{base} -i{sfx}: a backup name with / or * is not modelled"
                ));
                return;
            }
            Some(Arg::Dyn(d)) => {
                out.refuse(format!(
                    "{base} -i: the backup suffix {} is only known at run time",
                    d.src
                ));
                return;
            }
            Some(Arg::Lit(sfx)) => {
                for f in files {
                    if let Arg::Lit(name) = f {
                        out.write(
                            inv,
                            &format!("{base} -i (backup)"),
                            Arg::Lit(format!("{name}{sfx}")),
                        );
                    }
                }
            }
            None => {}
        }
        for f in files {
            out.write(inv, &format!("{base} -i"), f.clone());
        }
        if files.is_empty() {
            out.refuse(format!("{base} -i without files"));
        }
    }
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// The rest of the line (for file names, labels, text, commands).
    fn line(&mut self) -> String {
        let start = self.i;
        while !matches!(self.peek(), None | Some(b'\n')) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// A delimited regex or replacement; returns false when unterminated.
    fn delimited(&mut self, delim: u8) -> bool {
        while let Some(c) = self.bump() {
            if c == b'\\' {
                self.bump();
            } else if c == delim {
                return true;
            } else if c == b'\n' && delim != b'\n' {
                return false;
            }
        }
        false
    }

    fn address(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b'0'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
                if self.peek() == Some(b'~') {
                    self.i += 1;
                    while matches!(self.peek(), Some(b'0'..=b'9')) {
                        self.i += 1;
                    }
                }
            }
            Some(b'$') => self.i += 1,
            Some(b'/') => {
                self.i += 1;
                if !self.delimited(b'/') {
                    return Err("unterminated address regex".into());
                }
                self.regex_flags();
            }
            Some(b'\\') => {
                self.i += 1;
                let d = self.bump().ok_or("unterminated address")?;
                if !self.delimited(d) {
                    return Err("unterminated address regex".into());
                }
                self.regex_flags();
            }
            _ => {}
        }
        Ok(())
    }

    fn regex_flags(&mut self) {
        while matches!(self.peek(), Some(b'I' | b'M')) {
            self.i += 1;
        }
    }
}

/// Reads a sed script. `Err` when some command is not one sed knows (or is malformed).
pub fn effects(script: &str) -> Result<Effects, String> {
    let mut fx = Effects::default();
    let mut r = Reader {
        s: script.as_bytes(),
        i: 0,
    };
    loop {
        while matches!(r.peek(), Some(b' ' | b'\t' | b'\n' | b';')) {
            r.i += 1;
        }
        let Some(_) = r.peek() else {
            return Ok(fx);
        };
        if r.peek() == Some(b'#') {
            r.line();
            continue;
        }
        r.address()?;
        r.blanks();
        if r.peek() == Some(b',') {
            r.i += 1;
            r.blanks();
            match r.peek() {
                Some(b'+' | b'~') => {
                    r.i += 1;
                    while matches!(r.peek(), Some(b'0'..=b'9')) {
                        r.i += 1;
                    }
                }
                _ => r.address()?,
            }
        }
        r.blanks();
        while r.peek() == Some(b'!') {
            r.i += 1;
            r.blanks();
        }
        let cmd = r.bump().ok_or("a command is missing after an address")?;
        if cmd == b'{' {
            continue;
        }
        match cmd {
            b'{' | b'}' | b'=' | b'd' | b'D' | b'g' | b'G' | b'h' | b'H' | b'n' | b'N' | b'p'
            | b'P' | b'x' | b'z' | b'F' | b'l' | b'q' | b'Q' | b'L' => {
                // `l`, `q`, `Q`, `L` take an optional number.
                r.blanks();
                while matches!(r.peek(), Some(b'0'..=b'9')) {
                    r.i += 1;
                }
            }
            b':' | b'b' | b't' | b'T' | b'v' => {
                // GNU sed ends a label at `;` or a blank; what follows is the next command.
                r.blanks();
                while !matches!(r.peek(), None | Some(b'\n' | b';' | b' ' | b'\t' | b'}')) {
                    r.i += 1;
                }
                continue;
            }
            b'a' | b'i' | b'c' => {
                // Text to the end of the line (continued by a backslash at the end).
                loop {
                    let l = r.line();
                    // An odd number of trailing backslashes continues the text; `\\` ends it.
                    let trailing = l.bytes().rev().take_while(|b| *b == b'\\').count();
                    if trailing % 2 == 1 && r.peek() == Some(b'\n') {
                        r.i += 1;
                        continue;
                    }
                    break;
                }
            }
            b'r' | b'R' => {
                r.line();
            }
            b'w' | b'W' => {
                r.blanks();
                fx.writes.push(r.line());
            }
            b'e' => {
                fx.executes = true;
                r.line();
            }
            b's' => {
                let d = r.bump().ok_or("s without a delimiter")?;
                if d == b'\\' || d == b'\n' {
                    return Err("s with a backslash or newline delimiter is not modelled".into());
                }
                if !r.delimited(d) || !r.delimited(d) {
                    return Err("unterminated s command".into());
                }
                loop {
                    match r.peek() {
                        Some(b'g' | b'p' | b'i' | b'I' | b'm' | b'M' | b'0'..=b'9') => r.i += 1,
                        Some(b'e') => {
                            fx.executes = true;
                            r.i += 1;
                        }
                        Some(b'w') => {
                            r.i += 1;
                            r.blanks();
                            fx.writes.push(r.line());
                            break;
                        }
                        _ => break,
                    }
                }
            }
            b'y' => {
                let d = r.bump().ok_or("y without a delimiter")?;
                if !r.delimited(d) || !r.delimited(d) {
                    return Err("unterminated y command".into());
                }
            }
            other => {
                return Err(format!(
                    "the script command {:?} is not one the policy models",
                    char::from(other)
                ));
            }
        }
        r.blanks();
        match r.peek() {
            None | Some(b'\n' | b';' | b'}' | b'#') => {}
            Some(c) => {
                return Err(format!(
                    "unexpected {:?} after a script command",
                    char::from(c)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::effects;

    #[test]
    fn finds_what_runs_and_writes() {
        for s in [
            "e rm -rf /",
            "1e id",
            "s/x/id/e",
            "s/x/rm -rf \\//e",
            "s|a|b|ge",
            "/foo/ e id",
            "$!e id",
            "\\%x%e id",
            "0~3e id",
            "/a/,/b/e id",
            "1,+2e id",
            "p;e id",
            "{e id\n}",
            "1!{e id\n}",
        ] {
            assert!(effects(s).unwrap().executes, "{s}");
        }
        for s in [
            "s/e/E/g",
            "s/x/y/",
            "/^#/d",
            "1,5p",
            "$p",
            "s/a;e/b/",
            "a e id",
            "y/abc/xyz/",
        ] {
            assert!(!effects(s).unwrap().executes, "{s}");
        }
        assert_eq!(effects("w /tmp/x").unwrap().writes, vec!["/tmp/x"]);
        assert_eq!(effects("s/a/b/w out").unwrap().writes, vec!["out"]);
        assert!(effects("1k").is_err());
    }
}
