//! Turning raw job output into text an agent can read: lossy UTF-8, no ANSI escape sequences,
//! carriage-return progress lines collapsed to their last state.

/// Renders `bytes` as text. With `raw`, only invalid UTF-8 is replaced.
pub fn render(bytes: &[u8], raw: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    if raw {
        return text.into_owned();
    }
    collapse_cr(&strip_ansi(&text))
}

/// Removes ANSI/VT escape sequences (CSI, OSC, DCS and friends, two-byte escapes) and C0
/// control characters other than newline, carriage return and tab.
pub fn strip_ansi(text: &str) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Text,
        Esc,
        /// ESC followed by an intermediate byte (e.g. `ESC ( B`): one more byte ends it.
        EscIntermediate,
        Csi,
        /// OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (`ESC \`).
        Str,
        StrEsc,
    }
    let mut out = String::with_capacity(text.len());
    let mut state = State::Text;
    for c in text.chars() {
        state = match state {
            State::Text => match c {
                '\x1b' => State::Esc,
                '\u{9b}' => State::Csi,
                '\n' | '\r' | '\t' => {
                    out.push(c);
                    State::Text
                }
                c if c.is_control() && (c as u32) < 0x20 || c == '\x7f' => State::Text,
                c => {
                    out.push(c);
                    State::Text
                }
            },
            State::Esc => match c {
                '[' => State::Csi,
                ']' | 'P' | 'X' | '^' | '_' => State::Str,
                ' '..='/' => State::EscIntermediate,
                _ => State::Text,
            },
            State::EscIntermediate => State::Text,
            State::Csi => match c {
                '\x40'..='\x7e' => State::Text,
                _ => State::Csi,
            },
            State::Str => match c {
                '\x07' => State::Text,
                '\x1b' => State::StrEsc,
                _ => State::Str,
            },
            State::StrEsc => match c {
                '\\' => State::Text,
                _ => State::Str,
            },
        };
    }
    out
}

/// Keeps, of each line, what a terminal would show last after carriage returns
/// (`10%\r20%\r30%` becomes `30%`). `\r\n` is an ordinary line end.
pub fn collapse_cr(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let body = body.trim_end_matches('\r');
        let shown = body.rsplit('\r').next().unwrap_or(body);
        out.push_str(shown);
        out.push_str(end);
    }
    out
}

/// How many bytes of `bytes` can be handed out now without cutting a UTF-8 character or an
/// escape sequence in two, when more output may follow. The rest is read next time.
pub fn complete_prefix_len(bytes: &[u8]) -> usize {
    let mut end = bytes.len();
    // An unfinished UTF-8 sequence at the end: at most 3 bytes of it can be there.
    let start = end.saturating_sub(3);
    if let Some(lead) = (start..end).rev().find(|&i| bytes[i] & 0xC0 != 0x80) {
        let b = bytes[lead];
        let need = if b >= 0xF0 {
            4
        } else if b >= 0xE0 {
            3
        } else if b >= 0xC0 {
            2
        } else {
            1
        };
        if end - lead < need {
            end = lead;
        }
    }
    // An unfinished escape sequence: an ESC in the last few bytes with no final byte after it.
    let window = end.saturating_sub(64);
    if let Some(esc) = (window..end).rev().find(|&i| bytes[i] == 0x1b)
        && !escape_is_complete(&bytes[esc..end])
    {
        end = esc;
    }
    end
}

fn escape_is_complete(seq: &[u8]) -> bool {
    match seq.get(1) {
        None => false,
        Some(b'[') => seq[2..].iter().any(|b| (0x40..=0x7e).contains(b)),
        Some(b']' | b'P' | b'X' | b'^' | b'_') => {
            seq.contains(&0x07) || seq.windows(2).any(|w| w == b"\x1b\\")
        }
        Some(b' '..=b'/') => seq.len() >= 3,
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colours_cursor_moves_and_titles() {
        let s =
            "\x1b[1;31merror\x1b[0m: \x1b[2Kbad\x1b]0;title\x07 \x1b(Bok\x1b]8;;http://x\x1b\\link";
        assert_eq!(strip_ansi(s), "error: bad oklink");
    }

    #[test]
    fn keeps_newlines_tabs_and_unicode() {
        assert_eq!(strip_ansi("a\tb\nc – ü\r\n"), "a\tb\nc – ü\r\n");
        assert_eq!(strip_ansi("bell\x07 back\x08"), "bell back");
    }

    #[test]
    fn collapses_progress_lines() {
        assert_eq!(collapse_cr("10%\r20%\r30%\ndone\n"), "30%\ndone\n");
        assert_eq!(collapse_cr("a\r\nb\r\n"), "a\nb\n");
        assert_eq!(collapse_cr("x 1/3\rx 2/3\r"), "x 2/3");
    }

    #[test]
    fn render_replaces_invalid_utf8() {
        assert_eq!(render(b"ok \xff\xfe end", false), "ok \u{fffd}\u{fffd} end");
        assert_eq!(
            render(b"\x1b[32mgreen\x1b[0m", true),
            "\x1b[32mgreen\x1b[0m"
        );
    }

    #[test]
    fn never_cuts_a_character_or_an_escape() {
        let euro = "€".as_bytes(); // 3 bytes
        let mut b = b"price ".to_vec();
        b.extend_from_slice(&euro[..2]);
        assert_eq!(complete_prefix_len(&b), 6);
        b.push(euro[2]);
        assert_eq!(complete_prefix_len(&b), b.len());
        assert_eq!(complete_prefix_len(b"red \x1b[3"), 4);
        assert_eq!(complete_prefix_len(b"red \x1b[31m"), 9);
        assert_eq!(complete_prefix_len(b"\x1b"), 0);
    }
}
