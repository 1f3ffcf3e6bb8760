//! Argument conditions in the forms libseccomp (and so `seccomp.json`) can express exactly.
//!
//! libseccomp compares one argument per condition with `==`, `!=`, `<`, `<=`, `>`, `>=`
//! (all over 64 bits) or `arg & mask == value`, and a rule is the AND of its conditions.
//! Two restrictions shape everything here:
//!
//! - A rule may hold at most one condition per argument: libseccomp refuses two, and runc
//!   splits such an entry into one rule per condition, which would turn AND into OR.
//! - There is no `arg & mask != value` and no masked ordering.
//!
//! So conditions are normalised into a disjunction of [`Term`]s, each with at most one
//! [`Atom`] per argument, and every step is exact (never wider, never narrower):
//!
//! - `x & m != v` is "some bit of `m` differs from `v`": one `x & bit == !v & bit` per bit.
//! - `x & m < v` (and the other orders) splits the range of `x & m` into aligned blocks,
//!   each of which is one masked equality on the bits above the block.
//! - Two atoms on one argument are merged: masked equalities combine into one (or
//!   contradict), unmasked orders intersect as intervals, and anything else is expanded
//!   into masked blocks and multiplied out.
//!
//! Terms implied by another term are dropped. A result above [`MAX_TERMS`] is refused
//! rather than approximated.

use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::ArgCond;

/// The most terms one syscall's region may need before `emit` refuses the policy.
pub const MAX_TERMS: usize = 256;

/// One comparison on one argument that libseccomp expresses directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    /// `arg & mask == value`, with `value & !mask == 0` and `mask != 0`. A full mask is
    /// plain equality.
    Masked { mask: u64, value: u64 },
    /// `arg <op> value` for `!=`, `<`, `<=`, `>`, `>=` (never `==`: that is `Masked`).
    Cmp { op: CmpOp, value: u64 },
}

impl Atom {
    /// Does `x` satisfy this atom?
    pub fn holds(&self, x: u64) -> bool {
        match *self {
            Atom::Masked { mask, value } => x & mask == value,
            Atom::Cmp { op, value } => cmp(op, x, value),
        }
    }

    /// The set of values as sorted disjoint intervals, for unmasked atoms and masks of
    /// contiguous high bits (which only round the value down).
    fn intervals(&self) -> Option<Vec<(u64, u64)>> {
        match *self {
            Atom::Masked { mask, value } => prefix_intervals(mask, CmpOp::Eq, value),
            Atom::Cmp { op, value } => Some(op_intervals(op, value)),
        }
    }
}

/// `x <op> v`.
fn cmp(op: CmpOp, x: u64, v: u64) -> bool {
    match op {
        CmpOp::Eq => x == v,
        CmpOp::Ne => x != v,
        CmpOp::Lt => x < v,
        CmpOp::Le => x <= v,
        CmpOp::Gt => x > v,
        CmpOp::Ge => x >= v,
    }
}

/// The values `x` with `x <op> v`, as sorted disjoint intervals.
fn op_intervals(op: CmpOp, v: u64) -> Vec<(u64, u64)> {
    let below = v.checked_sub(1).map(|h| (0, h));
    let above = v.checked_add(1).map(|l| (l, u64::MAX));
    match op {
        CmpOp::Eq => vec![(v, v)],
        CmpOp::Ne => below.into_iter().chain(above).collect(),
        CmpOp::Lt => below.into_iter().collect(),
        CmpOp::Le => vec![(0, v)],
        CmpOp::Gt => above.into_iter().collect(),
        CmpOp::Ge => vec![(v, u64::MAX)],
    }
}

/// `x & m <op> v` as intervals of `x`, when `m` is contiguous high bits (`x & m` is then
/// `x` rounded down to a multiple of `2^k`, which is monotone); `None` for other masks.
fn prefix_intervals(m: u64, op: CmpOp, v: u64) -> Option<Vec<(u64, u64)>> {
    if m == 0 || m.leading_ones() + m.trailing_zeros() != 64 {
        return None;
    }
    let low = !m;
    // Each interval of rounded values [a, b] is the multiples from ceil(a) to floor(b),
    // and so the values from ceil(a) to floor(b) + low.
    Some(
        op_intervals(op, v)
            .into_iter()
            .filter_map(|(a, b)| {
                let first = a.checked_add(low)? & m;
                let last = b & m;
                (first <= last).then_some((first, last | low))
            })
            .collect(),
    )
}

