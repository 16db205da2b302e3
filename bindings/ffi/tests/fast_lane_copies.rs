//! The direct call path is written once in Rust (`src/fast_lane.rs`) and declared again in each
//! language layer: Python's ctypes bindings, Kotlin's JNI native methods, and the C header Swift
//! imports. This test reads all four and checks that every constant has the same value and every
//! function the same parameters (in C terms), so that a change in one place cannot drift; and that
//! the JNI table which binds Kotlin's methods (`src/jvm.rs`) names each of them with its signature,
//! and the one method that is the JVM's alone ([`JVM_ONLY`]).

use std::collections::BTreeMap;
use std::path::Path;

/// Kotlin's native methods that are no C function of the direct path, with the Rust function each
/// entry point calls: a name's index (the Kotlin layer's name forms).
const JVM_ONLY: &[(&str, &str)] = &[("locksfile_index_of", "locksfile::index_of")];

fn jvm_only(name: &str) -> bool {
    JVM_ONLY.iter().any(|(method, _)| *method == name)
}

/// Constant name (without `LOCKSFILE_`) to value, and function name to parameter types.
#[derive(Debug, PartialEq)]
struct Interface {
    constants: BTreeMap<String, i64>,
    functions: BTreeMap<String, Vec<&'static str>>,
}

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn value(text: &str) -> i64 {
    text.trim().trim_start_matches('(').trim_end_matches(')').trim_end_matches('u').parse().unwrap_or_else(|_| panic!("value {text:?}"))
}

/// The C type of a parameter type in any of the four languages.
fn c_type(text: &str) -> &'static str {
    match text.trim() {
        "u64" | "Long" | "ctypes.c_uint64" | "uint64_t" => "uint64_t",
        "u32" | "Int" | "ctypes.c_uint32" | "uint32_t" => "uint32_t",
        "f64" | "Double" | "ctypes.c_double" | "double" => "double",
        other => panic!("unknown parameter type {other:?}"),
    }
}

/// The types of `name: type` (Rust, Kotlin) or `type name` (C) parameters.
fn parameters(list: &str, typed_after_colon: bool) -> Vec<&'static str> {
    list.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| if typed_after_colon { c_type(p.split(':').nth(1).unwrap()) } else { c_type(p.split_whitespace().next().unwrap()) })
        .collect()
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).unwrap() + open.len();
    &text[start..start + text[start..].find(close).unwrap()]
}

fn rust() -> Interface {
    let text = read("src/fast_lane.rs");
    let mut interface = Interface { constants: BTreeMap::new(), functions: BTreeMap::new() };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("pub const LOCKSFILE_") {
            let (name, value_text) = rest.split_once(':').unwrap();
            interface.constants.insert(name.into(), value(value_text.split('=').nth(1).unwrap().trim_end_matches(';')));
        }
        if let Some(rest) = line.strip_prefix("pub extern \"C\" fn ") {
            let name = rest.split('(').next().unwrap();
            interface.functions.insert(name.into(), parameters(between(rest, "(", ")"), true));
        }
    }
    interface
}

fn python() -> Interface {
    let text = read("../python/python/pylocksfile/_fastlane.py");
    let mut interface = Interface { constants: BTreeMap::new(), functions: BTreeMap::new() };
    let mut bound: BTreeMap<String, String> = BTreeMap::new(); // Python name -> C name
    for line in text.lines() {
        if let Some((name, rest)) = line.split_once(" = ") {
            if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !name.is_empty() {
                interface.constants.insert(name.into(), value(rest));
            } else if let Some(c_name) = rest.strip_prefix("_library.") {
                bound.insert(name.into(), c_name.into());
            } else if let Some(c_name) = name.strip_suffix(".argtypes").and_then(|python_name| bound.get(python_name)) {
                interface.functions.insert(c_name.clone(), parameters(between(rest, "(", ")"), false));
            }
        }
    }
    interface
}

