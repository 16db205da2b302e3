//! A CPython entry point for the hot calls, compiled into this very library: `pylocksfile` imports
//! it from the file that uniffi's generated module already loaded, so it reaches the same core (one registry, one fork
//! generation, one wake signal per process). It is a thin shell around the direct C path: every
//! call goes to `locksfile_fast_acquire`, `locksfile_fast_acquire_timeout` or
//! `locksfile_fast_release`, which validate and act; a failure stays stored for the generated
//! `raise_fast_lane_error`, as on the C path.
//!
//! What it adds is what only the Python side can do cheaply: taking Python objects without a
//! conversion layer (a builtin call costs tens of ns, a ctypes call with argument types ~600 ns),
//! releasing the GIL for kernel waits, and running Python's signal handlers when a signal
//! interrupts a wait (`PyErr_CheckSignals`; a handler that raises, like Ctrl-C's, ends the call with
//! its exception, holding nothing new; one that returns lets the wait go on).
//!
//! Calls (positional only; `start`/`count` may be any objects, `count` `None` meaning every lock
//! from `start` on):
//! - `acquire(token, start, count, write)`: waits as long as it takes; `1`, or `-1` (failed). It
//!   first tries without letting go of the GIL, and waits (without the GIL) only on a conflict.
//! - `try_acquire(token, start, count, write)`: never waits; `1`, `0` (a conflict) or `-1`.
//! - `acquire_timeout(token, start, count, write, seconds)`: `1`, `0` (the deadline) or `-1`.
//! - `release(token, start, count)`: `1` or `-1`.
//! - `plain_range(start, count)`: `True` when a call with them would be the plain case (below), as
//!   the library validates ranges; `None` otherwise. For guards, which check their range when made.
//!
//! Each returns `None`, having done nothing, when the arguments are not the plain case: `start` and
//! `count` exact `int`s (`count` may be `None`), `write` exactly `True` or `False`, and a range the
//! library accepts. The caller then checks them in Python and calls again, so every message about
//! an argument is worded in one place per language, exactly as before.
//!
//! No `Py*` symbol is linked: the few functions this needs are looked up in the running process
//! when the module is imported (`dlsym`). A library with undefined `Py*` symbols cannot be loaded
//! by a process that is not CPython (PyPy's `ctypes`, the JVM, Swift): this one still can, and
//! PyPy uses the `ctypes` path. So the entry point is always compiled in (no feature, like `jvm`'s):
//! every language loads one and the same build of the library, whichever task built it last. Only the stable ABI is used, at its 3.10 level (`METH_FASTCALL`);
//! the Python side imports the module only where that ABI holds (CPython 3.10 or later, with
//! `.abi3.so` among its extension suffixes: not free-threaded, not a trace-refs build).

use std::ffi::{c_char, c_int, c_long, c_void, CStr};
use std::ptr;
use std::sync::{Once, OnceLock};
use std::time::Instant;

use crate::fast_lane::{
    self, locksfile_fast_acquire, locksfile_fast_acquire_timeout, locksfile_fast_release, take_invalid_range,
    LOCKSFILE_BLOCK, LOCKSFILE_FAILED, LOCKSFILE_INTERRUPTED, LOCKSFILE_NOT_ACQUIRED, LOCKSFILE_TO_END, LOCKSFILE_WRITE,
};

/// The stable ABI's object header (not the free-threaded build's, which this is never loaded in).
#[repr(C)]
struct PyObject {
    ob_refcnt: isize,
    ob_type: *mut PyObject,
}

type FastCall = unsafe extern "C" fn(*mut PyObject, *const *mut PyObject, isize) -> *mut PyObject;

#[repr(C)]
struct PyMethodDef {
    ml_name: *const c_char,
    ml_meth: Option<FastCall>,
    ml_flags: c_int,
    ml_doc: *const c_char,
}

#[repr(C)]
struct PyModuleDefBase {
    ob_base: PyObject,
    m_init: Option<unsafe extern "C" fn() -> *mut PyObject>,
    m_index: isize,
    m_copy: *mut PyObject,
}

#[repr(C)]
struct PyModuleDef {
    m_base: PyModuleDefBase,
    m_name: *const c_char,
    m_doc: *const c_char,
    m_size: isize,
    m_methods: *mut PyMethodDef,
    m_slots: *mut c_void,
    m_traverse: *mut c_void,
    m_clear: *mut c_void,
    m_free: *mut c_void,
}

