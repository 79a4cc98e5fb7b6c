//! `cargo xtask image`: the conformance image, assembled `FROM scratch` from local files.
//!
//! No image can be pulled on these machines, so the image holds exactly what the
//! server needs: redis-server, the module, every shared library that `ldd` reports for
//! them and for Python's extension modules, `/usr/lib/python3.11`, and Debian's
//! cloudpickle (registrations pickle their callbacks with it).

use crate::paths::{target_dir, CONFORMANCE_IMAGE, CONFORMANCE_TAG};
use crate::prerequisites::{ensure_docker, ensure_packages, BUILD_PACKAGES};
use crate::process::{output, run};
use crate::run::build_dist_module;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const PYTHON_LIB: &str = "/usr/lib/python3.11";
const LIBPYTHON: &str = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0";
/// Debian's cloudpickle (package python3-cloudpickle), which registrations need.
const CLOUDPICKLE: &str = "/usr/lib/python3/dist-packages/cloudpickle";

/// Builds the module and the image; returns the image reference.
pub fn build_image() -> Result<String> {
    ensure_packages(BUILD_PACKAGES)?;
    ensure_docker()?;
    let module = build_dist_module()?;

    let context_dir = target_dir().join("conformance-image");
    if context_dir.exists() {
        std::fs::remove_dir_all(&context_dir).context("clearing the old image context")?;
    }
    let rootfs = context_dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).context("creating the image rootfs")?;

    let redis_server =
        std::fs::canonicalize("/usr/bin/redis-server").context("redis-server is not installed")?;
    // Copy the file under the name redis-server: the Debian binary picks its role
    // (server or rdb checker) from the name it was started as.
    copy_into(&rootfs, &redis_server, Path::new("/usr/bin/redis-server"))?;
    copy_into(&rootfs, &module, Path::new("/rg/librg.so"))?;

    let mut binaries = vec![redis_server, module];
    if Path::new(LIBPYTHON).exists() {
        binaries.push(PathBuf::from(LIBPYTHON));
    }
    let dynload = Path::new(PYTHON_LIB).join("lib-dynload");
    for entry in std::fs::read_dir(&dynload).context("reading Python's lib-dynload")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "so") {
            binaries.push(path);
        }
    }
    let mut libraries = BTreeSet::new();
    for binary in &binaries {
        libraries.extend(shared_libraries(binary)?);
    }
    for library in &libraries {
        copy_into(&rootfs, library, &usr_merged(library))?;
    }
    copy_tree(
        Path::new(PYTHON_LIB),
        &rootfs.join(PYTHON_LIB.trim_start_matches('/')),
    )?;
    copy_tree(
        Path::new(CLOUDPICKLE),
        &rootfs.join(CLOUDPICKLE.trim_start_matches('/')),
    )?;
    for dir in ["tmp", "data", "usr/lib64"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    // Debian merges /lib into /usr/lib; the loader and ldd still name /lib paths.
    std::os::unix::fs::symlink("usr/lib", rootfs.join("lib"))?;
    std::os::unix::fs::symlink("usr/lib64", rootfs.join("lib64"))?;

    std::fs::write(
        context_dir.join("Dockerfile"),
        "FROM scratch\n\
         COPY rootfs/ /\n\
         ENV LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu\n\
         WORKDIR /data\n\
         ENTRYPOINT [\"/usr/bin/redis-server\"]\n",
    )?;
    let reference = format!("{CONFORMANCE_IMAGE}:{CONFORMANCE_TAG}");
    run(Command::new("docker")
        .args(["build", "--quiet", "-t", &reference])
        .arg(&context_dir)
        .env("DOCKER_BUILDKIT", "0"))?;
    println!(
        "built image {reference} ({} shared libraries)",
        libraries.len()
    );
    Ok(reference)
}

/// The shared libraries `ldd` resolves for `binary`, the dynamic loader included.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let result = output(Command::new("ldd").arg(binary))?;
    if !result.status.success() {
        bail!("ldd {} failed", binary.display());
    }
    let text = String::from_utf8_lossy(&result.stdout);
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("not found") {
            bail!("{}: a library is missing: {line}", binary.display());
        }
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vdso has no path.
        let path = match line.split_once("=>") {
            Some((_, resolved)) => resolved.trim(),
            None => line,
        };
        let path = path.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            found.push(PathBuf::from(path));
        }
    }
    Ok(found)
}

/// `/lib/x/y` → `/usr/lib/x/y`, `/lib64/z` → `/usr/lib64/z`.
fn usr_merged(path: &Path) -> PathBuf {
    for prefix in ["/lib64/", "/lib/"] {
        if let Ok(rest) = path.strip_prefix(prefix) {
            return Path::new("/usr").join(prefix.trim_matches('/')).join(rest);
        }
    }
    path.to_path_buf()
}

/// Copies the file `source` (following symlinks) to `rootfs/<destination>`.
fn copy_into(rootfs: &Path, source: &Path, destination: &Path) -> Result<()> {
    let target = rootfs.join(destination.strip_prefix("/").unwrap_or(destination));
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(source, &target)
        .with_context(|| format!("copying {} into the image", source.display()))?;
    Ok(())
}

/// Copies a directory tree, following symlinks, skipping bytecode caches.
fn copy_tree(source: &Path, target: &Path) -> Result<()> {
    std::fs::create_dir_all(target)?;
    for entry in
        std::fs::read_dir(source).with_context(|| format!("reading {}", source.display()))?
    {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let destination = target.join(&name);
        if path.is_dir() {
            copy_tree(&path, &destination)?;
        } else if path.exists() {
            std::fs::copy(&path, &destination)
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}
