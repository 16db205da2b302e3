//! Nothing: the package is the `uniffi-bindgen` binary (`src/main.rs`). This empty library lets the
//! FFI crate name the package as a dev-dependency, so that the Python source distribution, which
//! carries the FFI crate's path dependencies, carries the generator too.
