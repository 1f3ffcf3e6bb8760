//! Fuzz campaigns against one policy: random adversarial probes (see [`crate::adversary`])
//! on every layer's simulator. Case `i` of a campaign with seed `s` is drawn from its own
//! generator seeded with `(s, i)`, so any case can be replayed alone and a campaign gives
//! the same result on every machine. The same draw makes sharding free: [`Shard`] `k` of `n`
//! runs the cases whose index is `k` modulo `n`, so shards are disjoint and together they are
//! the whole campaign.

use crate::adversary::{self, Pools};
use crate::leak::{self, Leak};
use crate::probe::Probe;
use crate::rng::Rng;
use crate::run::Layer;
use crate::stack::{self, Gap};
use policyc_compiler::ir::Policy;
use policyc_compiler::Request;
use policyc_targets::Verdict;
use std::collections::BTreeMap;

/// Stop collecting after this many leaks or gaps (the campaign still counts cases).
const MAX_FINDINGS: usize = 20;

/// What to run.
#[derive(Debug)]
pub struct Campaign<'a> {
    pub policy: &'a Policy,
    pub layers: &'a [Layer],
    pub home: Option<&'a str>,
    pub seed: u64,
    pub cases: u64,
}

/// A leak, as found and after shrinking the request.
#[derive(Debug, Clone)]
pub struct Found {
    /// The case index that found it (replay with the same seed).
    pub case: u64,
    pub found: Probe,
    /// The simplest request that still leaks on the same target.
    pub leak: Leak,
}

/// Per-target counts of what the simulator said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub allow: u64,
    pub deny: u64,
    pub not_mediated: u64,
}

/// What a campaign found: how many cases ran, what each layer said, leaks and gaps.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub cases: u64,
    pub tally: BTreeMap<&'static str, Tally>,
    pub leaks: Vec<Found>,
    /// Requests the policy denies that no layer denies, outside declared limits.
    pub gaps: Vec<(u64, Gap)>,
}

/// The generator for case `i`.
pub fn case_rng(seed: u64, i: u64) -> Rng {
    let mut r = Rng::new(seed ^ i.wrapping_mul(0xa076_1d64_78bd_642f));
    r.next_u64();
    r
}

/// The probe case `i` draws.
pub fn case(pools: &Pools, seed: u64, i: u64) -> Probe {
    adversary::sample(pools, &mut case_rng(seed, i))
}

/// One of `count` disjoint slices of a campaign: the cases `index`, `index + count`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole campaign.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parse `K/N` (1-based `K`, as CI matrices count): `2/4` is the second of four.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard: write K/N with 1 <= K <= N, e.g. `2/4`");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let k: u64 = k.trim().parse().map_err(|_| bad())?;
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// The case indices of this shard in a campaign of `total` cases, in order.
    pub fn cases(self, total: u64) -> impl Iterator<Item = u64> {
        let step = usize::try_from(self.count.max(1)).unwrap_or(usize::MAX);
        (self.index..total).step_by(step)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// Run a whole campaign; `progress` is called with the number of cases done, every 1,024
/// cases and at the end.
pub fn run(c: &Campaign<'_>, progress: &mut dyn FnMut(u64)) -> Findings {
    run_shard(c, Shard::WHOLE, progress)
}

/// Run one shard of a campaign: [`Findings::cases`] counts the cases this shard ran, and
/// every finding keeps its index in the whole campaign.
pub fn run_shard(c: &Campaign<'_>, shard: Shard, progress: &mut dyn FnMut(u64)) -> Findings {
    let pools = adversary::pools(c.policy, c.home);
    let mut out = Findings::default();
    for i in shard.cases(c.cases) {
        let p = case(&pools, c.seed, i);
        let verdicts = tally(c.layers, &p, &mut out.tally);
        // A leak needs some layer to allow, a gap needs no layer to deny: most requests
        // need neither check (each asks every simulator again).
        let any_allow = verdicts.contains(&Verdict::Allow);
        let any_deny = verdicts.contains(&Verdict::Deny);
        if any_allow && out.leaks.len() < MAX_FINDINGS {
            for l in leak::find(c.policy, c.layers, c.home, &p) {
                let shrunk = shrink(c, l);
                out.leaks.push(Found {
                    case: i,
                    found: p.clone(),
                    leak: shrunk,
                });
            }
        }
        if !any_deny && out.gaps.len() < MAX_FINDINGS {
            let gaps = stack::check(c.policy, c.layers, c.home, std::slice::from_ref(&p));
            out.gaps.extend(
                gaps.into_iter()
                    .filter(|g| g.declared.is_none())
                    .map(|g| (i, g)),
            );
        }
        out.cases += 1;
        if out.cases % 1024 == 0 {
            progress(out.cases);
        }
    }
    progress(out.cases);
    out
}

/// Count each layer's verdict on `p`, and return them.
fn tally(layers: &[Layer], p: &Probe, t: &mut BTreeMap<&'static str, Tally>) -> Vec<Verdict> {
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        let Some(v) = l.verdict(p) else { continue };
        let e = t.entry(l.name()).or_default();
        match v {
            Verdict::Allow => e.allow += 1,
            Verdict::Deny => e.deny += 1,
            Verdict::NotMediated => e.not_mediated += 1,
        }
        out.push(v);
    }
    out
}