/// The negation of an operator: `!(x op v)` is `x (negate op) v`.
pub fn negate(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

/// A conjunction with at most one atom per argument; no atoms at all is `true`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Term(pub [Option<Atom>; 6]);

impl Term {
    /// A term with one atom (or `true` for `None`).
    fn single(arg: u8, atom: Option<Atom>) -> Term {
        let mut t = Term::default();
        if let Some(slot) = t.0.get_mut(usize::from(arg)) {
            *slot = atom;
        }
        t
    }

    /// Do these arguments satisfy every atom?
    pub fn holds(&self, args: &[u64; 6]) -> bool {
        self.0
            .iter()
            .zip(args)
            .all(|(a, x)| a.is_none_or(|a| a.holds(*x)))
    }

    /// Does this term imply `other` (is every value it admits admitted by `other`)?
    fn implies(&self, other: &Term) -> bool {
        self.0
            .iter()
            .zip(&other.0)
            .all(|(mine, theirs)| match (mine, theirs) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(m), Some(t)) => atom_implies(m, t),
            })
    }
}

/// A disjunction of terms; empty is `false`.
pub type Dnf = Vec<Term>;

/// Does any term hold?
pub fn dnf_holds(d: &Dnf, args: &[u64; 6]) -> bool {
    d.iter().any(|t| t.holds(args))
}

/// The result would need more than [`MAX_TERMS`] terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

/// Does every value admitted by `b` satisfy `a`? Conservative: `false` when unsure.
fn atom_implies(b: &Atom, a: &Atom) -> bool {
    if a == b {
        return true;
    }
    if let (
        Atom::Masked {
            mask: mb,
            value: vb,
        },
        Atom::Masked {
            mask: ma,
            value: va,
        },
    ) = (b, a)
    {
        return ma & !mb == 0 && vb & ma == *va;
    }
    if let Some(decided) = masked_against(b, a) {
        return decided == vec![Some(*b)];
    }
    match (b.intervals(), a.intervals()) {
        (Some(bs), Some(as_)) => bs
            .iter()
            .all(|(l, h)| as_.iter().any(|(al, ah)| al <= l && h <= ah)),
        _ => false,
    }
}

/// A masked equality `m` against an unmasked atom `other`, when the bounds of `m`'s values
/// decide their conjunction without expansion: `m` alone (it implies `other`), or
/// nothing (they contradict).
fn masked_against(m: &Atom, other: &Atom) -> Option<Vec<Option<Atom>>> {
    let Atom::Masked { mask, value } = *m else {
        return None;
    };
    let ivs = other.intervals()?;
    let (lo, hi) = (value, value | !mask);
    if ivs.iter().any(|(l, h)| *l <= lo && hi <= *h) {
        return Some(vec![Some(*m)]);
    }
    if ivs.iter().all(|(l, h)| hi < *l || *h < lo) {
        return Some(vec![]);
    }
    match *other {
        Atom::Cmp {
            op: CmpOp::Ne,
            value: v,
        } if v & mask != value => Some(vec![Some(*m)]),
        _ => None,
    }
}

/// Merge two masked equalities on one argument: their conjunction, or `None` when they
/// contradict.
fn merge_masked((m1, v1): (u64, u64), (m2, v2): (u64, u64)) -> Option<(u64, u64)> {
    ((v1 ^ v2) & m1 & m2 == 0).then_some((m1 | m2, v1 | v2))
}

/// A masked equality as an atom; `None` (no constraint) for an empty mask.
fn masked_atom((mask, value): (u64, u64)) -> Option<Atom> {
    (mask != 0).then_some(Atom::Masked { mask, value })
}

/// The aligned blocks `[p, p + 2^k - 1]` that cover `[lo, hi]`, as `(p, k)`.
fn blocks(lo: u64, hi: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    let mut l = lo;
    while l <= hi {
        let mut k = if l == 0 { 64 } else { l.trailing_zeros() };
        while k > 0 && (k == 64 || l.checked_add((1u64 << k) - 1).is_none_or(|e| e > hi)) {
            k -= 1;
        }
        out.push((l, k));
        let end = l + ((1u64 << k) - 1);
        match end.checked_add(1) {
            Some(next) if end < hi => l = next,
            _ => break,
        }
    }
    out
}

/// `x & m` lies in `[lo, hi]`, as masked equalities (bits outside `m` read as zero).
fn masked_range(m: u64, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    blocks(lo, hi)
        .into_iter()
        .filter_map(|(p, k)| {
            let high = if k >= 64 { 0 } else { !((1u64 << k) - 1) };
            // The block fixes the bits of `x & m` above `k` to `p`'s; bits outside `m` are 0.
            (p & high & !m == 0).then_some((m & high, p & high))
        })
        .collect()
}

