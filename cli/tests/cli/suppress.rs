//! `allow warning CODE "reason"` through the command line: `check --explain-suppressions`,
//! `check --format json`, and `--deny-warnings` on check, build and test.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};

const POLICY: &str = r#"policy reader {
    isolation process

    fs {
        read "/usr"
        deny "/srv"
        allow warning P0502 "kept until the data move lands"
        read "/srv/data"
    }

    syscalls {
        allow read
    }

    test "reads" {
        allow read "/usr/lib/os-release"
        deny read "/srv/data/x"
    }
}
"#;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn explain_suppressions_lists_each_with_its_reason_and_what_it_silences() {
    let dir = scratch("suppress-explain");
    std::fs::write(dir.join("p.policy"), POLICY).unwrap();
    let o = policyc(&["check", "--explain-suppressions", "p.policy"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "p.policy:7:9: policy `reader` allows P0502: \"kept until the data move lands\"\n    silences p.policy:8:9: everything this mount grants is denied by `deny /srv`\n"
    );
    assert_stderr_has(&o, "0 errors, 0 warnings");
    let json = policyc(&["check", "--format", "json", "p.policy"], &dir);
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(doc["warnings"], 0);
    let s = &doc["suppressions"][0];
    assert_eq!(s["policy"], "reader");
    assert_eq!(s["code"], "P0502");
    assert_eq!(s["reason"], "kept until the data move lands");
    assert_eq!(
        (s["file"].clone(), s["line"].clone()),
        ("p.policy".into(), 7.into())
    );
    assert_eq!(s["silenced"][0]["code"], "P0502");
    assert_eq!(s["silenced"][0]["line"], 8);
}

#[test]
fn deny_warnings_fails_check_build_and_test_on_a_warning_and_not_on_an_allowed_one() {
    let dir = scratch("suppress-deny");
    let warned = POLICY.replace(
        "        allow warning P0502 \"kept until the data move lands\"\n",
        "",
    );
    std::fs::write(dir.join("warned.policy"), &warned).unwrap();
    std::fs::write(dir.join("allowed.policy"), POLICY).unwrap();
    for (cmd, extra) in [
        ("check", vec![]),
        ("test", vec!["--home", "/home/u"]),
        ("build", vec!["--home", "/home/u", "--out", "out"]),
    ] {
        let run = |file: &str, deny: bool| {
            let mut args = vec![cmd, file];
            args.extend(&extra);
            if deny {
                args.push("--deny-warnings");
            }
            policyc(&args, &dir)
        };
        let plain = run("warned.policy", false);
        assert_eq!(code(&plain), 0, "{cmd}: {}", stderr(&plain));
        let denied = run("warned.policy", true);
        assert_eq!(code(&denied), 1, "{cmd}: {}", stderr(&denied));
        assert_stderr_has(&denied, "1 warning and `--deny-warnings`");
        let allowed = run("allowed.policy", true);
        assert_eq!(
            code(&allowed),
            0,
            "{cmd}: {}{}",
            stdout(&allowed),
            stderr(&allowed)
        );
    }
    assert!(
        !dir.join("out/warned").exists(),
        "a denied build wrote nothing"
    );
}

#[test]
fn fmt_keeps_suppressions_where_they_are() {
    let dir = scratch("suppress-fmt");
    std::fs::write(dir.join("p.policy"), POLICY).unwrap();
    let o = policyc(&["fmt", "--check", "p.policy"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(
        dir.join("p.policy"),
        POLICY.replace("        allow warning", "allow   warning"),
    )
    .unwrap();
    let o = policyc(&["fmt", "p.policy"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("p.policy")).unwrap(),
        POLICY
    );
}
