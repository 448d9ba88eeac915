//! Every bypass found by people trying to break the policy (issue 10), as regression tests:
//! each ran a program the policy does not allow, or wrote where it must not, under `bash -c`.
//! The differential tests (`differential.rs`) run the allowed ones under real bash.

use crate::*;
use policies::CheckRequest;

/// The policy the attacks were found against.
pub const LECG: &str = r#"
default = "deny"
allow = ["ls", "echo", "cat", "grep"]
"#;

fn preset(name: &str) -> Policy {
    let path = format!("{}/presets/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Policy::load(std::path::Path::new(&path)).unwrap()
}

fn all_refused(p: &Policy, commands: &[&str]) {
    let allowed: Vec<String> = commands
        .iter()
        .map(|c| (c, check(p, c)))
        .filter(|(_, v)| v.allowed)
        .map(|(c, v)| format!("{c:?}: {}", v.summary()))
        .collect();
    assert!(allowed.is_empty(), "allowed:\n{}", allowed.join("\n"));
}

fn all_allowed(p: &Policy, commands: &[&str]) {
    let refused: Vec<String> = commands
        .iter()
        .map(|c| (c, check(p, c)))
        .filter(|(_, v)| !v.allowed)
        .map(|(c, v)| format!("{c:?}: {}", v.summary()))
        .collect();
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

pub const ARITHMETIC_AND_VARIABLES: &[&str] = &[
    "RANDOM='a[$(touch m)]'; echo",
    "OPTIND='a[$(touch m)]'; echo",
    "SRANDOM='a[$(touch m)]'; echo",
    "printf -v 'a[$(touch m)]' x",
    "read 'a[$(touch m)]' <<< x",
    "test -v 'a[$(touch m)]'",
    "[ -v 'a[$(touch m)]' ]",
    "declare -i x='a[$(touch m)]'",
    "declare 'a[$(touch m)]=1'",
    "unset 'a[$(touch m)]'",
    "x=$'a[\\x24(touch m)]'; echo $((x))",
    "x=$'a[\\x24(touch m)]'; [[ $x -eq 0 ]]",
    "x=$'a[\\x24(touch m)]'; echo ${a[x]}",
    "x=$'a[\\x24(touch m)]'; echo ${!x}",
    "x=$'a[\\x24(touch m)]'; echo $[x]",
    "printf -v x 'a[%s(touch m)]' '$'; (( x ))",
    "x='a[$(touch m)]'; echo ${y:x}",
    "x='a[$(touch m)]'; echo ${y:0:x}",
    "BASH_CMDS[ls]=/usr/bin/touch; ls m",
    "BASH_CMDS=([ls]=/usr/bin/touch); ls m",
    "shopt -s expand_aliases; BASH_ALIASES[ls]='touch m'; ls",
    "declare \"PS4=\\$(touch m)\"; set -x; echo",
    "printf -v PS4 '$(touch m)'; set -x; echo",
    "read PS4 <<< '$(touch m)'; set -x; echo",
    "PROMPT_COMMAND='touch m'; echo",
    "export BASH_ENV=x; bash -c ls",
    "a=([0]='$(touch m)'); echo ${a[@]}",
    "x=1; let x=x+1",
    "declare -n r=x",
    "echo ${x@P}",
    "echo ${x:=$(touch m)}",
    "for PS4 in '$(touch m)'; do set -x; echo; done",
    "IFS=/; echo",
    "PATH=.:$PATH ls",
    "trap 'touch m' EXIT; echo",
    "eval 'touch m'",
    "source ./x",
    ". ./x",
    "alias ls='touch m'; ls",
    "f() { touch m; }; f",
    "coproc touch m",
    "enable -f ./x.so x",
    "hash -p /usr/bin/touch ls; ls m",
    "mapfile -C 'touch m' -c 1 x <<< y",
    "getopts a OPTIND",
    "$'\\x74\\x6f\\x75\\x63\\x68' m",
    "$(echo touch) m",
    "echo $\"x\"",
];

#[test]
fn arithmetic_tables_and_special_variables() {
    all_refused(&policy(LECG), ARITHMETIC_AND_VARIABLES);
}

pub const OPTION_SPELLINGS: &[&str] = &[
    "env --sp='touch m'",
    "env -S'touch m'",
    "env --split-string='touch m'",
    "timeout --sig KILL 5 touch x",
    "nice --adj 5 touch x",
    "stdbuf --out 0 touch x",
    "xargs --max-a 1 touch",
    "flock --time 5 f touch x",
    "env --ch /tmp touch x",
    "env -C /tmp touch x",
    "env -iu X touch x",
    "timeout -s KILL 5 touch x",
];

#[test]
fn abbreviated_and_attached_options_of_wrappers() {
    // The wrappers are allowed; the program behind them is not.
    let p = policy(
        r#"
default = "deny"
allow = ["ls", "echo", "env", "timeout", "nice", "stdbuf", "xargs", "flock"]
"#,
    );
    all_refused(&p, OPTION_SPELLINGS);
    all_allowed(
        &p,
        &[
            "env -u X ls",
            "timeout --signal KILL 5 ls",
            "timeout -k 1 5 ls",
            "nice -n 5 ls",
            "nice -5 ls",
            "stdbuf -oL ls",
            "xargs -n 1 echo",
        ],
    );
}

pub const PROGRAMS_THAT_RUN_PROGRAMS: &[&str] = &[
    "sed -e'1e touch m' f",
    "sed --expression='1e touch m' f",
    "sed --expr='1e touch m' f",
    "sed -n '1p\n1e touch m' f",
    "sed 's/x/touch m/e' f",
    "sed -n '$!e touch m' f",
    "sed -f script.sed f",
    "tar --to-com='touch m' -xf a.tar",
    "tar --use-compress-prog='touch m' -cf a.tar .",
    "tar -I 'touch m' -cf a.tar .",
    "tar --checkpoint-act=exec='touch m' -cf a.tar .",
    "tar cf a.tar . --checkpoint-action=exec='touch m'",
    "cargo --config 'build.rustc-wrapper=\"/tmp/x\"' build",
    "cargo build --config 'target.x86_64-unknown-linux-gnu.runner=\"touch\"'",
    "cargo build --config=build.rustc-wrapper=/tmp/x",
    "cargo build --conf build.rustc-wrapper=/tmp/x",
    "python3 '-cimport os; os.system(\"touch m\")'",
    "python3 -c 'import os'",
    "python3 -Ic 'import os'",
    "python3 -m timeit 'import os; os.system(\"touch m\")'",
    "python3 -mtimeit 'x'",
    "python3 - <<< 'import os'",
    "echo 'import os' | python3",
    "node --import=data:text/javascript,x",
    "node -e 'x'",
    "node --eval=x",
    "make -f /dev/stdin",
    "make --eval='$(shell touch m)'",
    "printf 'all:\\n\\ttouch m\\n' | make -f -",
    "make SHELL=/tmp/x",
    "make CC='touch m'",
    "npm test --script-shell=/tmp/x",
    "npm test --node-options='--require ./x.js'",
    "echo '!touch m' | ed",
    "git send-pack --receive-pack='touch m' x",
    "git -c core.pager='touch m' log",
    "git -c alias.x='!touch m' x",
    "git --exec-path=. status",
    "git fetch --upload-pack='touch m' x",
    "git log --ext-diff",
    "rg --pre ./x foo",
    "awk 'BEGIN{system(\"touch m\")}'",
    "awk 'BEGIN{print | \"sh\"}'",
    "awk -f x.awk",
    "awk '@load \"x\"'",
    "bash -i -c ls",
    "bash -l -c ls",
    "bash --rcfile x -c ls",
    "bash -O expand_aliases -c ls",
    "sh",
    "zsh -c 'touch m'",
    "ssh -o ProxyCommand='touch m' host",
    "ssh -oProxyCommand='touch m' host ls",
    "find . -exec touch m \\;",
    "find . -execdir sh -c 'touch m' \\;",
    "xargs touch",
    "watch touch m",
    "vim -c '!touch m'",
    "less +!touch m",
    "rsync -e 'touch m' a b",
    "zip -TT 'touch m' a.zip f",
    "sort --compress-program='touch m' f",
];

#[test]
fn programs_own_ways_to_run_programs() {
    let p = policy(
        r#"
default = "deny"
allow = ["ls", "echo", "cat", "sed", "tar", "cargo", "python3", "node", "make", "npm", "ed",
         "git", "rg", "awk", "bash", "sh", "zsh", "ssh", "find", "xargs", "watch", "vim", "less",
         "rsync", "zip", "sort", "printf", "grep", "nproc"]
"#,
    );
    all_refused(&p, PROGRAMS_THAT_RUN_PROGRAMS);
    all_allowed(
        &p,
        &[
            "sed -n '1,5p' f",
            "sed 's/a/b/g' f",
            "tar czf a.tgz src",
            "tar -xzf a.tgz",
            "cargo build --release",
            "python3 script.py --flag",
            "python3 -m pytest -q",
            "node script.js",
            "make -j4",
            "make -j\"$(nproc)\"",
            "npm test --silent",
            "git status",
            "rg -n foo src",
            "awk '{print $1}' f",
            "bash -c 'ls && echo ok'",
            "bash -ec 'ls'",
            "bash script.sh",
            "find . -name '*.rs' -exec grep -l foo {} +",
            "ls | xargs grep foo",
            "ssh host ls",
            "sort -u f",
        ],
    );
    // The most specific rule decides.
    let q = policy(
        r#"
default = "deny"
allow = ["python3", "python3 -c", "ls"]
"#,
    );
    all_allowed(&q, &["python3 -c 'print(1)'", "python3 x.py"]);
}

#[test]
fn job_environment_is_an_allow_list_under_deny() {
    let p = preset("build-and-test");
    for (name, value) in [
        ("CARGO_BUILD_RUSTC", "/tmp/x"),
        ("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "touch"),
        ("RUSTFLAGS", "-C linker=/tmp/x"),
        ("GIT_TRACE", "/tmp/trace"),
        ("FOO", "1"),
        ("LD_PRELOAD", "/tmp/x.so"),
    ] {
        let env = vec![(name.to_string(), value.to_string())];
        let v = p.check(&CheckRequest {
            env: &env,
            ..CheckRequest::new("cargo build")
        });
        assert!(!v.allowed, "{name}: {}", v.summary());
        let inline = format!("{name}='{value}' cargo build");
        assert!(!check(&p, &inline).allowed, "{inline}");
        let exported = format!("export {name}='{value}'; cargo build");
        assert!(!check(&p, &exported).allowed, "{exported}");
    }
    let env = vec![("RUST_LOG".to_string(), "debug".to_string())];
    let v = p.check(&CheckRequest {
        env: &env,
        ..CheckRequest::new("cargo build")
    });
    assert!(v.allowed, "{}", v.summary());
    assert!(check(&p, "RUST_BACKTRACE=1 cargo test").allowed);
}

#[test]
fn presets_hold_against_every_spelling() {
    let blocklist = preset("destructive-blocklist");
    all_refused(
        &blocklist,
        &[
            "rm --r d",
            "rm --rec d",
            "rm -v -r d",
            "/bin/rm -rf /",
            "chmod --rec 777 /",
            "git push origin +main",
            "git push -qf",
            "git push origin :x",
            "git push --mirror",
            "git push --mirr",
            "git push -d origin x",
            "git reset -q --hard",
            "git reset --har",
            "git branch -D x",
            "mkfs.ext4 /dev/sda",
            "/sbin/mkfs.ext4 /dev/sda",
            "find -delete",
            "find . -name x -delete",
            "kill -9 -1",
            "kill -- -1",
            "x=-rf; rm $x /",
            "git clean -fdx",
            "sudo ls",
            "env sudo ls",
        ],
    );
    all_allowed(
        &blocklist,
        &[
            "rm notes.txt",
            "git push origin main",
            "git reset --soft HEAD~1",
            "kill 1234",
            "find . -name '*.rs'",
            "git branch -a",
        ],
    );
    let read_only = preset("read-only");
    all_refused(
        &read_only,
        &[
            "find -fls x",
            "find . -fprint x",
            "find . -fprintf x %p",
            "find . -delete",
            "sort -o x f",
            "sort --output=x f",
            "uniq a b",
            "xxd -r a b",
            "xxd a b",
            "git log --output=x",
            "sed -n 'w /tmp/x' f",
            "sed -n -i 1p f",
            "sed -i s/a/b/ f",
            "git branch -D x",
            "git branch new",
            "git remote add x y",
            "git remote -v add x y",
            "tree -o x",
            "echo x > f",
            "echo x | tee f",
            "date -s 2020-01-01",
            "hostname evil",
            "find . -exec sh -c 'echo > x' \\;",
        ],
    );
    all_allowed(
        &read_only,
        &[
            "find . -name '*.rs'",
            "sort f",
            "uniq -c f",
            "git log --oneline -5",
            "sed -n '1,5p' f",
            "git branch -a",
            "git remote -v",
            "ls > /dev/null",
            "grep -r foo . 2>&1 | head -20",
            "date +%s",
        ],
    );
}

#[test]
fn interact_cannot_turn_input_into_code() {
    let p = policy(
        r#"
default = "deny"
allow = ["echo", "cat"]
stdin = true
"#,
    );
    all_refused(
        &p,
        &[
            "declare -i x; while read -r x; do echo $x; done",
            "while read -r x; do echo $((x)); done",
            "while read -r x; do [[ $x -gt 1 ]]; done",
            "read -r x; echo ${a[x]}",
            "read -a x",
            "mapfile x",
        ],
    );
    all_allowed(&p, &["while read -r line; do echo \"$line\"; done", "cat"]);
}

/// Each construct nested thousands of levels deep, as the attacks did: refused, never a crash.
pub fn deep_inputs() -> Vec<String> {
    let n = 5000;
    vec![
        format!("{}ls;{}", "{ ".repeat(600), " }".repeat(600)),
        format!("{}ls;{}", "{ ".repeat(n), " }".repeat(n)),
        format!("{}ls{}", "if true; then ".repeat(n), "; fi".repeat(n)),
        format!("echo {}x{}", "${x:-".repeat(n), "}".repeat(n)),
        format!("echo {}x{}", "$(echo ".repeat(n), ")".repeat(n)),
        format!("[[ {}a{} ]]", "( ".repeat(n), " )".repeat(n)),
        format!("[[ {}a ]]", "! ".repeat(n)),
        format!("{}ls{}", "( ".repeat(n), " )".repeat(n)),
        format!("echo {}", "`".repeat(n)),
        format!("echo {}x{}", "\"$(".repeat(n), ")\"".repeat(n)),
        format!("bash -c {}", "'bash -c ".repeat(20)),
        format!("[[ a{} ]]", " && a".repeat(20_000)),
        "ls; ".repeat(30_000),
        "ls | ".repeat(20_000) + "ls",
        // Just under the engine's limit: parsed, on the stack the engine sizes.
        format!("{}ls;{}", "{ ".repeat(4000), " }".repeat(4000)),
        format!("echo {}x{}", "$(echo ".repeat(4000), ")".repeat(4000)),
        format!("echo {}x{}", "${x:-".repeat(4000), "}".repeat(4000)),
        format!("{}ls{}", "if true; then ".repeat(2000), "; fi".repeat(2000)),
        format!("[[ {}a ]]", "! ".repeat(4000)),
        format!("bash -c $'{}'", "\\x28".repeat(4000)),
        // Parentheses that never close made the parser backtrack exponentially.
        "(".repeat(40),
        "( ".repeat(40) + "ls",
        format!("echo $( {} )", "( ".repeat(30)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 64, failure_persistence: None, ..Default::default() })]

    /// Random mixes of every construct that opens a level, at random depths up to well past
    /// the limit: never a panic or an overflow (the test thread has a small stack).
    #[test]
    fn random_deep_nesting_never_crashes(
        levels in proptest::collection::vec(0usize..10, 0..6000),
        middle in proptest::sample::select(vec!["ls", "echo $x", "touch m", "", ";", "'"]),
    ) {
        const OPEN: [(&str, &str); 10] = [
            ("{ ", "; }"), ("( ", " )"), ("$(", ")"), ("${x:-", "}"), ("if true; then ", "; fi"),
            ("[[ ( ", " ) ]]"), ("\"$(", ")\""), ("`", "`"), ("while ", "; do :; done"),
            ("(", ""),
        ];
        let mut s = String::new();
        for l in &levels {
            s.push_str(OPEN[*l].0);
        }
        s.push_str(middle);
        for l in levels.iter().rev() {
            s.push_str(OPEN[*l].1);
        }
        let p = policy(LECG);
        let started = std::time::Instant::now();
        let ok = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || check(&p, &s).allowed)
            .unwrap()
            .join();
        proptest::prop_assert!(ok.is_ok());
        // A hang detector, not a benchmark: the work is bounded.
        proptest::prop_assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let p = policy(LECG);
    for input in deep_inputs() {
        // On a thread with a small stack, as tokio's workers have: the engine must size its
        // own.
        let p = p.clone();
        let v = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || check(&p, &input).allowed)
            .unwrap()
            .join()
            .unwrap();
        let _ = v;
    }
    let shallow = format!("{}ls;{}", "{ ".repeat(10), " }".repeat(10));
    assert!(check(&p, &shallow).allowed);
}

#[test]
fn paths_as_the_kernel_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let jail = root.join("jail");
    std::fs::create_dir_all(jail.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("outside/deep")).unwrap();
    std::fs::create_dir_all(root.join("outside/zz")).unwrap();
    std::os::unix::fs::symlink(root.join("outside/deep"), jail.join("link")).unwrap();
    std::os::unix::fs::symlink(root.join("outside/f"), jail.join("dangling")).unwrap();
    let p = policy(&format!(
        r#"
default = "deny"
allow = ["ls", "echo", "cat", "cargo clean", "tar", "cp", "ln", "sed", "xxd", "mv"]
cwd = ["{}"]
"#,
        jail.display()
    ));
    let at = |c: &str, cwd: &std::path::Path| {
        p.check(&CheckRequest {
            cwd: Some(cwd),
            ..CheckRequest::new(c)
        })
    };
    for c in [
        "builtin cd /tmp && echo x > f",
        "command cd /tmp && echo x > f",
        "cd /tmp && echo x > f",
        "pushd /tmp && echo x > f",
        "cd .. && echo x > f",
        "cd link && echo x > f",
        "cd -P link/.. && echo x > f",
        "echo x > link/f",
        "echo x > link/../f",
        "echo x > dangling",
        "echo x > ../outside/f",
        "echo x > /dev/fd/../../../tmp/f",
        "echo x > /proc/self/cwd/../f",
        "echo x > /dev/stdin",
        "cat 3< f > /dev/fd/3",
        "cat 1< f > /dev/stdout",
        "echo x > $HOME/f",
        "echo x > ~/f",
        "cd $X && echo x > f",
        "cd /tmp; ls",
        "echo x > .git/config",
        "echo x > sub/../.git/hooks/pre-commit",
        "cd .git && echo x > config",
        "echo x >> .cargo/config.toml",
        "echo x > .npmrc",
        "cat < /dev/tcp/127.0.0.1/9",
        // Found by the red team: program write options that escaped the jail.
        "cargo clean --target-dir ../outside",
        "tar -cf x.tar -g link/x f",
        "tar -cf x.tar --index-file=link/x f",
        "cp --targ=link f",
        "cp -rt link sub",
        "ln -st link f",
        "sed -n ':a;w link/x' f",
        "xxd -cols 4 f link/x",
        "ln -s ../outside lnk && echo x > lnk/f",
        "mv link/.. x",
        "echo x > lnk2/f; ln -s /tmp lnk2",
        // bash retries `cd` physically when the textual path does not exist.
        "cd link/../zz && echo x > f",
    ] {
        let v = at(c, &jail);
        assert!(!v.allowed, "{c}: {}", v.summary());
    }
    for c in [
        "echo x > f",
        "echo x > sub/f",
        "cd sub && echo x > f",
        // `cd` takes `..` textually unless -P: this is the jail again (checked against bash
        // in the differential tests).
        "cd link/.. && echo x > f",
        "echo x 2>&1 > /dev/null",
        "echo x >&2",
        "echo x > /dev/stderr",
        "cat f | cat > g",
        "ls 2> /dev/null",
    ] {
        let v = at(c, &jail);
        assert!(v.allowed, "{c}: {}", v.summary());
    }
    // The working directory itself, as the kernel resolves it.
    let v = at("ls", &jail.join("link/.."));
    assert!(!v.allowed, "{}", v.summary());
    let v = at("ls", &jail.join("sub/.."));
    assert!(v.allowed, "{}", v.summary());
}

