//! Test fixture: a library that exports ragops' plugin entry symbol but declares a plugin ABI
//! version no ragops speaks (as a plugin built for a future ragops would). The loader must read
//! the version, refuse the plugin with a clear error and call nothing else. It does not depend
//! on ragops-lib: its declaration is written by hand, as another ABI would lay it out.
#![allow(unsafe_code)] // `no_mangle` is the only way to export the entry symbol.

/// A declaration of "ABI version 999": the version first, then whatever that ABI defines.
#[repr(C)]
#[derive(Debug)]
pub struct FutureDeclaration {
    /// The plugin ABI version.
    pub abi_version: u32,
    /// Some field a future ABI might have.
    pub flags: u64,
}

/// The ABI version this fixture declares.
pub const WRONG_ABI_VERSION: u32 = 999;

static DECLARATION: FutureDeclaration = FutureDeclaration { abi_version: WRONG_ABI_VERSION, flags: u64::MAX };

/// The entry symbol ragops looks for.
#[unsafe(no_mangle)]
pub extern "C" fn ragops_plugin_declaration() -> *const FutureDeclaration {
    &DECLARATION
}
