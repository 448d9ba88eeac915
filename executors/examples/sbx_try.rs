use std::sync::{Arc, Mutex};
use executors::local::LocalExecutor;
use executors::{Executor, JobSpec, OutputSink, SandboxSpec, Stream};
struct Buf(Mutex<Vec<u8>>);
impl OutputSink for Buf { fn append(&self, _s: Stream, d: &[u8]) { self.0.lock().unwrap().extend_from_slice(d) } }
#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = std::env::var("BASE").unwrap_or("/tmp/sbx".into());
    let ex = LocalExecutor::with_scratch(std::path::Path::new(&format!("{}/scratch", base))).unwrap();
    eprint!("{}", ex.sandbox_support().describe());
    let sb = SandboxSpec { writable: Some(vec![format!("{}/ws", base).into()]), read_only: vec![format!("{}/ws/.git/hooks", base).into(), format!("{}/ws/.git/config", base).into()], hide: vec![format!("{}/secret", base).into(), format!("{}/secretfile", base).into()], network: args.get(2).map(|a| a=="net").unwrap_or(false) };
    let spec = JobSpec { command: args[1].clone(), tag: "t:1".into(), sandbox: Some(sb), cwd: Some(format!("{}/ws", base).into()), pty: std::env::var("PTY").is_ok(), ..JobSpec::default() };
    let buf = Arc::new(Buf(Mutex::new(Vec::new())));
    match ex.spawn(spec, buf.clone()).await { Ok(s) => { let o = s.outcome.await; println!("{}", String::from_utf8_lossy(&buf.0.lock().unwrap())); println!("{o:?}"); } Err(e) => println!("spawn error: {e}") }
}