/// Bypasses found by attacking the new engine (red team, 2026-12-01), each confirmed with real
/// bash before it was fixed.
#[test]
fn red_team_findings() {
    let p3 = policy(
        r#"
default = "deny"
allow = ["ls", "echo", "cat", "grep", "sed", "find", "xargs", "env", "timeout", "sort", "head",
         "tail", "tee", "printf", "git status", "git log", "git diff", "make", "cargo build",
         "cargo clippy", "cargo clean", "npm test", "python3", "node", "awk", "tar", "bash", "cp",
         "ln", "install", "mkdir", "touch", "xxd", "file", "tree", "git"]
"#,
    );
    all_refused(
        &p3,
        &[
            "jobs -x touch m",
            "echo \"${x-'$(touch m)'}\"",
            "echo \"${x:-'$(touch m)'}\"",
            "shopt -os keyword; cat f LD_PRELOAD=/tmp/x.so",
            "shopt -so allexport; x=1; cat",
            "set -o physical; cd link/..; echo x > f",
            "shopt -s lastpipe; echo | cd ..; echo x > f",
            "shopt -s dotglob; echo x > *git/description",
            "shopt -s nocaseglob; echo x > .GI[T]/description",
            "sed -n ':a;e touch m' f",
            "sed ':x e touch m' f",
            "sed -n ':a;s/.*/touch m/e' f",
            "awk -We /dev/stdin",
            "awk -W exec prog.awk",
            "python3 /dev/stdin <<< 'import os'",
            "python3 <(echo 'import os')",
            "python3 /proc/self/fd/0",
            "node /dev/stdin",
            "bash /dev/stdin <<< 'touch m'",
            "echo --output=/tmp/x | xargs git log",
            "echo x | xargs -I{} git log {}",
            "echo '-c touch m' | xargs bash",
            "git log */*",
            "git --git-dir=g --work-tree=. status",
            "git --git-dir g status",
            "tar cf 127.0.0.1:a.tar f",
            "make 'x!=touch m'",
            "make '$(shell touch m)=1'",
            "make 'SHELL =/tmp/x'",
            "make 'override SHELL=x'",
            "make PATH=/tmp/bin:/usr/bin",
            "make LD_PRELOAD=/tmp/x.so",
            "make 'CC = id'",
            "cargo clippy -- -C linker=id --emit=link",
            "env -C .git cp ../evil/config config",
            "env -C / touch m",
            "cp --targ=.git/hooks a",
            "cp -rt .git/hooks sub",
            "install -Dt .git evil/config",
            "ln -st .git/hooks a",
            "xxd -p -r -seek 0 /dev/stdout .git/config",
            "xxd -cols 4 a .git/config",
            "file -Cm mymagic",
            "printf x <f 1<&0 >>/dev/stdout",
            "echo x < f 1<&0 >/dev/stdout",
            "echo x 2<f 1>&2 >/dev/stdout",
            "git submodule foreach --recursive touch m",
            "ln -s /tmp lnk && echo x > lnk/f",
        ],
    );
    let read_only = preset("read-only");
    all_refused(
        &read_only,
        &[
            "file -Cm mymagic",
            "file --comp -m mymagic",
            "tree -R -L 1 -H .",
            "xxd -cols 4 a b",
            "sed -n ':a;w x' f",
            "printf '[core]' <.git/config 1<&0 >>/dev/stdout",
            "cargo tree",
            "pip list --log=/tmp/x",
        ],
    );
    all_allowed(
        &read_only,
        &["sed -nE 's/a/b/p' f", "sed --silent p f", "xxd -c 8 f"],
    );
    let blocklist = preset("destructive-blocklist");
    all_refused(
        &blocklist,
        &[
            "kill -9 -01",
            "kill -s KILL -001",
            "/bin/kill -9 -01",
            "taskset 1 rm -rf d",
            "setarch x86_64 rm -rf d",
            "chrt 1 rm -rf d",
            "chroot / rm -rf d",
            "ssh-agent rm -rf d",
            "git branch --delete -f x",
            "git branch --del -f x",
            "git checkout .",
            "git switch -f main",
            "git read-tree -u --reset HEAD",
            "git checkout-index -f -a",
            "git rm -rf .",
            "git branch -M a main",
            "git submodule foreach --recursive rm -rf victim",
            "mkfs.ext-4 /dev/sda",
            "mke4fs /dev/sda",
            "killall5 -9",
        ],
    );
    all_allowed(&blocklist, &["git checkout main", "kill -9 1234"]);
}

