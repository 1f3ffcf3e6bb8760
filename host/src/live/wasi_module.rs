//! The WASI layer's probe program: steps for the probe module (`wasi_probe.wat`), encoded
//! into its memory, and the module assembled with the `wat` crate.

const WAT: &str = include_str!("wasi_probe.wat");

/// Where the program starts in the module's memory.
const BASE: usize = 65536;
/// Where the results go, and how many fit below [`BASE`].
const RESULTS: usize = 8192;
const MAX_STEPS: usize = BASE - RESULTS;

/// A step's operation (see `wasi_probe.wat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Mkdir = 1,
    Create = 2,
    Read = 3,
    ReadDir = 4,
    Sockets = 5,
    Append = 6,
    AppendNew = 7,
    Held = 8,
}

/// The result byte the module writes when no preopen has the step's name.
pub const NO_PREOPEN: u8 = 255;

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    name: String,
    path: String,
}

/// The steps to run, in order.
#[derive(Debug, Default)]
pub struct Program {
    steps: Vec<Step>,
}

impl Program {
    /// Add a step on `path` inside the preopen named `name`; returns its index.
    pub fn push(&mut self, op: Op, name: &str, path: &str) -> usize {
        self.steps.push(Step {
            op,
            name: name.to_string(),
            path: path.to_string(),
        });
        self.steps.len() - 1
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// The module, assembled.
    pub fn module(&self) -> Result<Vec<u8>, String> {
        if self.steps.len() > MAX_STEPS {
            return Err(format!("more than {MAX_STEPS} probe steps"));
        }
        let data = self.data()?;
        let pages = (BASE + data.len()).div_ceil(65536) + 1;
        let text = WAT
            .replace("{{PAGES}}", &pages.to_string())
            .replace("{{PROGRAM}}", &escape(&data));
        wat::parse_str(&text).map_err(|e| format!("the probe module does not assemble: {e}"))
    }

    /// The header, the records, then the strings.
    fn data(&self) -> Result<Vec<u8>, String> {
        let count = |n: usize| u32::try_from(n).map_err(|_| "too many steps".to_string());
        let mut head = count(self.steps.len())?.to_le_bytes().to_vec();
        let mut strings: Vec<u8> = Vec::new();
        let strings_at = BASE + 4 + 20 * self.steps.len();
        let mut place = |s: &str| -> Result<[u32; 2], String> {
            let off = count(strings_at + strings.len())?;
            strings.extend_from_slice(s.as_bytes());
            Ok([off, count(s.len())?])
        };
        for s in &self.steps {
            let [noff, nlen] = place(&s.name)?;
            let [poff, plen] = place(&s.path)?;
            for v in [s.op as u32, noff, nlen, poff, plen] {
                head.extend_from_slice(&v.to_le_bytes());
            }
        }
        head.extend_from_slice(&strings);
        Ok(head)
    }
}

/// Bytes as a WAT string literal's contents.
fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_assembles() {
        let mut p = Program::default();
        assert_eq!(p.push(Op::Read, "/data", "a.txt"), 0);
        assert_eq!(p.push(Op::Sockets, "", ""), 1);
        assert_eq!(p.len(), 2);
        let data = p.data().unwrap_or_default();
        assert_eq!(data.get(..4), Some(&2u32.to_le_bytes()[..]));
        assert!(p.module().is_ok_and(|m| m.starts_with(b"\0asm")));
    }
}
