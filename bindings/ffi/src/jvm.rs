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
//! One more entry point is the JVM's alone: [`index_of`], a name's lock index for the Kotlin layer's
//! name forms, computed by `locksfile::index_of` as the UDL's `index_of` is (the generated call
//! costs tens of microseconds, more than the lock it names).
//!
//! The table below is the Kotlin declarations' other half: `tests/fast_lane_copies.rs` checks its
//! names and JNI signatures against `FastLane.kt`, and the C functions' parameters against both.

use std::ffi::{c_char, c_void};

use crate::fast_lane::{locksfile_fast_acquire, locksfile_fast_acquire_timeout, locksfile_fast_release};

/// A `JNIEnv *`: a pointer to the pointer to the JVM's function table (only `RegisterNatives` is used).
type JniEnv = *const *const *const c_void;
/// A `jclass` (a local reference; only passed on to the JVM).
type JClass = *mut c_void;
/// A `jstring` (a local reference; only passed on to the JVM).
type JString = *mut c_void;

/// Indices in the JNI function table (the JNI specification's numbering).
const GET_STRING_LENGTH: usize = 164;
const REGISTER_NATIVES: usize = 215;
const GET_STRING_REGION: usize = 220;

type RegisterNatives = unsafe extern "system" fn(JniEnv, JClass, *const NativeMethod, i32) -> i32;
type GetStringLength = unsafe extern "system" fn(JniEnv, JString) -> i32;
type GetStringRegion = unsafe extern "system" fn(JniEnv, JString, i32, i32, *mut u16);

/// The JNI function at `index` of `env`'s table, as the function type `F`.
///
/// # Safety
/// `env` is a valid `JNIEnv` of the calling thread and `F` the type of the function at `index`.
unsafe fn jni_function<F: Copy>(env: JniEnv, index: usize) -> F {
    // SAFETY: as the caller promises; a function pointer and `*const c_void` have the same size.
    unsafe { std::mem::transmute_copy(&*(*env).add(index)) }
}

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

/// `FastLane.locksfile_index_of(name)`: `locksfile::index_of` of the string's UTF-8 form (at least
/// 2^61), or -1 when it has none (a lone surrogate; the generated path refuses such a string too).
extern "system" fn index_of(env: JniEnv, _class: JClass, name: JString) -> i64 {
    // SAFETY: the JVM calls this with its valid `JNIEnv` and a non-null string (Kotlin's parameter
    // is a non-null `String`); the region read is the string's whole length, into a buffer of it.
    let units = unsafe {
        let length = jni_function::<GetStringLength>(env, GET_STRING_LENGTH)(env, name);
        let mut units = vec![0u16; usize::try_from(length).unwrap_or(0)];
        jni_function::<GetStringRegion>(env, GET_STRING_REGION)(env, name, 0, length, units.as_mut_ptr());
        units
    };
    String::from_utf16(&units).map_or(-1, |name| locksfile::index_of(&name) as i64)
}

/// The Kotlin `FastLane` object's native methods (name, JNI signature) and the functions behind them.
fn methods() -> [NativeMethod; 4] {
    let method = |name: &'static [u8], signature: &'static [u8], function: *mut c_void| NativeMethod {
        name: name.as_ptr().cast(),
        signature: signature.as_ptr().cast(),
        function,
    };
    [
        method(b"locksfile_fast_acquire\0", b"(JJJI)I\0", acquire as *mut c_void),
        method(b"locksfile_fast_acquire_timeout\0", b"(JJJID)I\0", acquire_timeout as *mut c_void),
        method(b"locksfile_fast_release\0", b"(JJJI)I\0", release as *mut c_void),
        method(b"locksfile_index_of\0", b"(Ljava/lang/String;)J\0", index_of as *mut c_void),
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
    unsafe { jni_function::<RegisterNatives>(env, REGISTER_NATIVES)(env, class, methods.as_ptr(), methods.len() as i32) }
}