/// The second round of attacks on the new engine (2026-12-01).
#[test]
fn red_team_second_round() {
    let p = policy(
        r#"
default = "deny"
allow = ["ls", "echo", "cat", "grep", "printf", "sed", "find", "git", "env", "tee", "sort",
         "head", "mkdir", ":"]
"#,
    );
    all_refused(
        &p,
        &[
            "cat <<$'E'\nE\ntouch m\n$E",
            "cat <<$\"E\"\nE\ntouch m\n$E",
            "cat <<-$'E'\nE\ntouch m\n$E",
            "echo $(cat <<'E'\nE)\ntouch m\nE\n)",
            "echo $(cat <<E\nE)\ntouch m\nE\n)",
            "echo $(cat <<'A')\ntouch m\nA",
            ": {PATH}>/dev/null; ls",
            "echo {GLOBIGNORE}>/dev/null; ls",
            "echo {IFS}>/dev/null",
            "git init -q --bare b",
            "git init --separate-git-dir=gd r",
            "git clone -q --config alias.x='!touch m' . sub7",
            "git clone -q -c core.fsmonitor='touch m' . sub7",
        ],
    );
    all_allowed(
        &p,
        &[
            "git commit -m \"$(cat <<'EOF'\nfix: a thing\n\nmore words\nEOF\n)\"",
            "cat <<'EOF'\nhello\nEOF",
            "cat <<EOF\nhello $HOME\nEOF",
            "cat <<-EOF\n\thello\n\tEOF",
            "echo {}",
            "git init",
        ],
    );
}

