//! JNI entry points for the Kotlin layer's hot calls: the direct path of `fast_lane` again, called
//! the JVM's own way. A JNA call costs a few hundred nanoseconds each way; a JNI call from compiled
//! code tens. Each entry point only forwards its primitive arguments to the C function of the same
//! name, so validation, range encoding, error texts and the wait and cancel logic stay there.
//!
//! **Bound to this very image.** The entry points are not exported under JNI names for the JVM to
//! find by `System.load`: the file JNA loads from the jar is a temporary copy that JNA deletes once
//! it is mapped, so there is no path left to load, and loading any other copy would start a second
//! core (a second handle table, fork generation and wake signal). Instead the Kotlin layer calls
//! [`locksfile_jni_register`] through the JNA library the generated bindings use, passing the
//! calling thread's `JNIEnv` and its `FastLane` class, and this function binds the class's native
//! methods to the functions of the image it is itself running from (`RegisterNatives`).
//!
//! The table below is the Kotlin declarations' other half: `tests/fast_lane_copies.rs` checks its
//! names and JNI signatures against `FastLane.kt`, and the C functions' parameters against both.

use std::ffi::{c_char, c_void};

use crate::fast_lane::{locksfile_fast_acquire, locksfile_fast_acquire_timeout, locksfile_fast_release};

/// A `JNIEnv *`: a pointer to the pointer to the JVM's function table (only `RegisterNatives` is used).
type JniEnv = *const *const *const c_void;
/// A `jclass` (a local reference; only passed on to the JVM).
type JClass = *mut c_void;

/// `RegisterNatives`' index in the JNI function table (the JNI specification's numbering).
const REGISTER_NATIVES: usize = 215;

type RegisterNatives = unsafe extern "system" fn(JniEnv, JClass, *const NativeMethod, i32) -> i32;

/// A `JNINativeMethod`.
#[repr(C)]
struct NativeMethod {
    name: *const c_char,
    signature: *const c_char,
    function: *mut c_void,
}

extern "system" fn acquire(_env: JniEnv, _class: JClass, token: i64, start: i64, count: i64, flags: i32) -> i32 {
    locksfile_fast_acquire(token as u64, start as u64, count as u64, flags as u32)
}

extern "system" fn acquire_timeout(
    _env: JniEnv,
    _class: JClass,
    token: i64,
    start: i64,
    count: i64,
    flags: i32,
    timeout_seconds: f64,
) -> i32 {
    locksfile_fast_acquire_timeout(token as u64, start as u64, count as u64, flags as u32, timeout_seconds)
}

extern "system" fn release(_env: JniEnv, _class: JClass, token: i64, start: i64, count: i64, flags: i32) -> i32 {
    locksfile_fast_release(token as u64, start as u64, count as u64, flags as u32)
}

/// The Kotlin `FastLane` object's native methods (name, JNI signature) and the functions behind them.
fn methods() -> [NativeMethod; 3] {
    let method = |name: &'static [u8], signature: &'static [u8], function: *mut c_void| NativeMethod {
        name: name.as_ptr().cast(),
        signature: signature.as_ptr().cast(),
        function,
    };
    [
        method(b"locksfile_fast_acquire\0", b"(JJJI)I\0", acquire as *mut c_void),
        method(b"locksfile_fast_acquire_timeout\0", b"(JJJID)I\0", acquire_timeout as *mut c_void),
        method(b"locksfile_fast_release\0", b"(JJJI)I\0", release as *mut c_void),
    ]
}

/// Binds the native methods of `class` (Kotlin's `dev.locksfile.FastLane`) to this image's JNI
/// entry points. Returns `RegisterNatives`' status: 0, or negative with a Java exception pending
/// (a method missing from the class, or declared with another signature).
///
/// # Safety
/// `env` is the calling thread's valid `JNIEnv` and `class` a valid reference to a class (JNA
/// passes both: `JNIEnv.CURRENT` and a `Class` with `OPTION_ALLOW_OBJECTS`).
#[no_mangle]
pub unsafe extern "C" fn locksfile_jni_register(env: JniEnv, class: JClass) -> i32 {
    let methods = methods();
    // SAFETY: `env` points to the JVM's function table, whose entry REGISTER_NATIVES is
    // RegisterNatives with this signature; the names and signatures are NUL-terminated statics.
    unsafe {
        let register: RegisterNatives = std::mem::transmute(*(*env).add(REGISTER_NATIVES));
        register(env, class, methods.as_ptr(), methods.len() as i32)
    }
}
