//! The top-level uniffi.toml is the one bindings configuration: the names it sets must come out in
//! the generated code (uniffi ignores a file in the wrong format with only a warning).

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn generate(language: &str) -> PathBuf {
    let bindgen = Path::new(env!("CARGO_BIN_EXE_uniffi-bindgen"));
    // The workspace build puts the FFI crate's shared library beside this binary.
    let library = bindgen.parent().unwrap().join("liblocksfile_ffi.so");
    assert!(library.exists(), "build the workspace first: {} is missing", library.display());
    let out = std::env::temp_dir().join(format!("locksfile-bindgen-{}-{language}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(bindgen)
        .args(["generate", "--no-format", "--language", language, "--config"])
        .arg(workspace().join("uniffi.toml"))
        .arg("--out-dir")
        .arg(&out)
        .arg(&library)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn kotlin_package_comes_from_uniffi_toml() {
    let out = generate("kotlin");
    let source = read(out.join("dev/locksfile/ffi/locksfile.kt"));
    assert!(source.contains("package dev.locksfile.ffi"));
    assert!(source.contains("open class LocksFile:"), "the Swift-only rename leaves Kotlin's class alone");
    assert!(source.contains("\"locksfile_ffi\""), "loads the library by its crate name");
}

#[test]
fn swift_module_names_come_from_uniffi_toml() {
    let out = generate("swift");
    let source = read(out.join("LocksfileGenerated.swift"));
    assert!(source.contains("import LocksfileFFI"));
    assert!(read(out.join("LocksfileFFI.modulemap")).contains("module LocksfileFFI"));
    assert!(out.join("LocksfileFFI.h").exists());
    // Renamed for Swift only: the idiomatic layer's `LocksFile` wraps the generated class.
    assert!(source.contains("open class LocksFileHandle:"), "the generated class is LocksFileHandle");
    assert!(!source.contains("class LocksFile:"), "no generated class is named LocksFile");
    // The C symbols keep the UDL's names (the rename is the Swift name only).
    assert!(source.contains("uniffi_locksfile_ffi_fn_method_locksfile_fast_lane_token("));
}

#[test]
fn python_module_loads_the_ffi_library() {
    let out = generate("python");
    let source = read(out.join("locksfile.py"));
    assert!(source.contains("\"locksfile_ffi\""));
    assert!(source.contains("class LocksFile(LocksFileProtocol)"), "the Swift-only rename leaves Python's class alone");
}
