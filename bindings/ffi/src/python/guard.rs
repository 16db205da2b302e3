//! `fast_lane.Guard`, the native base of pylocksfile's `LockGuard`: what `with lf.write(i):` runs
//! each time (making the guard, `__enter__`, `__exit__`) in C, since each Python-level call there
//! costs about as much as the lock's own system call. The Python subclass adds the rest (`async
//! with`, timed entry, the wording of errors) through two methods this calls: `_enter_timed()`, for
//! a guard with a timeout, and `_refused(status)` when the direct path did not do the work
//! (`status`: the direct path's, or `None` when the arguments are not the plain case), which raises.
//!
//! Read-only attributes: `file`, `start`, `count`, `write`, `timeout`, `_token`.
//! `Guard(file, start, count, write, timeout)` makes one (`_token` from `file._token`; once: a
//! second `__init__` raises `RuntimeError`); the module's `guard(...)` makes the common one (no
//! timeout) without a Python-level call.
//!
//! A guard is single-use, like `contextlib.contextmanager`'s and `asyncio.timeout()`'s: `_state`
//! goes NEW → ENTERING (while `__enter__` waits) → HELD → DONE (after `__exit__`); a failed
//! `__enter__` goes back to NEW. `__enter__` out of NEW and `__exit__` out of HELD call the
//! subclass's `_misused()`, which raises (`RuntimeError`, worded in Python, as `async with` shares
//! the states through the writable `_state`).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::mem::{offset_of, replace, size_of, transmute};
use std::ptr;

use super::{api, fast_call, no_args, Api, Object, PyMethodDef, PyObject, Shared, Visit, API, METHODS_END};
use crate::fast_lane::{locksfile_fast_release, LOCKSFILE_DONE, LOCKSFILE_WRITE};

/// A guard: the Python object.
#[repr(C)]
struct Guard {
    ob_base: PyObject,
    file: Object,
    start: Object,
    count: Object,
    timeout: Object,
    token: u64,
    write: c_char,
    /// `STATE_NEW` (zeroed by the allocator), `STATE_ENTERING`, `STATE_HELD` or `STATE_DONE`.
    state: c_char,
}

const STATE_NEW: c_char = 0;
const STATE_ENTERING: c_char = 1;
const STATE_HELD: c_char = 2;
const STATE_DONE: c_char = 3;

/// `PyType_Spec`.
#[repr(C)]
pub(super) struct TypeSpec {
    name: *const c_char,
    basicsize: c_int,
    itemsize: c_int,
    flags: c_uint,
    slots: *mut TypeSlot,
}

/// `PyType_Slot`.
#[repr(C)]
struct TypeSlot {
    slot: c_int,
    pfunc: *mut c_void,
}

/// `PyMemberDef`.
#[repr(C)]
struct MemberDef {
    name: *const c_char,
    kind: c_int,
    offset: isize,
    flags: c_int,
    doc: *const c_char,
}

// typeslots.h, descrobject.h (structmember.h before 3.12) and object.h.
const TP_ALLOC: c_int = 47;
const TP_CLEAR: c_int = 51;
const TP_DEALLOC: c_int = 52;
const TP_DOC: c_int = 56;
const TP_INIT: c_int = 60;
const TP_METHODS: c_int = 64;
const TP_NEW: c_int = 65;
const TP_TRAVERSE: c_int = 71;
const TP_MEMBERS: c_int = 72;
const TP_FREE: c_int = 74;
const T_BYTE: c_int = 8;
const T_BOOL: c_int = 14;
const T_OBJECT_EX: c_int = 16;
const T_ULONGLONG: c_int = 18;
const READONLY: c_int = 1;
const BASETYPE: c_uint = 1 << 10;
const HAVE_GC: c_uint = 1 << 14;

const fn member(name: &'static CStr, kind: c_int, offset: usize) -> MemberDef {
    MemberDef { name: name.as_ptr(), kind, offset: offset as isize, flags: READONLY, doc: ptr::null() }
}

static MEMBERS: Shared<[MemberDef; 8]> = Shared([
    member(c"file", T_OBJECT_EX, offset_of!(Guard, file)),
    member(c"start", T_OBJECT_EX, offset_of!(Guard, start)),
    member(c"count", T_OBJECT_EX, offset_of!(Guard, count)),
    member(c"timeout", T_OBJECT_EX, offset_of!(Guard, timeout)),
    member(c"write", T_BOOL, offset_of!(Guard, write)),
    member(c"_token", T_ULONGLONG, offset_of!(Guard, token)),
    // Writable: the subclass's `async with` moves it through the same states.
    MemberDef { name: c"_state".as_ptr(), kind: T_BYTE, offset: offset_of!(Guard, state) as isize, flags: 0, doc: ptr::null() },
    MemberDef { name: ptr::null(), kind: 0, offset: 0, flags: 0, doc: ptr::null() },
]);