/// The masked equalities whose OR is exactly `atom`.
fn to_masked(atom: &Atom) -> Vec<(u64, u64)> {
    match *atom {
        Atom::Masked { mask, value } => vec![(mask, value)],
        Atom::Cmp {
            op: CmpOp::Ne,
            value,
        } => (0..64).map(|b| (1u64 << b, !value & (1u64 << b))).collect(),
        Atom::Cmp { op, value } => op_intervals(op, value)
            .into_iter()
            .flat_map(|(l, h)| masked_range(u64::MAX, l, h))
            .collect(),
    }
}

/// Sorted and deduplicated, without the items `implies` says another item implies (of two
/// that imply each other, the first is kept).
fn drop_implied<T: Ord>(mut v: Vec<T>, implies: impl Fn(&T, &T) -> bool) -> Vec<T> {
    v.sort();
    v.dedup();
    let keep: Vec<bool> = v
        .iter()
        .enumerate()
        .map(|(i, a)| {
            !v.iter()
                .enumerate()
                .any(|(j, b)| i != j && implies(a, b) && (!implies(b, a) || j < i))
        })
        .collect();
    v.into_iter()
        .zip(keep)
        .filter_map(|(t, k)| k.then_some(t))
        .collect()
}

/// Drop alternatives implied by another; sorted, deduplicated.
fn absorb_atoms(alts: Vec<Option<Atom>>) -> Vec<Option<Atom>> {
    if alts.contains(&None) {
        return vec![None];
    }
    drop_implied(
        alts,
        |a, b| matches!((a, b), (Some(a), Some(b)) if atom_implies(a, b)),
    )
}

/// Sorted disjoint intervals as atoms (alternatives); `[]` is false, `[None]` is true.
fn intervals_to_atoms(ivs: &[(u64, u64)]) -> Vec<Option<Atom>> {
    match ivs {
        [] => vec![],
        [(0, u64::MAX)] => vec![None],
        [(0, a), (b, u64::MAX)] if a.checked_add(2) == Some(*b) => vec![Some(Atom::Cmp {
            op: CmpOp::Ne,
            value: a + 1,
        })],
        _ => ivs
            .iter()
            .flat_map(|&(l, h)| match (l, h) {
                (l, h) if l == h => vec![masked_atom((u64::MAX, l))],
                (0, h) => vec![Some(Atom::Cmp {
                    op: CmpOp::Le,
                    value: h,
                })],
                (l, u64::MAX) => vec![Some(Atom::Cmp {
                    op: CmpOp::Ge,
                    value: l,
                })],
                (l, h) => masked_range(u64::MAX, l, h)
                    .into_iter()
                    .map(masked_atom)
                    .collect(),
            })
            .collect(),
    }
}

/// Intersect two sets of sorted disjoint intervals.
fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(al, ah) in a {
        for &(bl, bh) in b {
            let (l, h) = (al.max(bl), ah.min(bh));
            if l <= h {
                out.push((l, h));
            }
        }
    }
    out.sort_unstable();
    out
}

/// The conjunction of two atoms on one argument, as alternatives (`[]`: contradiction).
fn merge_atoms(a: &Atom, b: &Atom) -> Vec<Option<Atom>> {
    if a == b {
        return vec![Some(*a)];
    }
    if let (Some(ia), Some(ib)) = (a.intervals(), b.intervals()) {
        return intervals_to_atoms(&intersect(&ia, &ib));
    }
    if let Some(decided) = masked_against(a, b).or_else(|| masked_against(b, a)) {
        return decided;
    }
    let mut out = Vec::new();
    for x in to_masked(a) {
        for y in to_masked(b) {
            if let Some(m) = merge_masked(x, y) {
                out.push(masked_atom(m));
            }
        }
    }
    absorb_atoms(out)
}

/// The conjunction of two terms, as alternatives.
fn term_and(a: &Term, b: &Term) -> Vec<Term> {
    let mut out = vec![Term::default()];
    for (i, (x, y)) in a.0.iter().zip(&b.0).enumerate() {
        let alts = match (x, y) {
            (None, other) | (other, None) => vec![*other],
            (Some(x), Some(y)) => merge_atoms(x, y),
        };
        out = out
            .iter()
            .flat_map(|t| {
                alts.iter().map(move |alt| {
                    let mut t = t.clone();
                    if let Some(slot) = t.0.get_mut(i) {
                        *slot = *alt;
                    }
                    t
                })
            })
            .collect();
    }
    out
}

/// Drop terms implied by another (keeping one of equals); sorted.
fn absorb(d: Dnf) -> Dnf {
    drop_implied(d, |t, u| t.implies(u))
}