const METH_FASTCALL: c_int = 0x0080;

/// The C API functions and objects used, found in the running interpreter.
struct Api {
    long_type: *mut PyObject,
    none: *mut PyObject,
    true_: *mut PyObject,
    false_: *mut PyObject,
    type_error: *mut PyObject,
    as_u64: unsafe extern "C" fn(*mut PyObject) -> u64,
    as_double: unsafe extern "C" fn(*mut PyObject) -> f64,
    from_long: unsafe extern "C" fn(c_long) -> *mut PyObject,
    incref: unsafe extern "C" fn(*mut PyObject),
    error_occurred: unsafe extern "C" fn() -> *mut PyObject,
    error_clear: unsafe extern "C" fn(),
    set_string: unsafe extern "C" fn(*mut PyObject, *const c_char),
    check_signals: unsafe extern "C" fn() -> c_int,
    save_thread: unsafe extern "C" fn() -> *mut c_void,
    restore_thread: unsafe extern "C" fn(*mut c_void),
}

// SAFETY: the pointers name the interpreter's static objects, used only with the GIL held.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

static API: OnceLock<Api> = OnceLock::new();

fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loaded objects.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!address.is_null()).then_some(address)
}

/// A function of the C API, as the type it is declared with in the stable ABI.
macro_rules! function {
    ($name:literal: $type:ty) => {
        // SAFETY: the symbol is the stable ABI's function of that name, whose C signature the
        // type spells.
        unsafe { std::mem::transmute::<*mut c_void, $type>(symbol($name)?) }
    };
}

type Object = *mut PyObject;

impl Api {
    fn find() -> Option<Self> {
        // `PyExc_TypeError` is a variable holding the type's address; the others are the objects.
        let type_error = symbol(c"PyExc_TypeError")?.cast::<*mut PyObject>();
        Some(Self {
            long_type: symbol(c"PyLong_Type")?.cast(),
            none: symbol(c"_Py_NoneStruct")?.cast(),
            true_: symbol(c"_Py_TrueStruct")?.cast(),
            false_: symbol(c"_Py_FalseStruct")?.cast(),
            // SAFETY: the variable is initialised before any extension module is imported.
            type_error: unsafe { *type_error },
            as_u64: function!(c"PyLong_AsUnsignedLongLong": unsafe extern "C" fn(Object) -> u64),
            as_double: function!(c"PyFloat_AsDouble": unsafe extern "C" fn(Object) -> f64),
            from_long: function!(c"PyLong_FromLong": unsafe extern "C" fn(c_long) -> Object),
            incref: function!(c"Py_IncRef": unsafe extern "C" fn(Object)),
            error_occurred: function!(c"PyErr_Occurred": unsafe extern "C" fn() -> Object),
            error_clear: function!(c"PyErr_Clear": unsafe extern "C" fn()),
            set_string: function!(c"PyErr_SetString": unsafe extern "C" fn(Object, *const c_char)),
            check_signals: function!(c"PyErr_CheckSignals": unsafe extern "C" fn() -> c_int),
            save_thread: function!(c"PyEval_SaveThread": unsafe extern "C" fn() -> *mut c_void),
            restore_thread: function!(c"PyEval_RestoreThread": unsafe extern "C" fn(*mut c_void)),
        })
    }
}

/// What one call's arguments came to.
enum Arguments {
    /// The plain case: `(token, start, count, flags)` for the direct path.
    Plain(u64, u64, u64, u32),
    /// Not the plain case: the caller checks the arguments itself.
    Unusual,
    /// A Python exception is set.
    Raised,
}

impl Api {
    /// A new reference to `None` (the caller checks the arguments) or to a status.
    unsafe fn none(&self) -> *mut PyObject {
        (self.incref)(self.none);
        self.none
    }

    unsafe fn status(&self, status: i32) -> *mut PyObject {
        if status == LOCKSFILE_FAILED && take_invalid_range() {
            // The Python layer words argument errors: it checks them and raises its own.
            return self.none();
        }
        (self.from_long)(c_long::from(status))
    }

    /// An exact `int` from 0 to 2^64 - 1.
    unsafe fn unsigned(&self, object: *mut PyObject) -> Option<u64> {
        if (*object).ob_type != self.long_type {
            return None;
        }
        let value = (self.as_u64)(object);
        if value == u64::MAX && !(self.error_occurred)().is_null() {
            (self.error_clear)(); // Negative or too large: the caller says which.
            return None;
        }
        Some(value)
    }

