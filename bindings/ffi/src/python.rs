//! A CPython entry point for the hot calls, compiled into this very library: `pylocksfile` imports
//! it from the file that uniffi's generated module already loaded, so it reaches the same core (one
//! registry, one fork generation, one wake signal per process). It is a thin shell around the
//! direct C path: every call goes to `locksfile_fast_acquire`, `locksfile_fast_acquire_timeout` or
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
//! - `guard(file, token, start, count, write)`: a new guard (see `guard`) of the class given to
//!   `register_guard(cls)`, a subclass of this module's `Guard`.
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
//! every language loads one and the same build of the library, whichever task built it last. Only
//! the stable ABI is used, at its 3.10 level (`METH_FASTCALL`); the Python side imports the module
//! only where that ABI holds (CPython 3.10 or later, with `.abi3.so` among its extension suffixes:
//! not free-threaded, not a trace-refs build).

mod guard;

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void, CStr};
use std::ptr;
use std::sync::OnceLock;
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

type Object = *mut PyObject;
type FastCall = unsafe extern "C" fn(Object, *const Object, isize) -> Object;
type NoArgs = unsafe extern "C" fn(Object, Object) -> Object;
type Visit = unsafe extern "C" fn(Object, *mut c_void) -> c_int;

#[repr(C)]
struct PyMethodDef {
    ml_name: *const c_char,
    ml_meth: *const c_void,
    ml_flags: c_int,
    ml_doc: *const c_char,
}

const METH_NOARGS: c_int = 0x0004;
const METH_FASTCALL: c_int = 0x0080;

const fn fast_call(name: &'static CStr, call: FastCall) -> PyMethodDef {
    PyMethodDef { ml_name: name.as_ptr(), ml_meth: call as *const c_void, ml_flags: METH_FASTCALL, ml_doc: ptr::null() }
}

const fn no_args(name: &'static CStr, call: NoArgs) -> PyMethodDef {
    PyMethodDef { ml_name: name.as_ptr(), ml_meth: call as *const c_void, ml_flags: METH_NOARGS, ml_doc: ptr::null() }
}

const METHODS_END: PyMethodDef = PyMethodDef { ml_name: ptr::null(), ml_meth: ptr::null(), ml_flags: 0, ml_doc: ptr::null() };

#[repr(C)]
struct PyModuleDefBase {
    ob_base: PyObject,
    m_init: Option<unsafe extern "C" fn() -> Object>,
    m_index: isize,
    m_copy: Object,
}

#[repr(C)]
struct PyModuleDef {
    m_base: PyModuleDefBase,
    m_name: *const c_char,
    m_doc: *const c_char,
    m_size: isize,
    m_methods: *const PyMethodDef,
    m_slots: *const PyModuleDefSlot,
    m_traverse: Option<unsafe extern "C" fn(Object, Visit, *mut c_void) -> c_int>,
    m_clear: Option<unsafe extern "C" fn(Object) -> c_int>,
    m_free: Option<unsafe extern "C" fn(*mut c_void)>,
}

#[repr(C)]
struct PyModuleDefSlot {
    slot: c_int,
    value: *const c_void,
}

const PY_MOD_EXEC: c_int = 2;

/// Immutable C data of the interpreter's (tables it reads, never writes) in a `static`.
struct Shared<T>(T);

// SAFETY: the interpreter only reads these tables, with the GIL held.
unsafe impl<T> Sync for Shared<T> {}

