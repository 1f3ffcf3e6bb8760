//! Allow alternatives that are one unmasked comparison on the same argument, merged into
//! one set of values and tested as a search tree, the way the dispatch searches syscall
//! numbers: `personality(0) or (8) or (0x20000) ...` loads the high word once, tests it
//! once, and binary-searches the low word, instead of testing each alternative in turn.
//!
//! The set is a union of 64-bit intervals (an `==` is a one-value interval, `!=` two
//! intervals, an ordering one), which is exact: the alternatives are ORed, and every one
//! of them returns ALLOW. It is cut by the high word into pieces: high words where every
//! low word is in, where none is, and the few where some are (the ends of the intervals).

use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::ArgCond;
use std::collections::BTreeMap;

/// Inclusive 64-bit intervals, sorted and disjoint.
pub type Intervals = Vec<(u64, u64)>;

/// What a range of high words admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lows {
    /// Every low word.
    All,
    /// No low word.
    Nothing,
    /// These inclusive ranges of low words (sorted, disjoint, not everything).
    Some(Vec<(u32, u32)>),
}

/// A range of high words starting at `start` (up to the next piece's start) and what it
/// admits.
pub type Piece = (u32, Lows);

/// The values `x <op> v`.
fn op_intervals(op: CmpOp, v: u64) -> Intervals {
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

/// Sort and merge overlapping or adjacent intervals.
fn normalise(mut v: Intervals) -> Intervals {
    v.sort_unstable();
    let mut out: Intervals = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1).is_none_or(|n| a <= n) => {
                last.1 = last.1.max(b);
            }
            _ => out.push((a, b)),
        }
    }
    out
}

/// The single unmasked comparison of an alternative, if that is all it is.
fn single(alt: &[ArgCond]) -> Option<&ArgCond> {
    match alt {
        [c] if c.mask.is_none_or(|m| m == u64::MAX) && c.arg <= 5 => Some(c),
        _ => None,
    }
}

/// Split allow alternatives into merged interval sets per argument (for arguments with at
/// least two single-comparison alternatives) and the alternatives left as they are.
pub fn split(allow: &[Vec<ArgCond>]) -> (BTreeMap<u8, Intervals>, Vec<&Vec<ArgCond>>) {
    let mut count: BTreeMap<u8, usize> = BTreeMap::new();
    for c in allow.iter().filter_map(|a| single(a)) {
        *count.entry(c.arg).or_default() += 1;
    }
    let mut groups: BTreeMap<u8, Intervals> = BTreeMap::new();
    let mut rest = Vec::new();
    for alt in allow {
        match single(alt) {
            Some(c) if count.get(&c.arg).is_some_and(|n| *n >= 2) => {
                groups
                    .entry(c.arg)
                    .or_default()
                    .extend(op_intervals(c.op, c.value));
            }
            _ => rest.push(alt),
        }
    }
    let groups = groups
        .into_iter()
        .map(|(arg, v)| (arg, normalise(v)))
        .collect();
    (groups, rest)
}

/// The high-word pieces of an interval set, covering every high word from 0, adjacent
/// pieces never both `All` or both `Nothing`.
pub fn pieces(ivs: &[(u64, u64)]) -> Vec<Piece> {
    let mut partial: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
    let mut full: Vec<(u32, u32)> = Vec::new();
    for &(a, b) in ivs {
        let (ha, hb) = ((a >> 32) as u32, (b >> 32) as u32);
        let (la, lb) = (a as u32, b as u32);
        if ha == hb {
            partial.entry(ha).or_default().push((la, lb));
            continue;
        }
        partial.entry(ha).or_default().push((la, u32::MAX));
        if hb > ha + 1 {
            full.push((ha + 1, hb - 1));
        }
        partial.entry(hb).or_default().push((0, lb));
    }
    // Every high word's state, as sorted starts.
    let mut marks: BTreeMap<u32, Lows> = BTreeMap::new();
    for (s, e) in full {
        marks.insert(s, Lows::All);
        if let Some(n) = e.checked_add(1) {
            marks.entry(n).or_insert(Lows::Nothing);
        }
    }
    for (h, lows) in partial {
        let lows = merge_lows(lows);
        let state = if lows == [(0, u32::MAX)] {
            Lows::All
        } else {
            Lows::Some(lows)
        };
        marks.insert(h, state);
        if let Some(n) = h.checked_add(1) {
            marks.entry(n).or_insert(Lows::Nothing);
        }
    }
    marks.entry(0).or_insert(Lows::Nothing);
    let mut out: Vec<Piece> = Vec::new();
    for (start, state) in marks {
        match out.last() {
            Some((_, prev)) if *prev == state && !matches!(state, Lows::Some(_)) => {}
            _ => out.push((start, state)),
        }
    }
    out
}

/// Sort and merge 32-bit ranges.
fn merge_lows(v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    let wide: Intervals = v.into_iter().map(|(a, b)| (a.into(), b.into())).collect();
    normalise(wide)
        .into_iter()
        .map(|(a, b)| (a as u32, b as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(arg: u8, value: u64) -> Vec<ArgCond> {
        vec![ArgCond {
            arg,
            mask: None,
            op: CmpOp::Eq,
            value,
        }]
    }

    #[test]
    fn equalities_on_one_argument_merge() {
        let allow = vec![eq(0, 8), eq(0, 0), eq(1, 3), eq(0, 0xffff_ffff)];
        let (groups, rest) = split(&allow);
        assert_eq!(groups[&0], vec![(0, 0), (8, 8), (0xffff_ffff, 0xffff_ffff)]);
        assert_eq!(rest, vec![&allow[2]]);
        assert_eq!(
            pieces(&groups[&0]),
            vec![
                (
                    0,
                    Lows::Some(vec![(0, 0), (8, 8), (0xffff_ffff, 0xffff_ffff)])
                ),
                (1, Lows::Nothing)
            ]
        );
    }

    #[test]
    fn ranges_across_high_words_cut_into_pieces() {
        let ivs = normalise(vec![(0, 37), (39, 39), (41, u64::MAX)]);
        assert_eq!(
            pieces(&ivs),
            vec![
                (0, Lows::Some(vec![(0, 37), (39, 39), (41, u32::MAX)])),
                (1, Lows::All)
            ]
        );
        let ivs = vec![(5 << 32 | 7, 9 << 32)];
        assert_eq!(
            pieces(&ivs),
            vec![
                (0, Lows::Nothing),
                (5, Lows::Some(vec![(7, u32::MAX)])),
                (6, Lows::All),
                (9, Lows::Some(vec![(0, 0)])),
                (10, Lows::Nothing)
            ]
        );
    }
}
