//! A `~/...` path within PATH_MAX as written but too long once `~` is the home directory is
//! a user error (P0204) on the path's own literal, from `check` and `build` alike, not an
//! internal error of a target (P0807 Landlock, P1107 WASI) on the policy header.

use super::{assert_stderr_has, policyc, scratch, stderr};

/// `~/` and components of 200 bytes, `len` bytes in all.
fn long_home_path(len: usize) -> String {
    let mut p = String::from("~");
    while p.len() < len {
        let room = (len - p.len() - 1).min(200);
        p.push('/');
        p.push_str(&"d".repeat(room.max(1)));
    }
    assert_eq!(p.len(), len);
    p
}

fn policy(isolation: &str, path: &str) -> String {
    let at = if isolation == "wasm" {
        " at \"/data\""
    } else {
        ""
    };
    format!(
        "policy long {{\n    isolation {isolation}\n\n    fs {{\n        read \"/usr\"\n        read \"{path}\"{at}\n    }}\n\n    syscalls {{\n        allow read\n    }}\n}}\n"
    )
}

#[test]
fn a_home_path_too_long_after_substitution_is_p0204_on_its_literal() {
    let dir = scratch("long-home-path");
    let path = long_home_path(4094);
    for isolation in ["process", "wasm"] {
        std::fs::write(dir.join("p.policy"), policy(isolation, &path)).unwrap();
        for args in [
            vec!["check", "--home", "/home/user", "p.policy"],
            vec!["build", "--home", "/home/user", "p.policy", "--out", "out"],
        ] {
            let o = policyc(&args, &dir);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{isolation} {args:?}: {}",
                stderr(&o)
            );
            assert_stderr_has(&o, "error[P0204]: path `~/ddd");
            assert_stderr_has(
                &o,
                "is 4103 bytes once `~` is the home directory `/home/user`",
            );
            assert_stderr_has(&o, "--> p.policy:6:14");
            let err = stderr(&o);
            assert!(!err.contains("P0807") && !err.contains("P1107"), "{err}");
            assert_eq!(err.matches("error[").count(), 1, "{err}");
        }
    }
    // With a home short enough, it checks and builds.
    std::fs::write(
        dir.join("p.policy"),
        policy("process", &long_home_path(4080)),
    )
    .unwrap();
    let o = policyc(&["check", "--home", "/h", "p.policy"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `exec`, `test` and `fuzz` report the same P0204 on the path's literal, before any target
/// emits the policy: never a target's internal code.
#[test]
fn exec_test_and_fuzz_report_p0204_on_the_literal_too() {
    let dir = scratch("long-home-path-run");
    let path = long_home_path(4094);
    for isolation in ["process", "wasm"] {
        std::fs::write(dir.join("p.policy"), policy(isolation, &path)).unwrap();
        for (args, status) in [
            (
                vec![
                    "exec",
                    "--home",
                    "/home/user",
                    "p.policy",
                    "--",
                    "/bin/true",
                ],
                125,
            ),
            (vec!["test", "--home", "/home/user", "p.policy"], 1),
            (
                vec!["fuzz", "--home", "/home/user", "--cases", "10", "p.policy"],
                1,
            ),
        ] {
            let o = policyc(&args, &dir);
            assert_eq!(
                o.status.code(),
                Some(status),
                "{isolation} {args:?}: {}",
                stderr(&o)
            );
            assert_stderr_has(&o, "error[P0204]: path `~/ddd");
            assert_stderr_has(
                &o,
                "is 4103 bytes once `~` is the home directory `/home/user`",
            );
            assert_stderr_has(&o, "--> p.policy:6:14");
            let err = stderr(&o);
            assert!(!err.contains("P0807") && !err.contains("P1107"), "{err}");
            assert_eq!(err.matches("error[").count(), 1, "{err}");
        }
    }
}
