//! The dynamic-plugin ABI: what a provider plugin built as a `cdylib` exports so that ragops
//! can load it with `[[plugins]] path = "..."` (the loader is [`dylib`], behind the feature
//! `dylib`).
//!
//! Rust has no stable ABI, so a plugin hands ragops Rust values (a `&mut Registry`, trait
//! objects) and is only sound when it was built by the **same rustc** against the **same
//! ragops-lib version** as the host. The declaration carries both, and the loader refuses any
//! mismatch before it calls anything else in the library. The declaration's layout is
//! `#[repr(C)]` and starts with [`ABI_VERSION`], so a loader can read the version of a plugin
//! built for another ABI without misreading the rest.
//!
//! A plugin declares itself with [`declare_plugin!`](crate::declare_plugin):
//!
//! ```
//! fn register(registry: &mut ragops_lib::Registry) {
//!     // registry.register_embedder("my-provider", std::sync::Arc::new(|settings| ...));
//!     let _ = registry;
//! }
//! ragops_lib::declare_plugin!(register);
//! ```

#[cfg(feature = "dylib")]
pub mod dylib;

use std::ffi::c_void;

use crate::provider::Registry;

/// Version of the declaration layout and of the registration contract (the provider traits'
/// methods included). Bumped whenever either changes; a plugin declaring another version is
/// refused. 2: `EmbeddingProvider::cheap_to_recompute`.
pub const ABI_VERSION: u32 = 2;
/// The ragops-lib version a plugin is built against (compiled into the plugin by
/// [`declare_plugin!`](crate::declare_plugin)).
pub const RAGOPS_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The compiler that built this ragops-lib (`rustc --version`).
pub const RUSTC_VERSION: &str = env!("RAGOPS_RUSTC_VERSION");
/// The symbol a plugin exports: `extern "C" fn() -> *const PluginDeclaration`.
pub const ENTRY_SYMBOL: &str = "ragops_plugin_declaration";
/// Bytes reserved for each version string in the declaration (NUL-padded).
pub const VERSION_BYTES: usize = 128;

/// Registration status: success.
pub const REGISTER_OK: i32 = 0;
/// Registration status: the plugin's `register` panicked (the panic was caught in the plugin).
pub const REGISTER_PANICKED: i32 = 1;

/// What a plugin's entry symbol returns a pointer to. Fixed-size string buffers keep the
/// layout free of pointers, so the loader can compare versions before trusting anything else.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDeclaration {
    /// Always first: [`ABI_VERSION`] of the ragops-lib the plugin was built with.
    pub abi_version: u32,
    /// [`RAGOPS_VERSION`], NUL-padded.
    pub ragops_version: [u8; VERSION_BYTES],
    /// [`RUSTC_VERSION`], NUL-padded.
    pub rustc_version: [u8; VERSION_BYTES],
    /// Registers the plugin's providers into the `*mut Registry` it is given; returns
    /// [`REGISTER_OK`] or [`REGISTER_PANICKED`]. Call only after the versions matched.
    pub register: unsafe extern "C" fn(registry: *mut c_void) -> i32,
}

impl PluginDeclaration {
    /// A declaration for this ragops-lib and compiler; `register` is the macro's wrapper.
    pub const fn new(register: unsafe extern "C" fn(registry: *mut c_void) -> i32) -> Self {
        PluginDeclaration {
            abi_version: ABI_VERSION,
            ragops_version: padded(RAGOPS_VERSION),
            rustc_version: padded(RUSTC_VERSION),
            register,
        }
    }

    /// The ragops-lib version the plugin declares.
    pub fn ragops_version(&self) -> String {
        unpadded(&self.ragops_version)
    }

    /// The compiler the plugin declares.
    pub fn rustc_version(&self) -> String {
        unpadded(&self.rustc_version)
    }

    /// Whether this host may register the plugin: the same ragops-lib version and compiler
    /// (the ABI version is checked before the declaration is read at all).
    ///
    /// # Errors
    /// A message naming both sides of the first mismatch.
    pub fn check_compatible(&self) -> Result<(), String> {
        if self.abi_version != ABI_VERSION {
            return Err(abi_mismatch(self.abi_version));
        }
        let theirs = self.ragops_version();
        if theirs != RAGOPS_VERSION {
            return Err(format!(
                "the plugin was built against ragops-lib {theirs}, this ragops is {RAGOPS_VERSION}: rebuild the plugin against ragops-lib {RAGOPS_VERSION}"
            ));
        }
        let theirs = self.rustc_version();
        if theirs != RUSTC_VERSION {
            return Err(format!(
                "the plugin was built by `{theirs}`, this ragops by `{RUSTC_VERSION}`: Rust has no stable ABI, rebuild the plugin with the same compiler"
            ));
        }
        Ok(())
    }
}

