//! sigil-component: the sigil engine exported as a WebAssembly component.
//!
//! This crate is glue only: it implements the WIT world `sigil:engine/plugin`
//! (see `wit/` at the repository root) by forwarding every call to
//! [`sigil_engine::Engine`] and mapping each WIT type one-to-one onto the
//! engine type of the same name.
//!
//! Build it with `scripts/build-component`, which runs
//!
//! ```text
//! cargo build -p sigil-component --target wasm32-unknown-unknown --profile guest
//! wasm-tools component new target/wasm32-unknown-unknown/guest/sigil_component.wasm -o target/sigil.wasm
//! ```
//!
//! # Guarantees
//!
//! The component imports nothing: no WASI, no clock, no randomness, no
//! host function. Whatever rules or events it is given, it can only compute
//! and return values; a host bounds its CPU time (a deadline or fuel) and memory.
//!
//! # Panics
//!
//! The guest profile uses `panic = "abort"`: a panic in the engine becomes a
//! trap, which the host turns into a per-event error.
//!
//! # Non-goals
//!
//! No logic lives here. Natively the crate compiles to nothing so that
//! `cargo check --workspace` stays cheap.
#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod glue;
