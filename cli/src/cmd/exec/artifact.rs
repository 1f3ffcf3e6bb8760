//! One artifact of one target, emitted for the policy `policyc exec` runs.

use super::exit::fail;
use crate::output::print_diagnostics;
use policyc_compiler::ir::Policy;
use policyc_compiler::{Diagnostics, SourceMap};
use policyc_targets::{Artifacts, EmitContext, Target};

/// Emit `policy` for `target` and take the artifact named `file`; when the target cannot
/// enforce the policy, print its diagnostics.
pub fn artifact(
    policy: &Policy,
    ctx: &EmitContext,
    target: &dyn Target,
    file: &str,
    sources: &SourceMap,
) -> Result<Vec<u8>, u8> {
    let mut all = artifacts(policy, ctx, target, sources)?;
    take(&mut all, target, file)
}

/// Every artifact `target` emits for `policy`.
pub fn artifacts(
    policy: &Policy,
    ctx: &EmitContext,
    target: &dyn Target,
    sources: &SourceMap,
) -> Result<Artifacts, u8> {
    let name = target.name();
    let emitted = target.emit(policy, ctx).map_err(|diags| {
        let mut diags = Diagnostics(diags);
        diags.sort();
        print_diagnostics(&diags, sources, crate::output::error_format());
        fail(format!("the {name} target cannot enforce this policy"))
    })?;
    Ok(emitted.artifacts)
}

/// The artifact named `file`, taken out of `all`.
pub fn take(all: &mut Artifacts, target: &dyn Target, file: &str) -> Result<Vec<u8>, u8> {
    let name = target.name();
    all.remove(file)
        .ok_or_else(|| fail(format!("the {name} target emitted no `{file}`")))
}
