fn main() {
    // uniffi's build helper can keep a stale crate name when the lib name changes.
    println!("cargo:rerun-if-changed=Cargo.toml");
    uniffi::generate_scaffolding("src/locksfile.udl").expect("generate the scaffolding from src/locksfile.udl");
}