/// The third round of attacks (2026-12-01).
#[test]
fn red_team_third_round() {
    let jail = Jail::new(&[
        "ls", "echo", "cat", "grep", "printf", "sed", "find", "xargs", "git", "env", "tee", "sort",
        "head", "cp", "mv", "ln", "mkdir", "touch", "chmod", "dd", "rm", "awk", "tar", "true",
    ]);
    jail.expect(
        &[
            "true & wait -n -p PATH; ls",
            "wait -p HOME",
            "read -e x",
            "shopt -s nullglob; awk -- zz*zz 'BEGIN{system(\"touch m\")}'",
            "x='BEGIN{system(\"touch m\")}'; awk -- \"$x\"",
            "ln .git/config cfg",
            "cp -l .git/config cfg",
            "ln x .git/config cfg && echo x >> cfg",
            "mv .git gg",
            "mv .git/config x",
            "rm .git/config",
            "rm -r .git",
            "printf x | dd of=.gi*/config oflag=append conv=notrunc",
            "ln -s .git zz; printf x >> z*/config",
            "ln -s .git zz; printf x | tee -- z*/config",
            "git rebase --exe='id' HEAD~1",
            "git rebase -qx 'id' HEAD~1",
            "git rebase -fxid HEAD~1",
            "git checkout-index -f --prefix=.git/ config",
            "git checkout-index -f --prefix=/tmp/ci/ config",
            "git apply --directory=.git x.patch",
            "git clone . /tmp/clone",
            "git worktree add /tmp/wt",
            "git format-patch -o /tmp/x HEAD",
            "git bundle create /tmp/b.bundle HEAD",
            "git mv a .git/x",
            "tar -x -f x.tar -C .git",
            "tar -xf x.tar --directory=.git",
            "tar -xf x.tar --transform='s,^,.git/hooks/,'",
        ],
        &[
            "git rebase -i HEAD~2",
            "git format-patch -o patches HEAD~1",
            "tar -xf x.tar -C sub",
            "cp a b",
            "mv a b",
            "git clone . copy",
        ],
    );
}

