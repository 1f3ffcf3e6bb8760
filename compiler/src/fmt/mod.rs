//! The canonical printer.