/// `a AND b`. Work is bounded too: an intermediate result that stays above four times
/// [`MAX_TERMS`] after absorption is refused (a refusal, never an approximation).
pub fn and(a: &Dnf, b: &Dnf) -> Result<Dnf, TooMany> {
    let mut out = Vec::new();
    let mut limit = MAX_TERMS * 4;
    for x in a {
        for y in b {
            out.extend(term_and(x, y));
        }
        if out.len() > limit {
            out = absorb(out);
            if out.len() > MAX_TERMS * 4 {
                return Err(TooMany);
            }
            limit = limit.max(out.len() * 2);
        }
    }
    let out = absorb(out);
    if out.len() > MAX_TERMS {
        return Err(TooMany);
    }
    Ok(out)
}

/// `a OR b`.
pub fn or(a: &Dnf, b: &Dnf) -> Result<Dnf, TooMany> {
    let out = absorb(a.iter().chain(b).cloned().collect());
    if out.len() > MAX_TERMS {
        return Err(TooMany);
    }
    Ok(out)
}

/// `d` with every atom that `rewrite` selects written as masked equalities (exactly: the OR
/// of the aligned blocks of its values, or one bit each for `!=`), multiplied out. A result
/// above [`MAX_TERMS`] is refused.
pub fn masked_only(d: &Dnf, rewrite: impl Fn(&Atom) -> bool) -> Result<Dnf, TooMany> {
    let mut out = Vec::new();
    for t in d {
        let mut terms = vec![t.clone()];
        for (i, atom) in t.0.iter().enumerate() {
            let Some(atom) = atom.filter(|a| rewrite(a)) else {
                continue;
            };
            let alts = to_masked(&atom);
            let mut next = Vec::with_capacity(terms.len().saturating_mul(alts.len()));
            for u in &terms {
                for &alt in &alts {
                    let mut v = u.clone();
                    if let Some(slot) = v.0.get_mut(i) {
                        *slot = masked_atom(alt);
                    }
                    next.push(v);
                }
            }
            if next.len() > MAX_TERMS {
                return Err(TooMany);
            }
            terms = next;
        }
        out.extend(terms);
        if out.len() > MAX_TERMS {
            return Err(TooMany);
        }
    }
    Ok(out)
}

/// `true`.
pub fn truth() -> Dnf {
    vec![Term::default()]
}

/// One condition, exactly, as single-atom terms. A condition on an argument above 5 (which
/// the checker rejects) is `false` here, as is its negation, so it can only narrow.
pub fn condition(c: &ArgCond) -> Dnf {
    if c.arg > 5 {
        return Vec::new();
    }
    let alts: Vec<Option<Atom>> = match c.mask {
        None | Some(u64::MAX) => match (c.op, op_intervals(c.op, c.value).as_slice()) {
            (_, []) => vec![],
            (_, [(0, u64::MAX)]) => vec![None],
            (CmpOp::Eq, _) => vec![masked_atom((u64::MAX, c.value))],
            (op, _) => vec![Some(Atom::Cmp { op, value: c.value })],
        },
        Some(m) => match prefix_intervals(m, c.op, c.value) {
            Some(ivs) => intervals_to_atoms(&ivs),
            None => masked_condition(m, c.op, c.value),
        },
    };
    absorb_atoms(alts)
        .into_iter()
        .map(|a| Term::single(c.arg, a))
        .collect()
}

/// `x & m <op> v` as alternatives.
fn masked_condition(m: u64, op: CmpOp, v: u64) -> Vec<Option<Atom>> {
    match op {
        CmpOp::Eq if v & !m != 0 => vec![],
        CmpOp::Eq => vec![masked_atom((m, v))],
        CmpOp::Ne if v & !m != 0 => vec![None],
        CmpOp::Ne => (0..64)
            .map(|b| 1u64 << b)
            .filter(|bit| m & bit != 0)
            .map(|bit| masked_atom((bit, !v & bit)))
            .collect(),
        _ => op_intervals(op, v)
            .into_iter()
            .flat_map(|(l, h)| masked_range(m, l, h))
            .map(masked_atom)
            .collect(),
    }
}

/// All of `conds`, exactly.
pub fn all_of(conds: &[ArgCond]) -> Result<Dnf, TooMany> {
    conds
        .iter()
        .try_fold(truth(), |acc, c| and(&acc, &condition(c)))
}

/// Not all of `conds` (some condition fails), exactly.
pub fn not_all_of(conds: &[ArgCond]) -> Result<Dnf, TooMany> {
    conds.iter().try_fold(Vec::new(), |acc, c| {
        let neg = ArgCond {
            op: negate(c.op),
            ..c.clone()
        };
        or(&acc, &condition(&neg))
    })
}