fn kotlin() -> Interface {
    let text = read("../kotlin/src/main/kotlin/dev/locksfile/FastLane.kt");
    let mut interface = Interface { constants: BTreeMap::new(), functions: BTreeMap::new() };
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("const val ") {
            let (name, value_text) = rest.split_once(" = ").unwrap();
            interface.constants.insert(name.into(), value(value_text));
        }
        if let Some(rest) = line.strip_prefix("@JvmStatic external fun ") {
            let name = rest.split('(').next().unwrap();
            if !jvm_only(name) {
                interface.functions.insert(name.into(), parameters(between(rest, "(", ")"), true));
            }
        }
    }
    interface
}

/// The JNI signature of a Kotlin parameter or return type.
fn jni_type(text: &str) -> &'static str {
    match text.trim() {
        "Long" => "J",
        "Int" => "I",
        "Double" => "D",
        "String" => "Ljava/lang/String;",
        other => panic!("unknown Kotlin type {other:?}"),
    }
}

/// Method name to JNI signature, from Kotlin's `external fun` declarations.
fn kotlin_jni() -> BTreeMap<String, String> {
    let text = read("../kotlin/src/main/kotlin/dev/locksfile/FastLane.kt");
    let mut methods = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("@JvmStatic external fun ") {
            let name = rest.split('(').next().unwrap();
            let parameters: String =
                between(rest, "(", ")").split(',').filter(|p| !p.trim().is_empty()).map(|p| jni_type(p.split(':').nth(1).unwrap())).collect();
            let returned = jni_type(rest.rsplit_once("):").unwrap().1);
            methods.insert(name.into(), format!("({parameters}){returned}"));
        }
    }
    methods
}

/// Method name to JNI signature, from the table `src/jvm.rs` registers.
fn rust_jni() -> BTreeMap<String, String> {
    let text = read("src/jvm.rs");
    let mut methods = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("method(b\"") {
            let (name, rest) = rest.split_once("\\0\", b\"").unwrap();
            let (signature, rest) = rest.split_once("\\0\", ").unwrap();
            // The entry point bound to the method forwards to the C function of that name.
            let entry_point = rest.split_whitespace().next().unwrap();
            let body = between(&text, &format!("fn {entry_point}("), "\n}\n");
            let called = JVM_ONLY.iter().find(|(method, _)| *method == name).map_or(name, |(_, function)| function);
            assert!(body.contains(&format!("{called}(")), "src/jvm.rs: {entry_point} does not call {called}");
            methods.insert(name.into(), signature.into());
        }
    }
    methods
}

fn c_header() -> Interface {
    let text = read("../swift/Sources/LocksfileFFI/FastLane.h");
    let mut interface = Interface { constants: BTreeMap::new(), functions: BTreeMap::new() };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#define LOCKSFILE_") {
            let (name, value_text) = rest.split_once(' ').unwrap();
            interface.constants.insert(name.into(), value(value_text));
        }
        if let Some(rest) = line.strip_prefix("int32_t ") {
            let name = rest.split('(').next().unwrap();
            interface.functions.insert(name.into(), parameters(between(rest, "(", ")"), false));
        }
    }
    interface
}

#[test]
fn every_copy_of_the_direct_path_agrees_with_the_rust() {
    let rust = rust();
    assert_eq!(rust.constants.len(), 8, "{rust:?}");
    assert_eq!(rust.functions.len(), 3, "{rust:?}");
    assert_eq!(python(), rust, "bindings/python/python/pylocksfile/_fastlane.py");
    assert_eq!(kotlin(), rust, "bindings/kotlin/src/main/kotlin/dev/locksfile/FastLane.kt");
    assert_eq!(c_header(), rust, "bindings/swift/Sources/LocksfileFFI/FastLane.h");
    // Kotlin's methods are bound by name and signature: the JNI table lists each, as declared.
    let jni = rust_jni();
    let direct: Vec<_> = jni.keys().filter(|name| !jvm_only(name)).collect();
    assert_eq!(direct, rust.functions.keys().collect::<Vec<_>>(), "src/jvm.rs");
    assert!(JVM_ONLY.iter().all(|(method, _)| jni.contains_key(*method)), "src/jvm.rs lacks one of {JVM_ONLY:?}");
    assert_eq!(jni, kotlin_jni(), "src/jvm.rs against FastLane.kt");
}