/// The message for a plugin declaring another ABI version.
pub fn abi_mismatch(theirs: u32) -> String {
    format!(
        "the plugin declares plugin ABI version {theirs}, this ragops (ragops-lib {RAGOPS_VERSION}) speaks version {ABI_VERSION}: rebuild the plugin against ragops-lib {RAGOPS_VERSION}"
    )
}

/// Runs a plugin's `register` on the registry behind `registry`, catching a panic so that it
/// never unwinds through `extern "C"`. Called by the wrapper [`declare_plugin!`](crate::declare_plugin)
/// generates; `registry` must come from the loader (a live, exclusive `&mut Registry`).
#[doc(hidden)]
pub fn run_register(registry: &mut Registry, register: fn(&mut Registry)) -> i32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| register(registry))) {
        Ok(()) => REGISTER_OK,
        Err(_) => REGISTER_PANICKED,
    }
}

const fn padded(s: &str) -> [u8; VERSION_BYTES] {
    let bytes = s.as_bytes();
    let mut out = [0u8; VERSION_BYTES];
    let mut i = 0;
    // Keep the last byte a NUL: a longer string is cut (and then compares unequal).
    while i < bytes.len() && i < VERSION_BYTES - 1 {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

fn unpadded(buf: &[u8; VERSION_BYTES]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Declares a dynamic plugin: exports the entry symbol
/// ([`ENTRY_SYMBOL`](crate::plugin::ENTRY_SYMBOL)) returning a
/// [`PluginDeclaration`](crate::plugin::PluginDeclaration) for this ragops-lib and compiler,
/// whose `register` calls `$register: fn(&mut Registry)`. Use it once, in a `cdylib` crate.
#[macro_export]
macro_rules! declare_plugin {
    ($register:path) => {
        #[doc(hidden)]
        #[allow(unsafe_code)]
        unsafe extern "C" fn __ragops_plugin_register(registry: *mut ::std::ffi::c_void) -> i32 {
            // SAFETY: the loader passes a live, exclusive `&mut Registry` of the same
            // ragops-lib version and compiler (checked before this is called).
            let registry = unsafe { &mut *(registry as *mut $crate::provider::Registry) };
            $crate::plugin::run_register(registry, $register)
        }

        #[doc(hidden)]
        static __RAGOPS_PLUGIN_DECLARATION: $crate::plugin::PluginDeclaration =
            $crate::plugin::PluginDeclaration::new(__ragops_plugin_register);

        /// The plugin's entry symbol.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn ragops_plugin_declaration() -> *const $crate::plugin::PluginDeclaration {
            &__RAGOPS_PLUGIN_DECLARATION
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn nothing(_: *mut c_void) -> i32 {
        REGISTER_OK
    }

    #[test]
    fn a_fresh_declaration_is_compatible() {
        let d = PluginDeclaration::new(nothing);
        assert_eq!(d.ragops_version(), RAGOPS_VERSION);
        assert!(d.rustc_version().starts_with("rustc "), "{}", d.rustc_version());
        d.check_compatible().unwrap();
    }

    #[test]
    fn mismatches_name_both_sides() {
        let mut d = PluginDeclaration::new(nothing);
        d.ragops_version = padded("0.0.1");
        let e = d.check_compatible().unwrap_err();
        assert!(e.contains("ragops-lib 0.0.1") && e.contains(RAGOPS_VERSION), "{e}");
        let mut d = PluginDeclaration::new(nothing);
        d.rustc_version = padded("rustc 1.70.0 (90c541806 2023-05-31)");
        let e = d.check_compatible().unwrap_err();
        assert!(e.contains("rustc 1.70.0") && e.contains(RUSTC_VERSION), "{e}");
        let mut d = PluginDeclaration::new(nothing);
        d.abi_version = 7;
        let e = d.check_compatible().unwrap_err();
        assert!(e.contains("version 7") && e.contains(&format!("version {ABI_VERSION}")), "{e}");
    }

    #[test]
    fn register_panics_are_caught() {
        let mut r = Registry::new();
        assert_eq!(run_register(&mut r, |_| panic!("boom")), REGISTER_PANICKED);
        assert_eq!(run_register(&mut r, |_| ()), REGISTER_OK);
    }
}