/// The fourth round of attacks (2026-12-01).
#[test]
fn red_team_fourth_round() {
    let jail = Jail::new(&[
        "ls", "echo", "cat", "printf", "grep", "sed", "find", "xargs", "git", "env", "tee", "sort",
        "cp", "mv", "ln", "mkdir", "touch", "chmod", "rm", "tar", "awk", "dd", "install", "make",
    ]);
    jail.expect(
        &[
            "sed -i'/tmp/PWNED_*' s/a/b/ a.txt",
            "sed --in-place='../*' s/a/b/ a.txt",
            "sed -i'.git/hooks/*' s/x/x/ pre-commit",
            "sed 'a foo\\\\\n1e id' a.txt",
            "sed '1a\\\\\n1e id' a.txt",
            "install --strip-program=bash -s s.sh out",
            "git -C ../other clean -fdx",
            "git -C .. init -q",
            "make -C .. all",
            "git apply --no-index --unsafe-paths p.diff",
            "git apply s.diff && touch lnk/x",
            "git checkout -- lnk && touch lnk/x",
            "tar xf a.tar && touch lnk/p",
            "tar xf a.tar; cd lnk; touch p",
            "sort -T /tmp f",
            "git commit",
            "git tag -a v1",
        ],
        &[
            "sed -i.bak s/a/b/ a.txt",
            "sed 'a\\\nfoo' a.txt",
            "git commit -m 'x'",
            "git tag v1",
            "git -C . status",
            "make -C sub",
            "git checkout main && ls",
        ],
    );
}