static METHODS: Shared<[PyMethodDef; 3]> = Shared([no_args(c"__enter__", enter), fast_call(c"__exit__", exit), METHODS_END]);

/// A new `Guard` type (one per module object).
pub(super) unsafe fn new_type(api: &Api) -> Object {
    let mut slots = [
        TypeSlot { slot: TP_NEW, pfunc: api.generic_new },
        TypeSlot { slot: TP_INIT, pfunc: init as *mut c_void },
        TypeSlot { slot: TP_DEALLOC, pfunc: dealloc as *mut c_void },
        TypeSlot { slot: TP_TRAVERSE, pfunc: traverse as *mut c_void },
        TypeSlot { slot: TP_CLEAR, pfunc: clear as *mut c_void },
        TypeSlot { slot: TP_METHODS, pfunc: METHODS.0.as_ptr().cast_mut().cast() },
        TypeSlot { slot: TP_MEMBERS, pfunc: MEMBERS.0.as_ptr().cast_mut().cast() },
        TypeSlot { slot: TP_DOC, pfunc: c"Holds a range of locks while a with block runs (pylocksfile's LockGuard).".as_ptr().cast_mut().cast() },
        TypeSlot { slot: 0, pfunc: ptr::null_mut() },
    ];
    let mut spec = TypeSpec {
        name: c"fast_lane.Guard".as_ptr(),
        basicsize: size_of::<Guard>() as c_int,
        itemsize: 0,
        flags: BASETYPE | HAVE_GC,
        slots: slots.as_mut_ptr(),
    };
    (api.type_from_spec)(&mut spec)
}

/// A new guard of `class` (a subclass of `Guard`) without a timeout.
pub(super) unsafe fn make(api: &Api, class: Object, file: Object, token: u64, start: Object, count: Object, write: bool) -> Object {
    let alloc = transmute::<*mut c_void, unsafe extern "C" fn(Object, isize) -> Object>((api.get_slot)(class, TP_ALLOC));
    let object = alloc(class, 0); // zeroed, and tracked by the garbage collector
    if object.is_null() {
        return object;
    }
    let guard = object.cast::<Guard>();
    (*guard).file = api.new_ref(file);
    (*guard).start = api.new_ref(start);
    (*guard).count = api.new_ref(count);
    (*guard).timeout = api.none();
    (*guard).token = token;
    (*guard).write = c_char::from(write);
    object
}

/// Sets `field` to a new reference to `value`, dropping the old one (if any) last.
unsafe fn set(api: &Api, field: *mut Object, value: Object) {
    let old = replace(&mut *field, api.new_ref(value));
    if !old.is_null() {
        (api.decref)(old);
    }
}

/// `Guard(file, start, count, write, timeout)`.
unsafe extern "C" fn init(object: Object, args: Object, kwargs: Object) -> c_int {
    let Some(api) = API.get() else { return -1 };
    if (!kwargs.is_null() && (api.dict_size)(kwargs) != 0) || (api.tuple_size)(args) != 5 {
        api.type_error(c"LockGuard takes five positional arguments: file, start, count, write, timeout");
        return -1;
    }
    let guard = object.cast::<Guard>();
    if !(*guard).file.is_null() {
        (api.set_string)(api.runtime_error, c"a LockGuard is initialised once".as_ptr());
        return -1;
    }
    let item = |n| (api.tuple_get_item)(args, n);
    let token = (api.get_attr_string)(item(0), c"_token".as_ptr());
    if token.is_null() {
        return -1;
    }
    let converted = api.token(token);
    (api.decref)(token);
    let Some(token) = converted else { return -1 };
    let write = (api.is_true)(item(3));
    if write < 0 {
        return -1;
    }
    set(api, ptr::addr_of_mut!((*guard).file), item(0));
    set(api, ptr::addr_of_mut!((*guard).start), item(1));
    set(api, ptr::addr_of_mut!((*guard).count), item(2));
    set(api, ptr::addr_of_mut!((*guard).timeout), item(4));
    (*guard).token = token;
    (*guard).write = c_char::from(write == 1);
    (*guard).state = STATE_NEW;
    0
}

