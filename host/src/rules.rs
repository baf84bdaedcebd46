//! Where rule packs come from: the built-in pack, files and directories.

use std::fs;
use std::path::{Path, PathBuf};

use sigil_engine::RuleSource;

use crate::error::Error;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The built-in rule pack: every `rules/cloud-compute/**/*.yml` of the repository,
/// embedded at build time, named `rules/...` and sorted by name.
pub fn builtin_rules() -> Vec<RuleSource> {
    BUILTIN_RULES
        .iter()
        .map(|(name, text)| RuleSource::new(*name, *text))
        .collect()
}

/// Reads rule files: each path is a file (read whatever its name) or a
/// directory (every `*.yml` / `*.yaml` below it, recursively). Files are
/// named by their path and, per directory argument, sorted, so that a pack
/// loads in the same order on every machine.
///
/// # Errors
///
/// [`Error::Read`] when a path cannot be read or a file is not UTF-8.
pub fn rule_sources<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<RuleSource>, Error> {
    let mut out = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let mut files = Vec::new();
        if path.is_dir() {
            walk(path, &mut files)?;
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        for file in files {
            let text = fs::read_to_string(&file).map_err(|source| Error::Read {
                path: file.clone(),
                source,
            })?;
            out.push(RuleSource::new(file.to_string_lossy(), text));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let read_err = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}