/// The fifth round of attacks (2026-12-01).
#[test]
fn red_team_fifth_round() {
    let jail = Jail::new(&[
        "ls", "echo", "cat", "printf", "grep", "sed", "find", "xargs", "git", "env", "tee", "sort",
        "cp", "mv", "ln", "mkdir", "touch", "chmod", "rm", "tar", "chmod",
    ]);
    jail.expect(
        &[
            "cp -r .git r.git",
            "printf x > r.git/hooks/pre-receive",
            "git push ./r.git HEAD:refs/heads/x",
            "git push /tmp/r.git HEAD",
            "git remote add x ./r.git",
            "env -u GIT_CONFIG_COUNT git status",
            "env -i git status",
            "env - git status",
            "exec -c git status",
            "unset GIT_CONFIG_COUNT; git status",
            "git merge-file .git/config base other",
            "git checkout-index -f --prefix=.g it/hooks/pre-commit",
            "git mailinfo .git/config p",
            "git mailinfo m .git/config",
            "git config --global color.ui x",
            "git maintenance register",
            "git interpret-trailers --in-place .git/config",
            "git fast-import --export-marks=.git/config",
            "git index-pack -o .git/config x.pack",
            "git credential-store --file=.git/config get",
            "git help -w log",
            "git fetch foo::bar",
            "git commit -S -m x",
        ],
        &[
            "git push origin main",
            "git fetch origin",
            "git merge-file a base b",
            "git status",
            "env -u FOO ls",
        ],
    );
}

/// A directory with a `.git/hooks`, and a deny-by-default policy allowing `allow` that keeps
/// jobs to it.
struct Jail {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    policy: Policy,
}

impl Jail {
    fn new(allow: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = std::fs::canonicalize(dir.path()).unwrap().join("jail");
        std::fs::create_dir_all(path.join(".git/hooks")).unwrap();
        let list: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
        let policy = policy(&format!(
            "default = \"deny\"\nallow = [{}]\ncwd = [\"{}\"]\n",
            list.join(", "),
            path.display()
        ));
        Self {
            _dir: dir,
            path,
            policy,
        }
    }

    /// Each of `refused` must be refused and each of `allowed` allowed, run in the jail.
    fn expect(&self, refused: &[&str], allowed: &[&str]) {
        let at = |c: &str| {
            self.policy.check(&CheckRequest {
                cwd: Some(&self.path),
                ..CheckRequest::new(c)
            })
        };
        for c in refused {
            let v = at(c);
            assert!(!v.allowed, "{c}: {}", v.summary());
        }
        for c in allowed {
            let v = at(c);
            assert!(v.allowed, "{c}: {}", v.summary());
        }
    }
}