/// Simplify a leaking request while the same target still leaks it: shorter paths, zeroed
/// arguments.
pub fn shrink(c: &Campaign<'_>, found: Leak) -> Leak {
    let mut best = found;
    let Some(layer) = c.layers.iter().find(|l| l.name() == best.target) else {
        return best;
    };
    loop {
        let next = simpler(&best.probe).into_iter().find_map(|p| {
            leak::find(c.policy, std::slice::from_ref(layer), c.home, &p)
                .into_iter()
                .next()
        });
        match next {
            Some(l) => best = l,
            None => return best,
        }
    }
}

/// Strictly simpler variants of a probe.
fn simpler(p: &Probe) -> Vec<Probe> {
    match p {
        Probe::Request(Request::Fs { access, path }) => path
            .ancestors()
            .skip(1)
            .map(|a| {
                Probe::Request(Request::Fs {
                    access: *access,
                    path: a,
                })
            })
            .collect(),
        Probe::Request(Request::Syscall { name, args }) => zeroed(args)
            .into_iter()
            .map(|args| {
                Probe::Request(Request::Syscall {
                    name: name.clone(),
                    args,
                })
            })
            .collect(),
        Probe::Raw { abi, nr, args } => zeroed(args)
            .into_iter()
            .map(|args| Probe::Raw {
                abi: *abi,
                nr: *nr,
                args,
            })
            .collect(),
        Probe::Request(_) => Vec::new(),
    }
}

/// Each non-zero argument set to zero, then to its lowest set bit.
fn zeroed(args: &[u64; 6]) -> Vec<[u64; 6]> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if *a == 0 {
            continue;
        }
        for v in [0, *a & a.wrapping_neg()] {
            if v == *a {
                continue;
            }
            let mut next = *args;
            if let Some(slot) = next.get_mut(i) {
                *slot = v;
            }
            out.push(next);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::Shard;
    use proptest::prelude::*;

    #[test]
    fn shards_parse_one_based_and_reject_nonsense() {
        assert_eq!(Shard::parse("1/1").unwrap(), Shard::WHOLE);
        assert_eq!(Shard::parse("3/4").unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard::parse("3/4").unwrap().to_string(), "3/4");
        for bad in ["0/4", "5/4", "1/0", "4", "a/b", "/", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn shards_are_disjoint_and_together_the_whole_campaign(total in 0u64..3000, n in 1u64..40) {
            let mut seen = vec![0u8; usize::try_from(total).unwrap()];
            for k in 1..=n {
                let shard = Shard::parse(&format!("{k}/{n}")).unwrap();
                let cases: Vec<u64> = shard.cases(total).collect();
                prop_assert!(cases.windows(2).all(|w| w[0] < w[1]));
                for i in cases {
                    seen[usize::try_from(i).unwrap()] += 1;
                }
            }
            prop_assert!(seen.iter().all(|c| *c == 1), "some case ran twice or never");
        }
    }
}
