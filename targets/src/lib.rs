//! Targets: one module per enforcement mechanism behind one trait.
