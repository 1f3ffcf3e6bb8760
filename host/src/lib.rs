//! Everything policyc does to the running kernel and to real runtimes, and the only crate
//! with `unsafe` code: the system calls ([`sys`], installing seccomp filters among them),
//! applying a Landlock ruleset ([`landlock`]), `apparmor_parser` and the kernel's AppArmor
//! state ([`apparmor`]), OCI bundles under runc ([`runc`]), container policies under
//! `policyc exec` ([`container`]), the sandbox `policyc exec` sets
//! up ([`sandbox`]), running WebAssembly modules under wasmtime-wasi ([`wasm`]), and the
//! live engine that enforces a policy's every layer for real and reports what happened
//! ([`live`]).
//!
//! The compiler, the targets and the verifier stay pure: they emit and read bytes. This
//! crate loads those bytes into the kernel, runc and wasmtime.

pub mod apparmor;
pub mod container;
pub mod egress;
pub mod landlock;
pub mod live;
pub mod runc;
pub mod sandbox;
pub mod sys;
pub mod wasm;