/// The C API functions and objects used, found in the running interpreter.
struct Api {
    long_type: Object,
    none: Object,
    true_: Object,
    false_: Object,
    type_error: Object,
    runtime_error: Object,
    as_u64: unsafe extern "C" fn(Object) -> u64,
    as_double: unsafe extern "C" fn(Object) -> f64,
    from_long: unsafe extern "C" fn(c_long) -> Object,
    incref: unsafe extern "C" fn(Object),
    decref: unsafe extern "C" fn(Object),
    is_true: unsafe extern "C" fn(Object) -> c_int,
    get_attr_string: unsafe extern "C" fn(Object, *const c_char) -> Object,
    call_method: unsafe extern "C" fn(Object, *const c_char, *const c_char, ...) -> Object,
    tuple_size: unsafe extern "C" fn(Object) -> isize,
    tuple_get_item: unsafe extern "C" fn(Object, isize) -> Object,
    dict_size: unsafe extern "C" fn(Object) -> isize,
    type_from_spec: unsafe extern "C" fn(*mut guard::TypeSpec) -> Object,
    generic_new: *mut c_void,
    get_slot: unsafe extern "C" fn(Object, c_int) -> *mut c_void,
    get_flags: unsafe extern "C" fn(Object) -> c_ulong,
    is_subtype: unsafe extern "C" fn(Object, Object) -> c_int,
    gc_untrack: unsafe extern "C" fn(Object),
    module_get_state: unsafe extern "C" fn(Object) -> *mut c_void,
    module_add_object_ref: unsafe extern "C" fn(Object, *const c_char, Object) -> c_int,
    error_occurred: unsafe extern "C" fn() -> Object,
    error_clear: unsafe extern "C" fn(),
    set_string: unsafe extern "C" fn(Object, *const c_char),
    check_signals: unsafe extern "C" fn() -> c_int,
    save_thread: unsafe extern "C" fn() -> *mut c_void,
    restore_thread: unsafe extern "C" fn(*mut c_void),
}

// SAFETY: the pointers name the interpreter's static objects and functions, used only with the
// GIL held.
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

/// An exception type: the C API exports a variable holding its address.
fn exception(name: &CStr) -> Option<Object> {
    let variable = symbol(name)?.cast::<Object>();
    // SAFETY: the variable is initialised before any extension module is imported.
    Some(unsafe { *variable })
}

