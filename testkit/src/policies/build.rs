//! Building models by hand, as the seeded and proptest draws (and tests) do: exact paths,
//! hosts and syscall names, conditions from plain numbers, actions by name.

use super::model::*;

impl PolicyModel {
    /// An empty policy: `name` at `isolation`, with nothing else said and nothing imported.
    pub fn new(name: &str, isolation: IsolationModel) -> Self {
        PolicyModel {
            name: name.to_string(),
            isolation,
            threats: Vec::new(),
            use_secrets: false,
            fs: Vec::new(),
            net: NetModel::Absent,
            tokens: Vec::new(),
            syscalls: None,
            include_guards: false,
            limits: Vec::new(),
            tests: Vec::new(),
        }
    }

    /// How many statements the policy makes: `fs` rules, egress rules (and an explicit
    /// `egress none` or `dns`), tokens, `include runtime_guards`, the syscall default and
    /// rules, limits and test expectations.
    pub fn rules(&self) -> usize {
        let net = match &self.net {
            NetModel::Absent => 0,
            NetModel::None(dns) => 1 + usize::from(dns.is_some()),
            NetModel::Egress { blocks, dns } => {
                blocks.iter().map(|b| b.rules.len()).sum::<usize>() + usize::from(dns.is_some())
            }
        };
        let sys = self
            .syscalls
            .as_ref()
            .map_or(0, |s| s.rules.len() + usize::from(s.default.is_some()));
        self.fs.len()
            + net
            + self.tokens.len()
            + usize::from(self.include_guards)
            + sys
            + self.limits.len()
            + self.tests.len()
    }

    /// Add a syscall rule (opening the `syscalls` block if there is none).
    pub fn push_syscall(&mut self, rule: SysRuleModel) {
        self.syscalls
            .get_or_insert_with(SyscallsModel::default)
            .rules
            .push(rule);
    }
}

impl PathModel {
    /// The path `text`, written as it is.
    pub fn exact(text: &str) -> Self {
        PathModel {
            root: PathRoot::Exact(text.to_string()),
            parts: Vec::new(),
        }
    }
}

impl HostModel {
    /// The host `text`, written as it is (at most 64 characters).
    pub fn exact(text: &str) -> Self {
        assert!(text.chars().count() <= 64, "host too long: {text}");
        HostModel::Raw(text.to_string())
    }
}

impl SysNameModel {
    /// The stdlib syscall set `name` (`python`, `base`, ...), which imports its module.
    pub fn set(name: &str) -> Self {
        assert!(SYSCALL_SETS.contains(&name), "no syscall set `{name}`");
        SysNameModel::Set(index_of(SYSCALL_SETS, name))
    }
}

impl SysRuleModel {
    /// `allow NAME [if COND]`.
    pub fn allow(name: &'static str, condition: Vec<CondModel>) -> Self {
        SysRuleModel::Allow(vec![SysTargetModel {
            name: SysNameModel::Named(name),
            condition,
        }])
    }

    /// `allow NAME, NAME, ...`.
    pub fn allow_all(names: &[&'static str]) -> Self {
        let targets = names.iter().map(|n| SysTargetModel {
            name: SysNameModel::Named(n),
            condition: Vec::new(),
        });
        SysRuleModel::Allow(targets.collect())
    }

    /// `deny NAME, ... [if COND] [ACTION]`.
    pub fn deny(
        names: &[&'static str],
        condition: Vec<CondModel>,
        action: Option<ActionModel>,
    ) -> Self {
        SysRuleModel::Deny {
            names: names.iter().map(|n| SysNameModel::Named(n)).collect(),
            condition,
            action,
        }
    }
}

impl CondModel {
    /// `argARG [& MASK] OP VALUE`.
    pub fn new(arg: u8, mask: Option<u64>, op: CmpOpModel, value: u64) -> Self {
        CondModel {
            arg,
            mask: mask.map(ValueModel::Full),
            op,
            value: ValueModel::Full(value),
        }
    }
}

impl ActionModel {
    /// `errno NAME`, for a name in [`ERRNOS`].
    pub fn errno(name: &str) -> Self {
        assert!(ERRNOS.contains(&name), "no errno `{name}` in the model");
        ActionModel::ErrnoName(index_of(ERRNOS, name))
    }
}

impl From<AccessModel> for policyc_compiler::ast::Access {
    fn from(a: AccessModel) -> Self {
        match a {
            AccessModel::Read => Self::Read,
            AccessModel::Write => Self::Write,
            AccessModel::Exec => Self::Exec,
        }
    }
}
