//! MCP over stdio, with a parse-error reply: a line that is not JSON gets a JSON-RPC `-32700`
//! error (id `null`) instead of silence, so that a client that sent one does not wait for its
//! own timeout. rmcp drops such lines on purpose (a reply to garbage can start error storms
//! between two peers); one reply per bad line, from a client that sent it, cannot.
//!
//! Lines from stdin are checked here and passed on to rmcp through an in-memory pipe; rmcp's
//! replies come back through another and are written to stdout one whole line at a time, so
//! that an error reply never lands inside one of them.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;

/// Largest line read from the client. rmcp drops messages over 16 MiB; a longer line is
/// answered with a parse error and skipped, never held in memory whole.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// Bytes in flight between this filter and rmcp, each way.
const PIPE: usize = 256 * 1024;

/// Returns rmcp's end of the connection; the filtering runs in tasks until stdin ends and rmcp
/// has closed its end.
pub fn transport() -> DuplexStream {
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let (from_rmcp, to_rmcp) = tokio::io::split(ours);
    let (errors_tx, errors_rx) = mpsc::channel::<String>(64);
    tokio::spawn(filter_input(stdin, to_rmcp, errors_tx));
    tokio::spawn(write_output(from_rmcp, stdout, errors_rx));
    theirs
}

fn parse_error(why: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32700, "message": format!("Parse error: {why}")},
    })
    .to_string()
}

/// Why `line` is not a JSON document, if it is not (serde_json also bounds nesting at 128).
/// Parsed into values, not skipped over: skipping does not check escapes (a lone surrogate
/// passes), and rmcp would then drop the line without a word.
fn not_json(line: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(line)
        .err()
        .map(|e| e.to_string())
}

async fn filter_input(
    stdin: impl AsyncRead + Unpin,
    mut to_rmcp: impl AsyncWrite + Unpin,
    errors: mpsc::Sender<String>,
) {
    let mut input = BufReader::new(stdin);
    let mut line = Vec::new();
    loop {
        line.clear();
        let (ended, too_long) = match read_line(&mut input, &mut line).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("stdin: {e}");
                break;
            }
        };
        let text = line.trim_ascii();
        if too_long {
            let _ = errors
                .send(parse_error(&format!("a line longer than {MAX_LINE} bytes")))
                .await;
        } else if !text.is_empty() {
            if let Some(why) = not_json(text) {
                let _ = errors.send(parse_error(&why)).await;
            } else if to_rmcp.write_all(text).await.is_err()
                || to_rmcp.write_all(b"\n").await.is_err()
            {
                break;
            }
        }
        if ended {
            break;
        }
    }
    // The client has gone: rmcp sees the end of its input and shuts down.
    let _ = to_rmcp.shutdown().await;
}

/// Reads one line into `line` (without its newline), keeping at most [`MAX_LINE`] bytes.
/// Returns (end of input, the line was longer than the limit).
async fn read_line(
    input: &mut (impl AsyncBufReadExt + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<(bool, bool)> {
    let mut too_long = false;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok((true, too_long));
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_LINE {
            too_long = true;
            line.clear();
        } else if !too_long {
            line.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(buf.len());
        input.consume(used);
        if done.is_some() {
            return Ok((false, too_long));
        }
    }
}

async fn write_output(
    from_rmcp: impl AsyncRead + Unpin,
    mut stdout: impl AsyncWrite + Unpin,
    mut errors: mpsc::Receiver<String>,
) {
    let mut replies = BufReader::new(from_rmcp);
    let mut line = Vec::new();
    let mut errors_open = true;
    loop {
        // `read_until` keeps what it read in `line` when the other branch wins: a reply is
        // written (and `line` cleared) only once it is whole.
        tokio::select! {
            read = replies.read_until(b'\n', &mut line) => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.ends_with(b"\n") => {
                        if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                            break;
                        }
                        line.clear();
                    }
                    Ok(_) => {}
                }
            }
            error = errors.recv(), if errors_open => {
                match error {
                    Some(e) => {
                        let e = format!("{e}\n");
                        if stdout.write_all(e.as_bytes()).await.is_err()
                            || stdout.flush().await.is_err()
                        {
                            break;
                        }
                    }
                    None => errors_open = false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_json_is_named() {
        assert!(not_json(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_none());
        for bad in [
            &b"{\"a\": NaN}"[..],
            b"{\"a\": \"\\ud800\"}",
            b"\xff\xfe",
            b"{\"a\": ",
        ] {
            assert!(not_json(bad).is_some(), "{bad:?}");
        }
        let deep = "[".repeat(10_000);
        assert!(not_json(deep.as_bytes()).is_some());
    }
}
