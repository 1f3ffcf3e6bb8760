use super::*;
use crate::stdlib::try_compile;
use policyc_verify::rng::Rng;

#[test]
fn seeded_policies_compile_and_repeat_with_their_seed() {
    for area in [None, Some("/tmp/policyc-sampled-area")] {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for n in 0..100 {
            let m = seeded::process_policy(&mut a, n, area);
            assert_eq!(m.source(), seeded::process_policy(&mut b, n, area).source());
            let (_, policies) = try_compile("seeded.policy", &m.source())
                .unwrap_or_else(|e| panic!("{}\n{e}", m.source()));
            assert_eq!(policies[0].name, format!("sampled_{n}"));
        }
    }
}

#[cfg(feature = "proptest")]
#[test]
fn well_formed_policies_compile() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for _ in 0..100 {
        let m = strategy::well_formed()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        try_compile("drawn.policy", &m.source()).unwrap_or_else(|e| panic!("{}\n{e}", m.source()));
    }
}

#[test]
fn hand_built_parts_render_as_written() {
    let mut m = PolicyModel::new("p", IsolationModel::Container);
    m.fs.push(FsRuleModel::Mount {
        access: AccessModel::Read,
        host: PathModel::exact("~/a b/\"q\""),
        at: Some(PathModel::exact("/mnt/in")),
    });
    m.push_syscall(SysRuleModel::deny(
        &["ioctl"],
        vec![CondModel::new(1, Some(0xffff), CmpOpModel::Eq, 0x5413)],
        Some(ActionModel::errno("EACCES")),
    ));
    m.push_syscall(SysRuleModel::Allow(vec![SysTargetModel {
        name: SysNameModel::set("python"),
        condition: Vec::new(),
    }]));
    let text = m.source();
    assert!(text.starts_with("use std::runtime::python\n"), "{text}");
    assert!(
        text.contains("read \"~/a b/\\\"q\\\"\" at \"/mnt/in\""),
        "{text}"
    );
    assert!(
        text.contains("deny ioctl if arg1 & 0xffff == 21523 errno EACCES"),
        "{text}"
    );
    assert_eq!(m.rules(), 3);
}
