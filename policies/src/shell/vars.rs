//! Variable names: which ones bash gives a meaning of its own. Assigning to them (by any means:
//! `NAME=`, `read`, `printf -v`, `export`, `declare`, `for NAME in`) is not modelled: some are
//! evaluated as arithmetic (`RANDOM`, `OPTIND`, `SECONDS`...), some are run as code (`PS4`,
//! `PROMPT_COMMAND`, `BASH_ENV`), some change how words split or commands are found (`IFS`,
//! `PATH`, `BASH_CMDS`, `BASH_ALIASES`).

/// Every variable the bash manual lists ("Bourne Shell Variables" and "Bash Variables").
const BASH_VARIABLES: &[&str] = &[
    "CDPATH",
    "HOME",
    "IFS",
    "MAIL",
    "MAILPATH",
    "OPTARG",
    "OPTIND",
    "PATH",
    "PS1",
    "PS2",
    "_",
    "BASH",
    "BASHOPTS",
    "BASHPID",
    "BASH_ALIASES",
    "BASH_ARGC",
    "BASH_ARGV",
    "BASH_ARGV0",
    "BASH_CMDS",
    "BASH_COMMAND",
    "BASH_COMPAT",
    "BASH_ENV",
    "BASH_EXECUTION_STRING",
    "BASH_LINENO",
    "BASH_LOADABLES_PATH",
    "BASH_MONOSECONDS",
    "BASH_REMATCH",
    "BASH_SOURCE",
    "BASH_SUBSHELL",
    "BASH_TRAPSIG",
    "BASH_VERSINFO",
    "BASH_VERSION",
    "BASH_XTRACEFD",
    "CHILD_MAX",
    "COLUMNS",
    "COMP_CWORD",
    "COMP_KEY",
    "COMP_LINE",
    "COMP_POINT",
    "COMP_TYPE",
    "COMP_WORDBREAKS",
    "COMP_WORDS",
    "COMPREPLY",
    "COPROC",
    "DIRSTACK",
    "EMACS",
    "ENV",
    "EPOCHREALTIME",
    "EPOCHSECONDS",
    "EUID",
    "EXECIGNORE",
    "FCEDIT",
    "FIGNORE",
    "FUNCNAME",
    "FUNCNEST",
    "GLOBIGNORE",
    "GLOBSORT",
    "GROUPS",
    "histchars",
    "HISTCMD",
    "HISTCONTROL",
    "HISTFILE",
    "HISTFILESIZE",
    "HISTIGNORE",
    "HISTSIZE",
    "HISTTIMEFORMAT",
    "HOSTFILE",
    "HOSTNAME",
    "HOSTTYPE",
    "IGNOREEOF",
    "INPUTRC",
    "INSIDE_EMACS",
    "LANG",
    "LC_ALL",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_MESSAGES",
    "LC_NUMERIC",
    "LC_TIME",
    "LINENO",
    "LINES",
    "MACHTYPE",
    "MAILCHECK",
    "MAPFILE",
    "OLDPWD",
    "OPTERR",
    "OSTYPE",
    "PIPESTATUS",
    "POSIXLY_CORRECT",
    "PPID",
    "PROMPT_COMMAND",
    "PROMPT_DIRTRIM",
    "PS0",
    "PS3",
    "PS4",
    "PWD",
    "RANDOM",
    "READLINE_ARGUMENT",
    "READLINE_LINE",
    "READLINE_MARK",
    "READLINE_POINT",
    "REPLY",
    "SECONDS",
    "SHELL",
    "SHELLOPTS",
    "SHLVL",
    "SRANDOM",
    "TEXTDOMAIN",
    "TEXTDOMAINDIR",
    "TIMEFORMAT",
    "TMOUT",
    "TMPDIR",
    "UID",
    "auto_resume",
];

/// A name bash accepts for a variable: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether bash gives `name` a meaning of its own (or a prefix of such names: `BASH_*`, `PS*`,
/// `COMP_*`, `LC_*`, `READLINE_*`, `HIST*`).
pub fn is_special(name: &str) -> bool {
    BASH_VARIABLES.contains(&name)
        || ["BASH", "PS", "COMP_", "LC_", "READLINE_", "HIST", "PROMPT_"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// Why assigning `name` in the shell is not modelled, if it is not.
pub fn assignable(name: &str) -> Option<String> {
    if !is_name(name) {
        return Some(format!("{name} is not a plain variable name"));
    }
    // Locale and terminal size: bash reads them, nothing evaluates them.
    let harmless =
        name == "LANG" || name.starts_with("LC_") || name == "COLUMNS" || name == "LINES";
    if is_special(name) && !harmless {
        return Some(format!(
            "{name} is one of bash's own variables (assigning it can evaluate arithmetic, run \
code, or change how commands are found), which is not modelled"
        ));
    }
    None
}

/// `set -o` names that only change error handling or tracing (not `physical`, which changes
/// how `cd` takes `..`, nor `allexport`, `keyword` or `posix`): the base of what `set -o`
/// and `bash -o` may name.
pub const SAFE_SET_OPTIONS: &[&str] = &[
    "errexit",
    "nounset",
    "pipefail",
    "xtrace",
    "verbose",
    "noglob",
    "noclobber",
    "errtrace",
    "functrace",
];
