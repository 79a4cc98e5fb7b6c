//! Where things are: the workspace root, the target directory and the built module.

use std::path::PathBuf;

/// The workspace root (the parent of the xtask crate).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// The module as it is run and benchmarked: cargo's `dist` profile build (see the
/// workspace Cargo.toml), as cargo leaves it.
pub fn dist_module() -> PathBuf {
    target_dir().join("dist").join("librg.so")
}

/// The name of the conformance image the conformance tests start.
pub const CONFORMANCE_IMAGE: &str = "gears-rs-conformance";
/// Its tag.
pub const CONFORMANCE_TAG: &str = "latest";