impl Api {
    fn find() -> Option<Self> {
        type Unary = unsafe extern "C" fn(Object);
        Some(Self {
            long_type: symbol(c"PyLong_Type")?.cast(),
            none: symbol(c"_Py_NoneStruct")?.cast(),
            true_: symbol(c"_Py_TrueStruct")?.cast(),
            false_: symbol(c"_Py_FalseStruct")?.cast(),
            type_error: exception(c"PyExc_TypeError")?,
            runtime_error: exception(c"PyExc_RuntimeError")?,
            // `unsigned long` is 64 bits on 64-bit Linux; CPython 3.11 converts it digit by digit,
            // `unsigned long long` through a generic byte-array conversion (for a token, which takes
            // more than one 30-bit digit: about 100 instructions more per call).
            #[cfg(target_pointer_width = "64")]
            as_u64: function!(c"PyLong_AsUnsignedLong": unsafe extern "C" fn(Object) -> u64),
            #[cfg(not(target_pointer_width = "64"))]
            as_u64: function!(c"PyLong_AsUnsignedLongLong": unsafe extern "C" fn(Object) -> u64),
            as_double: function!(c"PyFloat_AsDouble": unsafe extern "C" fn(Object) -> f64),
            from_long: function!(c"PyLong_FromLong": unsafe extern "C" fn(c_long) -> Object),
            incref: function!(c"Py_IncRef": Unary),
            decref: function!(c"Py_DecRef": Unary),
            is_true: function!(c"PyObject_IsTrue": unsafe extern "C" fn(Object) -> c_int),
            get_attr_string: function!(c"PyObject_GetAttrString": unsafe extern "C" fn(Object, *const c_char) -> Object),
            call_method: function!(c"PyObject_CallMethod": unsafe extern "C" fn(Object, *const c_char, *const c_char, ...) -> Object),
            tuple_size: function!(c"PyTuple_Size": unsafe extern "C" fn(Object) -> isize),
            tuple_get_item: function!(c"PyTuple_GetItem": unsafe extern "C" fn(Object, isize) -> Object),
            dict_size: function!(c"PyDict_Size": unsafe extern "C" fn(Object) -> isize),
            type_from_spec: function!(c"PyType_FromSpec": unsafe extern "C" fn(*mut guard::TypeSpec) -> Object),
            generic_new: symbol(c"PyType_GenericNew")?,
            get_slot: function!(c"PyType_GetSlot": unsafe extern "C" fn(Object, c_int) -> *mut c_void),
            get_flags: function!(c"PyType_GetFlags": unsafe extern "C" fn(Object) -> c_ulong),
            is_subtype: function!(c"PyType_IsSubtype": unsafe extern "C" fn(Object, Object) -> c_int),
            gc_untrack: function!(c"PyObject_GC_UnTrack": Unary),
            module_get_state: function!(c"PyModule_GetState": unsafe extern "C" fn(Object) -> *mut c_void),
            module_add_object_ref: function!(c"PyModule_AddObjectRef": unsafe extern "C" fn(Object, *const c_char, Object) -> c_int),
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
    /// A new reference to `object`.
    unsafe fn new_ref(&self, object: Object) -> Object {
        (self.incref)(object);
        object
    }

    /// A new reference to `None` (the caller checks the arguments) or to a status.
    unsafe fn none(&self) -> Object {
        self.new_ref(self.none)
    }

    /// A status; a failure's error stays stored for the Python layer to raise.
    unsafe fn status(&self, status: i32) -> Object {
        (self.from_long)(c_long::from(status))
    }

    /// The status of a call on `start, count, flags`, or `None` when they are no range the library
    /// accepts: the Python layer checks its arguments and words that error itself. (A range the
    /// handle refuses although it decodes, a fair handle's beyond its gates, stays a failure.)
    unsafe fn plain_status(&self, status: i32, start: u64, count: u64, flags: u32) -> Object {
        if status == LOCKSFILE_FAILED && fast_lane::range(start, count, flags).is_err() && take_invalid_range() {
            return self.none();
        }
        self.status(status)
    }

    /// `NULL`, with a `TypeError` saying `message`.
    unsafe fn type_error(&self, message: &CStr) -> Object {
        (self.set_string)(self.type_error, message.as_ptr());
        ptr::null_mut()
    }

    /// An exact `int` from 0 to 2^64 - 1.
    unsafe fn unsigned(&self, object: Object) -> Option<u64> {
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

    /// A handle's token (any `int` the C API converts; `None`: an exception is set).
    unsafe fn token(&self, object: Object) -> Option<u64> {
        let token = (self.as_u64)(object);
        (token != u64::MAX || (self.error_occurred)().is_null()).then_some(token)
    }

    /// `false` (with a `TypeError` set) unless `args` holds `expected` objects.
    unsafe fn count_is(&self, given: isize, expected: isize) -> bool {
        if given != expected {
            self.type_error(c"wrong number of arguments to a pylocksfile fast-lane call");
        }
        given == expected
    }

    /// `start, count` as the direct path takes them (`count` `None`: to the end), if plain.
    unsafe fn range(&self, start: Object, count: Object) -> Option<(u64, u64, u32)> {
        let start = self.unsigned(start)?;
        if count == self.none {
            return Some((start, 0, LOCKSFILE_TO_END));
        }
        Some((start, self.unsigned(count)?, 0))
    }

    /// `start, count` if plain and a range the library accepts (its own decoding and validation).
    unsafe fn valid_range(&self, start: Object, count: Object) -> Option<(u64, u64, u32)> {
        self.range(start, count).filter(|&(start, count, flags)| fast_lane::range(start, count, flags).is_ok())
    }

    /// [`LOCKSFILE_WRITE`] or 0 for exactly `True` or `False`.
    fn write_flag(&self, write: Object) -> Option<u32> {
        match write {
            object if object == self.true_ => Some(LOCKSFILE_WRITE),
            object if object == self.false_ => Some(0),
            _ => None,
        }
    }

    /// `token, start, count[, write]` from `args`, which holds `expected` objects.
    unsafe fn arguments(&self, args: *const Object, given: isize, expected: isize, write: bool) -> Arguments {
        if !self.count_is(given, expected) {
            return Arguments::Raised;
        }
        let Some(token) = self.token(*args) else { return Arguments::Raised };
        let Some((start, count, mut flags)) = self.range(*args.add(1), *args.add(2)) else { return Arguments::Unusual };
        if write {
            let Some(write) = self.write_flag(*args.add(3)) else { return Arguments::Unusual };
            flags |= write;
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

    /// Takes the range, waiting as long as it takes. First without waiting, with the GIL (letting
    /// go of it and taking it back costs more than the uncontended call); the waiting call, without
    /// the GIL, only when there is something to wait for. `None`: an exception is set.
    unsafe fn acquire_blocking(&self, token: u64, start: u64, count: u64, flags: u32) -> Option<i32> {
        let status = locksfile_fast_acquire(token, start, count, flags);
        if status != LOCKSFILE_NOT_ACQUIRED {
            return Some(status);
        }
        self.waiting(|| locksfile_fast_acquire(token, start, count, flags | LOCKSFILE_BLOCK))
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
use api;

unsafe extern "C" fn acquire(_module: Object, args: *const Object, given: isize) -> Object {
    let api = api!();
    match api.arguments(args, given, 4, true) {
        Arguments::Plain(token, start, count, flags) => match api.acquire_blocking(token, start, count, flags) {
            Some(status) => api.plain_status(status, start, count, flags),
            None => ptr::null_mut(),
        },
        Arguments::Unusual => api.none(),
        Arguments::Raised => ptr::null_mut(),
    }
}

unsafe extern "C" fn try_acquire(_module: Object, args: *const Object, given: isize) -> Object {
    let api = api!();
    match api.arguments(args, given, 4, true) {
        // The GIL is kept: the call never waits (only, briefly, for the handle's own mutex), and
        // letting go of the GIL and taking it back would cost more than the call.
        Arguments::Plain(token, start, count, flags) => {
            api.plain_status(locksfile_fast_acquire(token, start, count, flags), start, count, flags)
        }
        Arguments::Unusual => api.none(),
        Arguments::Raised => ptr::null_mut(),
    }
}

unsafe extern "C" fn acquire_timeout(_module: Object, args: *const Object, given: isize) -> Object {
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
                Some(status) => api.plain_status(status, start, count, flags),
                None => ptr::null_mut(),
            }
        }
        Arguments::Unusual => api.none(),
        Arguments::Raised => ptr::null_mut(),
    }
}

unsafe extern "C" fn release(_module: Object, args: *const Object, given: isize) -> Object {
    let api = api!();
    match api.arguments(args, given, 3, false) {
        // Never waits: the GIL is kept (see try_acquire).
        Arguments::Plain(token, start, count, flags) => {
            api.plain_status(locksfile_fast_release(token, start, count, flags), start, count, flags)
        }
        Arguments::Unusual => api.none(),
        Arguments::Raised => ptr::null_mut(),
    }
}

/// The module's state: the `Guard` type and the registered subclass (strong references, or NULL).
#[repr(C)]
struct State {
    base: Object,
    class: Object,
}

unsafe fn state(api: &Api, module: Object) -> *mut State {
    (api.module_get_state)(module).cast()
}

unsafe extern "C" fn make_guard(module: Object, args: *const Object, given: isize) -> Object {
    let api = api!();
    if !api.count_is(given, 5) {
        return ptr::null_mut();
    }
    let class = (*state(api, module)).class;
    if class.is_null() {
        return api.type_error(c"no guard class is registered (register_guard)");
    }
    let (file, start, count) = (*args, *args.add(2), *args.add(3));
    let (Some(_), Some(write)) = (api.valid_range(start, count), api.write_flag(*args.add(4))) else { return api.none() };
    let Some(token) = api.token(*args.add(1)) else { return ptr::null_mut() };
    guard::make(api, class, file, token, start, count, write != 0)
}

unsafe extern "C" fn register_guard(module: Object, args: *const Object, given: isize) -> Object {
    let api = api!();
    if !api.count_is(given, 1) {
        return ptr::null_mut();
    }
    const TYPE_SUBCLASS: c_ulong = 1 << 31; // Py_TPFLAGS_TYPE_SUBCLASS: the object is a class
    let (state, class) = (state(api, module), *args);
    if (api.get_flags)((*class).ob_type) & TYPE_SUBCLASS == 0 || (api.is_subtype)(class, (*state).base) == 0 {
        return api.type_error(c"register_guard takes a subclass of fast_lane.Guard");
    }
    let old = (*state).class;
    (*state).class = api.new_ref(class);
    if !old.is_null() {
        (api.decref)(old);
    }
    api.none()
}

/// Makes the `Guard` type (`Py_mod_exec`).
unsafe extern "C" fn exec(module: Object) -> c_int {
    let Some(api) = API.get() else { return -1 };
    let base = guard::new_type(api);
    if base.is_null() {
        return -1;
    }
    (*state(api, module)).base = base;
    (api.module_add_object_ref)(module, c"Guard".as_ptr(), base)
}

unsafe extern "C" fn traverse(module: Object, visit: Visit, arg: *mut c_void) -> c_int {
    let Some(api) = API.get() else { return 0 };
    let state = state(api, module);
    if state.is_null() {
        return 0;
    }
    for object in [(*state).base, (*state).class] {
        if !object.is_null() {
            let visited = visit(object, arg);
            if visited != 0 {
                return visited;
            }
        }
    }
    0
}

unsafe extern "C" fn clear(module: Object) -> c_int {
    let Some(api) = API.get() else { return 0 };
    let state = state(api, module);
    if !state.is_null() {
        for field in [ptr::addr_of_mut!((*state).base), ptr::addr_of_mut!((*state).class)] {
            let object = std::mem::replace(&mut *field, ptr::null_mut());
            if !object.is_null() {
                (api.decref)(object);
            }
        }
    }
    0
}

unsafe extern "C" fn free(module: *mut c_void) {
    clear(module.cast());
}

static METHODS: Shared<[PyMethodDef; 7]> = Shared([
    fast_call(c"acquire", acquire),
    fast_call(c"try_acquire", try_acquire),
    fast_call(c"acquire_timeout", acquire_timeout),
    fast_call(c"release", release),
    fast_call(c"guard", make_guard),
    fast_call(c"register_guard", register_guard),
    METHODS_END,
]);

static SLOTS: Shared<[PyModuleDefSlot; 2]> = Shared([
    PyModuleDefSlot { slot: PY_MOD_EXEC, value: exec as *const c_void },
    PyModuleDefSlot { slot: 0, value: ptr::null() },
]);

/// The interpreter writes into the definition (its type, its index) when the module is made.
struct Definition(std::cell::UnsafeCell<PyModuleDef>);

// SAFETY: only the interpreter touches it, with the GIL held.
unsafe impl Sync for Definition {}

static DEFINITION: Definition = Definition(std::cell::UnsafeCell::new(PyModuleDef {
    m_base: PyModuleDefBase {
        ob_base: PyObject { ob_refcnt: 1, ob_type: ptr::null_mut() },
        m_init: None,
        m_index: 0,
        m_copy: ptr::null_mut(),
    },
    m_name: c"fast_lane".as_ptr(),
    m_doc: c"locksfile's hot calls for pylocksfile (see bindings/ffi/src/python.rs).".as_ptr(),
    m_size: std::mem::size_of::<State>() as isize,
    m_methods: METHODS.0.as_ptr(),
    m_slots: SLOTS.0.as_ptr(),
    m_traverse: Some(traverse),
    m_clear: Some(clear),
    m_free: Some(free),
}));

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
    init(DEFINITION.0.get()).cast()
}
