//! The search against one sequential scan, and its cursors.

use super::scan::scan;
use super::*;
use crate::output::view::compile_pattern;
use executors::Stream;

const ALL: Reading = Reading {
    select: Select::Combined,
    max_bytes: 1 << 20,
    raw: false,
    ended: true,
};

fn store() -> (tempfile::TempDir, OutputStore) {
    super::super::store::temp_store(1 << 30, 1024)
}

#[test]
fn grep_reports_line_numbers_and_continues_from_its_cursor() {
    let (_d, s) = store();
    for i in 1..=5000 {
        s.append(Stream::Stdout, format!("row {i}\n").as_bytes());
    }
    let re = compile_pattern("^row 4[0-9]{3}$").expect("re");
    let g = grep(&s, 0, &re, 3, ALL).expect("grep");
    assert_eq!(g.matches.len(), 3);
    assert_eq!(g.matches[0].line, 4000);
    assert_eq!(g.matches[0].text, "row 4000");
    let g2 = grep(&s, g.next, &re, 1000, ALL).expect("grep");
    assert_eq!(g2.matches[0].line, 4003);
    assert_eq!(g2.matches.len(), 997);
    assert_eq!(g2.next, s.len());
}

/// Lines of every length (some longer than MAX_LINE, so that some chunks are cut inside a
/// line), on both streams.
fn big_store(cap: u64) -> (tempfile::TempDir, OutputStore) {
    let (dir, s) = super::super::store::temp_store(cap, 1024);
    let mut seed = 7u64;
    let mut line = 0u64;
    while s.len() < 12 << 20 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        line += 1;
        let len = match seed >> 58 {
            0 => (seed >> 20) as usize % (3 * MAX_LINE),
            _ => (seed >> 20) as usize % 200,
        };
        let word = if seed.is_multiple_of(7) {
            "needle"
        } else {
            "hay"
        };
        // Lines longer than MAX_LINE lose their start (where the scan's windows fall
        // decides which part): they hold nothing to find.
        let text = if len > MAX_LINE - 64 {
            format!("{}\n", "x".repeat(len))
        } else {
            format!("{line} {word} {}\n", "x".repeat(len))
        };
        let stream = if seed.is_multiple_of(5) {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        s.append(stream, text.as_bytes());
    }
    (dir, s)
}

/// The chunked search finds exactly what one sequential scan finds, whatever the limits,
/// with and without bytes omitted by the cap.
#[test]
fn chunked_search_equals_one_sequential_scan() {
    let re = compile_pattern("needle|^1234 ").expect("re");
    for cap in [1 << 30, 8 << 20] {
        let (_d, s) = big_store(cap);
        let limits = |matches, bytes| Limits { matches, bytes };
        for (max, bytes) in [
            (1, 1 << 20),
            (7, 1 << 20),
            (300, 1 << 20),
            (100_000, 1 << 30),
            (100_000, 4096),
            (100_000, 40_000),
        ] {
            for since in [0, 3 << 20] {
                let how = Reading {
                    max_bytes: bytes,
                    ..ALL
                };
                let one = scan(
                    &s,
                    since,
                    s.len(),
                    true,
                    &re,
                    limits(max, bytes),
                    how,
                    &|| false,
                )
                .expect("scan");
                let one = finish(&s, one);
                let split = Split {
                    workers: 3,
                    first: 1 << 20,
                    chunk: 256 << 10,
                };
                let chunked = search(&s, since, &re, max, how, split).expect("search");
                assert_eq!(
                    chunked.matches.len(),
                    one.matches.len(),
                    "cap {cap} max {max}"
                );
                assert_eq!(
                    chunked, one,
                    "cap {cap} max {max} bytes {bytes} since {since}"
                );
                if max > 1000 && bytes > 1 << 20 && since == 0 {
                    // Matches in many chunks, more than the limits above let through.
                    assert!(one.matches.len() > 600, "{}", one.matches.len());
                }
            }
        }
    }
}

#[test]
fn a_match_carries_the_cursor_of_its_line_in_every_stream() {
    let (_d, s) = store();
    s.append(Stream::Stdout, b"o1\no2\n");
    s.append(Stream::Stderr, b"e1 needle\n");
    s.append(Stream::Stdout, b"o3 needle\n");
    let re = compile_pattern("needle").expect("re");
    let g = grep(&s, 0, &re, 10, ALL).expect("grep");
    let at: Vec<(u64, u64)> = g.matches.iter().map(|m| (m.line, m.at)).collect();
    assert_eq!(at, [(3, 6), (4, 16)]);
    let out = Reading {
        select: Select::Stdout,
        ..ALL
    };
    let g = grep(&s, 0, &re, 10, out).expect("grep");
    assert_eq!((g.matches[0].line, g.matches[0].at), (3, 16));
}

#[test]
fn context_stops_at_the_ends_and_never_repeats_a_line() {
    let (_d, s) = store();
    for i in 1..=20 {
        s.append(Stream::Stdout, format!("l{i}\n").as_bytes());
    }
    s.append(Stream::Stdout, b"last");
    let re = compile_pattern("^l(2|5|6|20)$|last").expect("re");
    let g = grep(&s, 0, &re, 10, ALL).expect("grep");
    let (found, rest) = with_context(&s, g, 0, 2, ALL).expect("context");
    let shape: Vec<(u64, usize, usize)> = found
        .iter()
        .map(|c| (c.found.line, c.before.len(), c.after.len()))
        .collect();
    assert_eq!(
        shape,
        [(2, 1, 2), (5, 0, 0), (6, 0, 2), (20, 2, 0), (21, 0, 0)]
    );
    assert_eq!(found[0].before, ["l1"]);
    assert_eq!(found[3].before, ["l18", "l19"]);
    assert_eq!(rest.next, s.len());
    // A small budget leaves the matches that do not fit (with their context) for the next call.
    let g = grep(&s, 0, &re, 10, ALL).expect("grep");
    let small = Reading {
        max_bytes: 12,
        ..ALL
    };
    let (found, rest) = with_context(&s, g, 0, 2, small).expect("context");
    // l2 with l1, l3, l4 (8 bytes), l5 alone (2): l6 with l7, l8 would pass 12.
    assert_eq!(found.len(), 2);
    assert_eq!(rest.next, 15);
}
