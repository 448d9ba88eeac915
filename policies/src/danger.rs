//! Things that are dangerous whatever the rules say: characters that hide what a command is,
//! and environment variables that make programs load or run other code.

/// Why `text` cannot be shown to a person as what it is, if it cannot: NUL bytes, control
/// characters, and invisible or direction-changing Unicode.
pub fn bad_characters(text: &str) -> Option<String> {
    for c in text.chars() {
        let bad = match c {
            '\0' => Some("a NUL byte"),
            '\t' | '\n' => None,
            c if c.is_control() => Some("a control character"),
            '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' => {
                Some("an invisible or direction-changing character")
            }
            '\u{FEFF}'
            | '\u{00AD}'
            | '\u{180E}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}' => Some("an invisible character"),
            '\u{E0000}'..='\u{E007F}' => Some("an invisible tag character"),
            _ => None,
        };
        if let Some(what) = bad {
            return Some(format!("the command contains {what} (U+{:04X})", c as u32));
        }
    }
    None
}

/// Why a program name cannot be matched with confidence: non-ASCII letters (confusables such
/// as Cyrillic `р` for `p`) or spaces.
pub fn bad_program_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("an empty program name".into());
    }
    if !name.is_ascii() {
        return Some(format!(
            "the program name {name:?} contains non-ASCII characters, which can imitate others"
        ));
    }
    if name
        .chars()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Some(format!("the program name {name:?} contains whitespace"));
    }
    None
}

/// Variables that make the shell, the loader or common tools run other code.
const DANGEROUS_VARS: &[&str] = &[
    "PATH",
    "IFS",
    "ENV",
    "BASH_ENV",
    "BASH_XTRACEFD",
    "BASHOPTS",
    "SHELLOPTS",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "PROMPT_COMMAND",
    "GLOBIGNORE",
    "CDPATH",
    "HISTFILE",
    "EXECIGNORE",
    "HOME",
    "SHELL",
    "PAGER",
    "EDITOR",
    "VISUAL",
    "BROWSER",
    "LESSOPEN",
    "LESSCLOSE",
    "LESSKEY",
    "MANPAGER",
    "MANOPT",
    "GIT_EXEC_PATH",
    "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXTERNAL_DIFF",
    "GIT_TEMPLATE_DIR",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONINSPECT",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CC",
    "CXX",
    "CPP",
    "AR",
    "AS",
    "FC",
    "LD",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "LDLIBS",
    "RUSTFLAGS",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    "TZDIR",
    "POSIXLY_CORRECT",
    "SHELLOPTS",
    "INPUTRC",
    "MAKEFLAGS",
    "MAKE",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "ZDOTDIR",
    "SUDO_ASKPASS",
    "SSH_ASKPASS",
    "GIT_ASKPASS",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
];

/// Prefixes of variables that tools read as configuration that can run programs or write
/// files (`CARGO_BUILD_RUSTC`, `CARGO_TARGET_<triple>_RUNNER`, `GIT_TRACE=/path`,
/// `npm_config_script_shell`, `PIP_*`...).
const DANGEROUS_PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "GCONV_",
    "GIT_",
    "CARGO_",
    "RUSTC",
    "RUSTDOC",
    "RUSTUP_",
    "NPM_CONFIG_",
    "YARN_",
    "PNPM_",
    "PIP_",
    "PYTHON",
    "NODE_",
    "PERL",
    "RUBY",
    "GEM_",
    "BUNDLE_",
    "LUA_",
    "JAVA_",
    "_JAVA_",
    "JDK_",
    "MAVEN_",
    "GRADLE_",
    "DOCKER_",
    "SSH_",
    "LESS",
    "COMPOSER_",
    "GO",
    "CGO_",
    "HG",
    "SVN_",
    "TERMINFO",
    "LOCPATH",
    "NLSPATH",
    "MALLOC_",
    "GLIBC_",
    "GNUPG",
    "GPG_",
    "KUBE",
    "AWS_",
    "BROWSER",
    "EMACS",
    "VIM",
    "MYVIM",
    "TEXINPUTS",
    "PKG_CONFIG",
    "CMAKE_",
    "MAKE",
    "CONAN_",
    "DENO_",
    "BUN_",
    "UV_",
    "POETRY_",
    "VIRTUAL_ENV",
    "CONDA",
    "TOX_",
    "NOX_",
    "PYTEST_",
    "COVERAGE_",
    "HYPOTHESIS_",
];
const DANGEROUS_SUFFIXES: &[&str] = &[
    "_PAGER", "_EDITOR", "_ASKPASS", "_COMMAND", "_WRAPPER", "_PROGRAM",
];

/// Variables under those prefixes that only change output, parallelism or caching.
const HARMLESS: &[&str] = &[
    "CARGO_TERM_COLOR",
    "CARGO_TERM_VERBOSE",
    "CARGO_TERM_QUIET",
    "CARGO_TERM_PROGRESS_WHEN",
    "CARGO_INCREMENTAL",
    "CARGO_BUILD_JOBS",
    "CARGO_NET_OFFLINE",
    "CARGO_LOG",
    "GIT_TERMINAL_PROMPT",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONHASHSEED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "NODE_ENV",
    "NODE_NO_WARNINGS",
    "GOOS",
    "GOARCH",
    "GOMAXPROCS",
    "GOTESTSUM_FORMAT",
];

/// Whether setting `name` could make a program load or run code of the setter's choosing.
pub fn dangerous_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if HARMLESS.contains(&upper.as_str()) {
        return false;
    }
    DANGEROUS_VARS.contains(&upper.as_str())
        || DANGEROUS_PREFIXES.iter().any(|p| upper.starts_with(p))
        || DANGEROUS_SUFFIXES.iter().any(|s| upper.ends_with(s))
        || upper.starts_with("GIT_") && (upper.contains("SSH") || upper.contains("PROXY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_hidden_characters() {
        assert!(bad_characters("rm\u{200B} -rf").is_some());
        assert!(bad_characters("echo \u{202E}gnp.exe").is_some());
        assert!(bad_characters("a\0b").is_some());
        assert!(bad_characters("a\rb").is_some());
        assert!(bad_characters("echo 'héllo wörld' && ls\n").is_none());
    }

    #[test]
    fn flags_loader_and_hook_variables() {
        for v in [
            "LD_PRELOAD",
            "ld_library_path",
            "BASH_ENV",
            "PATH",
            "GIT_SSH_COMMAND",
            "CORE_PAGER",
            "RUSTC_WRAPPER",
        ] {
            assert!(dangerous_variable(v), "{v}");
        }
        for v in ["RUST_LOG", "CI", "NO_COLOR", "CARGO_TERM_COLOR", "LANG"] {
            assert!(!dangerous_variable(v), "{v}");
        }
    }
}
