//! Compiled plugins kept on disk, so that a second `sigil run` starts in
//! milliseconds instead of compiling the component again.
//!
//! Compiling the built-in component with Cranelift takes about half a
//! second; loading the compiled artifact takes a few milliseconds. The
//! artifact is native code, so loading it is `unsafe` in wasmtime's API:
//! wasmtime checks that it was made by the same wasmtime version with the
//! same settings, but not that its bytes are honest. This module is the
//! one place that calls it, and it only loads an entry that:
//!
//! - is named after the SHA-256 of the component and wasmtime's
//!   compatibility hash of the engine settings (another component, another
//!   version, other settings: another name, never this entry);
//! - starts with the SHA-256 of the rest of the file, which matches (a
//!   truncated, corrupted or edited file is recompiled, and replaced);
//! - sits in a directory and a file owned by the user running sigil and
//!   writable by nobody else (the rule OpenSSH applies to `~/.ssh`): code
//!   in it runs with the user's rights, so only the user may have put it
//!   there. Otherwise the cache is not used at all.
//!
//! Someone who can write files as the user can also replace the `sigil`
//! binary itself; against anyone else the entry is as trustworthy as the
//! binary that wrote it.
//!
//! Entries are written to a temporary file and renamed into place, so
//! concurrent runs never read a half-written entry.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use wasmtime::component::Component;

/// The length of the digest that starts an entry.
const DIGEST: usize = 32;

/// What happened to the cache on one load, for tests and the curious.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// The entry was there and sound: loaded, nothing compiled.
    Hit,
    /// Compiled, and the entry written.
    Stored,
    /// An entry was there but failed a check (digest, wasmtime's own
    /// compatibility check): compiled again and replaced.
    Replaced,
    /// The cache could not be used (permissions, I/O): compiled only.
    Unused,
}

/// The default cache directory: `$SIGIL_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/sigil`, else `$HOME/.cache/sigil`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SIGIL_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("sigil"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("sigil"))
}

/// The component compiled for `engine`: from the cache in `dir` when a
/// sound entry is there, otherwise compiled (and stored).
///
/// # Errors
///
/// Only a compile error of the component itself; every cache problem
/// falls back to compiling.
pub(crate) fn load(
    engine: &wasmtime::Engine,
    wasm: &[u8],
    dir: &Path,
) -> wasmtime::Result<(Component, CacheOutcome)> {
    let Some(path) = entry_path(engine, wasm, dir) else {
        return Component::new(engine, wasm).map(|c| (c, CacheOutcome::Unused));
    };
    let mut replaced = false;
    if let Some(bytes) = read_trusted(&path) {
        match verified(&bytes) {
            Some(artifact) => {
                // SAFETY: `artifact` was written by this program for this
                // component and these engine settings (the file's name), is
                // unchanged since (the digest), and only the current user
                // could have written it (`read_trusted`); wasmtime checks
                // its version and settings again. See the module docs.
                #[allow(unsafe_code)]
                match unsafe { Component::deserialize(engine, artifact) } {
                    Ok(c) => return Ok((c, CacheOutcome::Hit)),
                    Err(_) => replaced = true,
                }
            }
            None => replaced = true,
        }
    }
    let component = Component::new(engine, wasm)?;
    let stored = component
        .serialize()
        .ok()
        .is_some_and(|artifact| store(&path, &artifact).is_ok());
    let outcome = match (stored, replaced) {
        (false, _) => CacheOutcome::Unused,
        (true, true) => CacheOutcome::Replaced,
        (true, false) => CacheOutcome::Stored,
    };
    Ok((component, outcome))
}

/// `dir/<component digest>-<settings hash>.cwasm`, after making sure `dir`
/// exists and only its owner, the current user, can write it.
fn entry_path(engine: &wasmtime::Engine, wasm: &[u8], dir: &Path) -> Option<PathBuf> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).ok()?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    if !owned_by_us_alone(&std::fs::metadata(dir).ok()?) {
        return None;
    }
    let component: String = sha2::Sha256::digest(wasm)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    // Deterministic (fixed keys), so the same settings give the same name
    // in every run of this build.
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    Some(dir.join(format!("{component}-{:016x}.cwasm", h.finish())))
}

/// The current user, as the owner of this process's `/proc` entry.
fn current_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

fn owned_by_us_alone(m: &std::fs::Metadata) -> bool {
    current_uid() == Some(m.uid()) && m.mode() & 0o022 == 0
}

/// The entry's bytes, if the file is the current user's alone.
fn read_trusted(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    if !owned_by_us_alone(&file.metadata().ok()?) {
        return None;
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes).ok()?;
    Some(bytes)
}

/// The artifact, if the digest that starts the entry is its digest.
fn verified(entry: &[u8]) -> Option<&[u8]> {
    let (digest, artifact) = entry.split_at_checked(DIGEST)?;
    (sha2::Sha256::digest(artifact).as_slice() == digest).then_some(artifact)
}

fn store(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&sha2::Sha256::digest(artifact))?;
    file.write_all(artifact)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