/// The guard's fields, or `None` (a `TypeError` set) when it was never initialised.
unsafe fn fields(api: &Api, object: Object) -> Option<*mut Guard> {
    let guard = object.cast::<Guard>();
    if (*guard).file.is_null() || (*guard).start.is_null() || (*guard).count.is_null() || (*guard).timeout.is_null() {
        api.type_error(c"the LockGuard was not initialised");
        return None;
    }
    Some(guard)
}

/// What the subclass's `_refused(status)` raises (NULL); `status` as the direct path returned it.
unsafe fn refused(api: &Api, object: Object, status: Object) -> Object {
    if status.is_null() {
        return status;
    }
    let result = (api.call_method)(object, c"_refused".as_ptr(), c"(O)".as_ptr(), status);
    (api.decref)(status);
    if !result.is_null() {
        (api.decref)(result);
        (api.set_string)(api.runtime_error, c"LockGuard._refused returned instead of raising".as_ptr());
    }
    ptr::null_mut()
}

/// What the subclass's `_misused()` raises (NULL): `__enter__` out of a state other than NEW, or
/// `__exit__` out of one other than HELD.
unsafe fn misused(api: &Api, object: Object) -> Object {
    let result = (api.call_method)(object, c"_misused".as_ptr(), ptr::null());
    if !result.is_null() {
        (api.decref)(result);
        (api.set_string)(api.runtime_error, c"LockGuard._misused returned instead of raising".as_ptr());
    }
    ptr::null_mut()
}

unsafe extern "C" fn enter(object: Object, _unused: Object) -> Object {
    let api = api!();
    let Some(guard) = fields(api, object) else { return ptr::null_mut() };
    if (*guard).state != STATE_NEW {
        return misused(api, object);
    }
    // Set before the wait lets the GIL go: another thread's `__enter__` of this guard is refused.
    (*guard).state = STATE_ENTERING;
    let entered = enter_new(api, object, guard);
    (*guard).state = if entered.is_null() { STATE_NEW } else { STATE_HELD };
    entered
}

unsafe fn enter_new(api: &Api, object: Object, guard: *mut Guard) -> Object {
    if (*guard).timeout != api.none {
        return (api.call_method)(object, c"_enter_timed".as_ptr(), ptr::null());
    }
    let Some((start, count, flags)) = api.range((*guard).start, (*guard).count) else { return refused(api, object, api.none()) };
    let write = if (*guard).write != 0 { LOCKSFILE_WRITE } else { 0 };
    match api.acquire_blocking((*guard).token, start, count, flags | write) {
        Some(LOCKSFILE_DONE) => api.new_ref(object),
        Some(status) => refused(api, object, api.status(status)),
        None => ptr::null_mut(),
    }
}

unsafe extern "C" fn exit(object: Object, _args: *const Object, _given: isize) -> Object {
    let api = api!();
    let Some(guard) = fields(api, object) else { return ptr::null_mut() };
    if (*guard).state != STATE_HELD {
        return misused(api, object);
    }
    (*guard).state = STATE_DONE;
    let Some((start, count, flags)) = api.range((*guard).start, (*guard).count) else { return refused(api, object, api.none()) };
    match locksfile_fast_release((*guard).token, start, count, flags) {
        LOCKSFILE_DONE => api.none(),
        status => refused(api, object, api.status(status)),
    }
}

unsafe extern "C" fn traverse(object: Object, visit: Visit, arg: *mut c_void) -> c_int {
    let guard = object.cast::<Guard>();
    // A heap type's instances keep their type alive: the collector is told so.
    for field in [(*object).ob_type, (*guard).file, (*guard).start, (*guard).count, (*guard).timeout] {
        if !field.is_null() {
            let visited = visit(field, arg);
            if visited != 0 {
                return visited;
            }
        }
    }
    0
}

unsafe extern "C" fn clear(object: Object) -> c_int {
    let Some(api) = API.get() else { return 0 };
    let guard = object.cast::<Guard>();
    for field in [
        ptr::addr_of_mut!((*guard).file),
        ptr::addr_of_mut!((*guard).start),
        ptr::addr_of_mut!((*guard).count),
        ptr::addr_of_mut!((*guard).timeout),
    ] {
        let old = replace(&mut *field, ptr::null_mut());
        if !old.is_null() {
            (api.decref)(old);
        }
    }
    0
}

unsafe extern "C" fn dealloc(object: Object) {
    let Some(api) = API.get() else { return };
    let class = (*object).ob_type;
    (api.gc_untrack)(object);
    clear(object);
    let free = transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void)>((api.get_slot)(class, TP_FREE));
    free(object.cast());
    (api.decref)(class); // Instances of heap types hold a reference to their type.
}