    /// `false` (with a `TypeError` set) unless `args` holds `expected` objects.
    unsafe fn count_is(&self, given: isize, expected: isize) -> bool {
        if given != expected {
            (self.set_string)(self.type_error, c"wrong number of arguments to a pylocksfile fast-lane call".as_ptr());
        }
        given == expected
    }

    /// `start, count` as the direct path takes them (`count` `None`: to the end), if plain.
    unsafe fn range(&self, start: *mut PyObject, count: *mut PyObject) -> Option<(u64, u64, u32)> {
        let start = self.unsigned(start)?;
        if count == self.none {
            return Some((start, 0, LOCKSFILE_TO_END));
        }
        Some((start, self.unsigned(count)?, 0))
    }

    /// `token, start, count[, write]` from `args`, which holds `expected` objects.
    unsafe fn arguments(&self, args: *const *mut PyObject, given: isize, expected: isize, write: bool) -> Arguments {
        if !self.count_is(given, expected) {
            return Arguments::Raised;
        }
        let token = (self.as_u64)(*args);
        if token == u64::MAX && !(self.error_occurred)().is_null() {
            return Arguments::Raised;
        }
        let Some((start, count, mut flags)) = self.range(*args.add(1), *args.add(2)) else { return Arguments::Unusual };
        if write {
            match *args.add(3) {
                object if object == self.true_ => flags |= LOCKSFILE_WRITE,
                object if object == self.false_ => {}
                _ => return Arguments::Unusual,
            }
        }
        Arguments::Plain(token, start, count, flags)
    }

    /// Runs `call` without the GIL until it is not interrupted by a signal; Python's handlers run
    /// after each interruption, and end the call if one raises. `None`: an exception is set.
    unsafe fn waiting(&self, mut call: impl FnMut() -> i32) -> Option<i32> {
        loop {
            let thread = (self.save_thread)();
            let status = call();
            (self.restore_thread)(thread);
            if status != LOCKSFILE_INTERRUPTED {
                return Some(status);
            }
            if (self.check_signals)() != 0 {
                return None;
            }
        }
    }
}

/// The interpreter's API: set before the module exists, so before any call can come. (Were it
/// not, the call would return NULL, which the interpreter reports as a `SystemError`, rather than
/// panic in an `extern "C"` function, which aborts.)
macro_rules! api {
    () => {
        match API.get() {
            Some(api) => api,
            None => return ptr::null_mut(),
        }
    };
}

unsafe extern "C" fn acquire(_module: *mut PyObject, args: *const *mut PyObject, given: isize) -> *mut PyObject {
    let api = api!();
    match api.arguments(args, given, 4, true) {
        Arguments::Plain(token, start, count, flags) => {
            // First without waiting, with the GIL (letting go of it and taking it back costs more
            // than the uncontended call); the waiting call only when there is something to wait for.
            let status = locksfile_fast_acquire(token, start, count, flags);
            if status != LOCKSFILE_NOT_ACQUIRED {
                return api.status(status);
            }
            match api.waiting(|| locksfile_fast_acquire(token, start, count, flags | LOCKSFILE_BLOCK)) {
                Some(status) => api.status(status),
                None => ptr::null_mut(),
            }
        }
        Arguments::Unusual => api.none(),
        Arguments::Raised => ptr::null_mut(),
    }
}

unsafe extern "C" fn try_acquire(_module: *mut PyObject, args: *const *mut PyObject, given: isize) -> *mut PyObject {
    let api = api!();
    match api.arguments(args, given, 4, true) {
        // The GIL is kept: the call never waits (only, briefly, for the handle's own mutex), and
        // letting go of the GIL and taking it back would cost more than the call.
        Arguments::Plain(token, start, count, flags) => api.status(locksfile_fast_acquire(token, start, count, flags)),
        Arguments::Unusual => api.none(),
        Arguments::Raised => ptr::null_mut(),
    }
}

