//! The conventions people expect of a CLI: shell completion that a real shell can use, a
//! machine-readable version, and a one-line usage error for an unknown shell.

use std::process::Command;

fn kubeup(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubeup")).args(args).output().unwrap()
}

/// What bash offers after `kubeup <words…><TAB>`, using the script `kubeup completion bash` printed.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = kubeup(&["completion", "bash"]);
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeup.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let line: Vec<String> = std::iter::once("kubeup").chain(words.iter().copied()).map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n_kubeup kubeup '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        line.join(" "),
        words.len(),
        words.last().unwrap(),
        if words.len() > 1 { words[words.len() - 2] } else { "kubeup" },
    );
    let out = Command::new("bash").args(["--norc", "-c", &program]).output().unwrap();
    assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_commands_subcommands_and_flags() {
    assert_eq!(bash_completes(&["jo"]), ["join"]);
    let token = bash_completes(&["token", ""]);
    for sub in ["create", "list", "delete"] {
        assert!(token.iter().any(|w| w == sub), "token <TAB> offers {token:?}");
    }
    let flags = bash_completes(&["init", "--pod-net"]);
    assert!(flags.iter().any(|w| w == "--pod-network-cidr") && flags.iter().any(|w| w == "--pod-network"), "{flags:?}");
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    for shell in ["zsh", "fish"] {
        let out = kubeup(&["completion", shell]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        for command in ["init", "join", "reset", "token", "certs", "completion"] {
            assert!(text.contains(command), "{shell} completion lacks {command}");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_choices() {
    let out = kubeup(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("invalid value 'tcsh'") && err.contains("bash") && err.contains("fish"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn version_json_is_machine_readable() {
    let out = kubeup(&["version", "-o", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kubeup"], env!("CARGO_PKG_VERSION"));
}
