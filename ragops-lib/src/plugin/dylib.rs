//! Loads provider plugins from dynamic libraries with `libloading`.
//!
//! Order of checks, each with its own clear error: the file exists; it is a loadable library;
//! it exports [`ENTRY_SYMBOL`]; its declaration's ABI version (read alone, first) matches; its
//! ragops-lib version and compiler match. Only then is `register` called. A loaded library is
//! never unloaded: the providers it registers hold its code and vtables, and may live as long
//! as the process.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libloading::Library;

use super::{ENTRY_SYMBOL, PluginDeclaration, REGISTER_OK, abi_mismatch};
use crate::error::ConfigError;
use crate::provider::Registry;

/// Libraries loaded so far; kept for the life of the process.
static LOADED: Mutex<Vec<(PathBuf, Library)>> = Mutex::new(Vec::new());

/// What a loaded plugin added.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadedPlugin {
    /// The library file.
    pub path: PathBuf,
    /// Embedding providers it registered.
    pub embedders: Vec<String>,
    /// Language models it registered.
    pub llms: Vec<String>,
}

/// Loads the plugin at `path` and lets it register its providers into `registry`. Loading the
/// same file twice registers it again without reloading it.
///
/// # Errors
/// [`ConfigError::Plugin`] naming the file: missing, not a loadable library, no entry symbol,
/// another ABI version, another ragops-lib version or compiler, or a panic while registering.
pub fn load(path: &Path, registry: &mut Registry) -> Result<LoadedPlugin, ConfigError> {
    let fail = |message: String| ConfigError::Plugin { path: path.to_path_buf(), message };
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let canonical = path.canonicalize().map_err(|e| fail(format!("cannot read it: {e}")))?;
    let mut loaded = LOADED.lock().map_err(|_| fail("the plugin table is poisoned by an earlier panic".into()))?;
    let index = match loaded.iter().position(|(p, _)| p == &canonical) {
        Some(i) => i,
        None => {
            // SAFETY: loading a library runs its initialisers; the user named this file as a
            // ragops plugin in trusted configuration (SPEC contract 6).
            let library = unsafe { Library::new(&canonical) }
                .map_err(|e| fail(format!("not a loadable dynamic library ({e})")))?;
            loaded.push((canonical.clone(), library));
            loaded.len() - 1
        }
    };
    let library = &loaded[index].1;
    // SAFETY: the symbol's type is the documented entry signature; a library exporting this
    // name with another type is not a ragops plugin, and the ABI version read next guards the
    // layout of what it points to.
    let entry = unsafe { library.get::<unsafe extern "C" fn() -> *const PluginDeclaration>(ENTRY_SYMBOL.as_bytes()) }
        .map_err(|_| fail(format!("the library has no `{ENTRY_SYMBOL}` symbol: it is not a ragops plugin (declare it with `ragops_lib::declare_plugin!`)")))?;
    // SAFETY: calling the entry function has no preconditions.
    let declaration = unsafe { entry() };
    if declaration.is_null() {
        return Err(fail(format!("`{ENTRY_SYMBOL}` returned a null declaration")));
    }
    // SAFETY: every ABI version starts the declaration with a `u32` version (repr(C));
    // nothing else is read until it matches.
    let abi_version = unsafe { std::ptr::read(declaration.cast::<u32>()) };
    if abi_version != super::ABI_VERSION {
        return Err(fail(abi_mismatch(abi_version)));
    }
    // SAFETY: same ABI version, so the layout is `PluginDeclaration`; it is a static of the
    // library, which stays loaded.
    let declaration = unsafe { &*declaration };
    declaration.check_compatible().map_err(fail)?;
    let before_e = registry.embedder_names();
    let before_l = registry.llm_names();
    // SAFETY: versions and compiler match, so `Registry` has the same layout on both sides;
    // the pointer is a live, exclusive borrow for the duration of the call.
    let status = unsafe { (declaration.register)((registry as *mut Registry).cast()) };
    if status != REGISTER_OK {
        return Err(fail("the plugin panicked while registering its providers".into()));
    }
    let added = |before: &[String], after: Vec<String>| after.into_iter().filter(|n| !before.contains(n)).collect();
    Ok(LoadedPlugin {
        path: canonical,
        embedders: added(&before_e, registry.embedder_names()),
        llms: added(&before_l, registry.llm_names()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_and_non_library_are_clear_errors() {
        let mut r = Registry::new();
        let err = load(Path::new("/nonexistent/libplugin.so"), &mut r).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/libplugin.so") && err.contains("no such file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libfake.so");
        std::fs::write(&fake, "this is not a library").unwrap();
        let err = load(&fake, &mut r).unwrap_err().to_string();
        assert!(err.contains("libfake.so") && err.contains("not a loadable dynamic library"), "{err}");
    }
}