unsafe extern "C" fn acquire_timeout(_module: *mut PyObject, args: *const *mut PyObject, given: isize) -> *mut PyObject {
    let api = api!();
    match api.arguments(args, given, 5, true) {
        Arguments::Plain(token, start, count, flags) => {
            let seconds = (api.as_double)(*args.add(4));
            if seconds == -1.0 && !(api.error_occurred)().is_null() {
                return ptr::null_mut();
            }
            // After an interruption, waits for what is left of the time (the library refuses a
            // negative or NaN one on the first call).
            let began = Instant::now();
            let mut left = seconds;
            let waited = api.waiting(|| {
                let status = locksfile_fast_acquire_timeout(token, start, count, flags, left);
                left = (seconds - began.elapsed().as_secs_f64()).max(0.0);
                status
            });
            match waited {
                Some(status) => api.status(status),
                None => ptr::null_mut(),
            }
        }
        Arguments::Unusual => api.none(),
        Arguments::Raised => ptr::null_mut(),
    }
}

unsafe extern "C" fn release(_module: *mut PyObject, args: *const *mut PyObject, given: isize) -> *mut PyObject {
    let api = api!();
    match api.arguments(args, given, 3, false) {
        // Never waits: the GIL is kept (see try_acquire).
        Arguments::Plain(token, start, count, flags) => api.status(locksfile_fast_release(token, start, count, flags)),
        Arguments::Unusual => api.none(),
        Arguments::Raised => ptr::null_mut(),
    }
}

unsafe extern "C" fn plain_range(_module: *mut PyObject, args: *const *mut PyObject, given: isize) -> *mut PyObject {
    let api = api!();
    if !api.count_is(given, 2) {
        return ptr::null_mut();
    }
    match api.range(*args, *args.add(1)) {
        // The direct path's own decoding and validation of a range.
        Some((start, count, flags)) if fast_lane::range(start, count, flags).is_ok() => {
            (api.incref)(api.true_);
            api.true_
        }
        _ => api.none(),
    }
}

const fn method(name: &'static CStr, call: FastCall) -> PyMethodDef {
    PyMethodDef { ml_name: name.as_ptr(), ml_meth: Some(call), ml_flags: METH_FASTCALL, ml_doc: ptr::null() }
}

/// The interpreter writes into the definition (its type, its index) when the module is made.
struct Definition(std::cell::UnsafeCell<(PyModuleDef, [PyMethodDef; 6])>);

// SAFETY: only the interpreter touches it, with the GIL held.
unsafe impl Sync for Definition {}

static DEFINITION: Definition = Definition(std::cell::UnsafeCell::new((
    PyModuleDef {
        m_base: PyModuleDefBase {
            ob_base: PyObject { ob_refcnt: 1, ob_type: ptr::null_mut() },
            m_init: None,
            m_index: 0,
            m_copy: ptr::null_mut(),
        },
        m_name: c"fast_lane".as_ptr(),
        m_doc: c"locksfile's hot calls for pylocksfile (see bindings/ffi/src/python.rs).".as_ptr(),
        m_size: 0,
        m_methods: ptr::null_mut(), // Set in PyInit_fast_lane (a static cannot point into itself here).
        m_slots: ptr::null_mut(),
        m_traverse: ptr::null_mut(),
        m_clear: ptr::null_mut(),
        m_free: ptr::null_mut(),
    },
    [
        method(c"acquire", acquire),
        method(c"try_acquire", try_acquire),
        method(c"acquire_timeout", acquire_timeout),
        method(c"release", release),
        method(c"plain_range", plain_range),
        PyMethodDef { ml_name: ptr::null(), ml_meth: None, ml_flags: 0, ml_doc: ptr::null() },
    ],
)));

/// The module's entry point (multi-phase initialisation: the module is made from its
/// definition by the import machinery). Imported as `<package>.fast_lane` from this library's
/// file; returns NULL without an exception when the process is not a CPython the module fits,
/// which the importer reports as a `SystemError`.
///
/// # Safety
/// Called by CPython's importer, with the GIL held.
#[no_mangle]
pub unsafe extern "C" fn PyInit_fast_lane() -> *mut c_void {
    if API.get().is_none() {
        let Some(api) = Api::find() else { return ptr::null_mut() };
        let _ = API.set(api);
    }
    let Some(init) = symbol(c"PyModuleDef_Init") else { return ptr::null_mut() };
    // SAFETY: PyModuleDef_Init's signature in the stable ABI.
    let init = std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut PyModuleDef) -> Object>(init);
    let definition = DEFINITION.0.get();
    // Once: a second import (another interpreter) must not write while the first reads.
    static METHODS: Once = Once::new();
    METHODS.call_once(|| (*definition).0.m_methods = (*definition).1.as_mut_ptr());
    init(ptr::addr_of_mut!((*definition).0)).cast()
}
