//! Decoding bash's ANSI-C quoting (`$'...'`), which can spell any character: the policy must
//! see the same text bash will.

/// The text of `$'body'`, or `None` for escapes that are not modelled. A `\0` (or `\x00`) ends
/// the string, as in bash.
pub fn decode(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        let decoded = match e {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'e' | 'E' => '\u{1b}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' => '\\',
            '\'' => '\'',
            '"' => '"',
            '?' => '?',
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                // bash keeps the low eight bits of an octal escape: one byte.
                let b = (v & 0xff) as u8;
                if b == 0 {
                    return Some(out);
                }
                if !b.is_ascii() {
                    return None;
                }
                char::from(b)
            }
            'x' => {
                let v = hex(&mut chars, 2)?;
                if v == 0 {
                    return Some(out);
                }
                // A byte above 0x7f is not a character by itself: not modelled.
                char::from_u32(v).filter(char::is_ascii)?
            }
            'u' | 'U' => {
                let v = hex(&mut chars, if e == 'u' { 4 } else { 8 })?;
                if v == 0 {
                    return Some(out);
                }
                char::from_u32(v)?
            }
            'c' => {
                let k = chars.next()?;
                if !k.is_ascii() {
                    return None;
                }
                let v = (k.to_ascii_uppercase() as u8) & 0x1f;
                if v == 0 {
                    return Some(out);
                }
                char::from(v)
            }
            // bash keeps an unknown escape as written.
            other => {
                out.push('\\');
                other
            }
        };
        out.push(decoded);
    }
    Some(out)
}

/// Up to `max` hexadecimal digits; `None` when there is none.
fn hex(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, max: usize) -> Option<u32> {
    let mut v = 0u32;
    let mut n = 0;
    while n < max {
        match chars.peek().and_then(|d| d.to_digit(16)) {
            Some(d) => {
                v = v * 16 + d;
                chars.next();
                n += 1;
            }
            None => break,
        }
    }
    (n > 0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_like_bash() {
        assert_eq!(
            decode(r"a[\x24(touch m)]").as_deref(),
            Some("a[$(touch m)]")
        );
        assert_eq!(decode(r"\x72\x6d").as_deref(), Some("rm"));
        assert_eq!(decode(r"\162\155").as_deref(), Some("rm"));
        assert_eq!(decode(r"\u0072m").as_deref(), Some("rm"));
        assert_eq!(decode(r"ab\0cd").as_deref(), Some("ab"));
        assert_eq!(decode(r"\q").as_deref(), Some("\\q"));
        assert_eq!(decode(r"it\'s").as_deref(), Some("it's"));
    }
}
