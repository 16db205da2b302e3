"""The hot calls' two implementations (pylocksfile/_fastlane.py): the entry point compiled into the
library that uniffi's module loads, and the ctypes fallback. The whole suite also runs with the
fallback forced (PYLOCKSFILE_FAST_LANE=ctypes, see Makefile.toml's test-python)."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import threading
import weakref

import pytest
from conftest import wait_until, waiting_requests

from pylocksfile import ClosedError, IllegalArgumentError, InvalidRangeError, LockGuard, LocksFile, Mode, _fastlane as fast, pylocksfile
from pylocksfile._native import locksfile as generated

FORCED = os.environ.get("PYLOCKSFILE_FAST_LANE") == "ctypes"
COMPILED_FITS = sys.implementation.name == "cpython" and sys.version_info >= (3, 10)


def test_the_compiled_entry_point_is_used_where_it_fits():
    expected = "compiled" if COMPILED_FITS and not FORCED else "ctypes"
    assert fast.implementation == expected


def test_the_environment_variable_forces_the_ctypes_path():
    code = "from pylocksfile import _fastlane as f, LocksFile; print(f.implementation)"
    environment = dict(os.environ, PYLOCKSFILE_FAST_LANE="ctypes")
    out = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ctypes"


@pytest.mark.skipif(fast.implementation != "compiled", reason="the compiled entry point is not in use")
def test_one_image_of_the_library_serves_both_paths(tmp_path):
    module = fast._module
    assert module is not None
    assert os.path.samefile(module.__file__, fast.library_path)
    assert os.path.samefile(generated.__file__.replace("locksfile.py", "liblocksfile_ffi.so"), fast.library_path)
    with open("/proc/self/maps") as maps:
        mappings = [line.split() for line in maps if line.rstrip().endswith("liblocksfile_ffi.so")]
    files = {(fields[3], fields[4]) for fields in mappings}  # (device, inode)
    assert len(files) == 1, mappings
    assert sum(1 for fields in mappings if "x" in fields[1]) == 1, mappings  # one copy of the code
    # And one core: a handle the generated module opened is known to the compiled entry point.
    lf = LocksFile(tmp_path / "one.lock")
    assert module.try_acquire(lf._token, 3, 1, True) == fast.DONE
    assert [tuple(h[:2]) for h in lf.held()] == [(3, 1)]
    assert module.release(lf._token, 3, 1) == fast.DONE
    assert lf.held() == []


@pytest.mark.skipif(shutil.which("nm") is None, reason="no nm")
def test_the_library_links_no_python_symbol():
    # A library with undefined Py* symbols cannot be loaded by a process that is not CPython (PyPy's
    # ctypes, a JVM, Swift): the entry point looks up the C API when it is imported instead.
    out = subprocess.run(["nm", "-D", "--undefined-only", fast.library_path], capture_output=True, text=True, check=True)
    assert [line for line in out.stdout.splitlines() if line.split()[-1].startswith(("Py", "_Py"))] == []
    defined = subprocess.run(["nm", "-D", "--defined-only", fast.library_path], capture_output=True, text=True, check=True)
    assert "PyInit_fast_lane" in defined.stdout


ARGUMENTS = [
    (5, 1),
    (0, 3),
    (7, None),
    (0, None),
    (2**63 - 1, 1),
    (2**63 - 2, 2),
    (2**63 - 1, None),
    (2**63 - 1, 2),  # past the end
    (2**63, 1),
    (2**63, None),
    (2**64 - 1, 1),
    (2**64, 1),
    (-1, 1),
    (1, 0),
    (1, -1),
    (1, 2**64),
    (True, 1),
    (1, True),
    (1.0, 1),
    ("1", 1),
    (None, 1),
    (range(1, 3), 1),
]


@pytest.mark.skipif(fast._module is None, reason="the compiled entry point is not in use")
@pytest.mark.parametrize("start, count", ARGUMENTS)
@pytest.mark.parametrize("write", [True, False, 1, None])
def test_both_paths_tell_the_plain_case_alike(tmp_path, start, count, write):
    """Each path returns None (the caller checks the arguments) in the same cases, and acts alike in
    the others."""
    module = fast._module
    assert module is not None
    plain_range = fast._ctypes_plain_range(start, count)
    plain = plain_range and type(write) is bool
    lf = LocksFile(tmp_path / "same.lock")
    guard = module.guard(lf, lf._token, start, count, write)
    assert (guard is not None) == plain
    if guard is not None:
        with guard:
            assert lf.mode_of(start) == (Mode.WRITE if write else Mode.READ)
    compiled = (module.acquire, module.try_acquire, module.acquire_timeout, module.release)
    fallback = (fast._ctypes_acquire, fast._ctypes_try_acquire, fast._ctypes_acquire_timeout, fast._ctypes_release)
    for acquire, try_acquire, acquire_timeout, release in (compiled, fallback):
        for taken in (acquire(lf._token, start, count, write), try_acquire(lf._token, start, count, write),
                      acquire_timeout(lf._token, start, count, write, 1.0)):
            assert taken == (fast.DONE if plain else None)
            assert release(lf._token, start, count) == (fast.DONE if plain_range else None)
        assert lf.held() == []


def test_a_range_the_library_refuses_is_worded_as_on_the_generated_path(tmp_path):
    lf = LocksFile(tmp_path / "words.lock")
    for start, count in [(1, 0), (2**63 - 1, 2), (2**63, None), (2**64 - 1, 1)]:
        with pytest.raises(generated.LocksFileError) as direct:
            generated.check_range(str(start), None if count is None else str(count))
        for call in (lambda: lf.acquire(start, count), lambda: lf.try_acquire(start, count), lambda: lf.release(start, count),
                     lambda: lf.write(start, count)):
            with pytest.raises(InvalidRangeError) as raised:
                call()
            assert str(raised.value) == direct.value.detail


def test_the_seed_api_words_a_range_the_library_refuses_its_own_way(tmp_path):
    seed = pylocksfile(str(tmp_path / "seed.lock"))
    for call in (lambda: seed.acquire(writeLock=True, lock_n=2**63), lambda: seed.release(lock_n=2**63)):
        with pytest.raises(IllegalArgumentError, match=r"lock_n 9223372036854775808: invalid lock range"):
            call()


def test_other_threads_run_while_one_waits_in_the_kernel(workers, lock_path):
    holder = workers()
    assert holder.ask("acquire write 4 block") == "ok"
    lf = LocksFile(lock_path)
    done = []
    waiter = threading.Thread(target=lambda: done.append(lf.acquire(4, write=True)))
    waiter.start()
    # This thread runs on while the other waits in the kernel (the GIL is let go of for waits).
    wait_until("the thread waits in the kernel", lambda: waiting_requests(lock_path) == 1)
    assert done == []
    assert holder.ask("release 4") == "ok"
    waiter.join(10)
    assert done == [True]
    lf.release(4)


def test_a_guard_has_its_arguments_as_read_only_attributes(tmp_path):
    lf = LocksFile(tmp_path / "attributes.lock")
    for guard, expected in [(lf.write(3, 2), (3, 2, True, None)), (lf.read(4, None), (4, None, False, None)),
                            (lf.write(range(5, 7), timeout=2), (5, 2, True, 2.0))]:
        assert isinstance(guard, LockGuard)
        assert guard.file is lf
        assert (guard.start, guard.count, guard.write, guard.timeout) == expected
        with pytest.raises(AttributeError):  # on both paths
            guard.start = 9  # type: ignore[misc]


def test_guards_leak_no_reference(tmp_path):
    lf = LocksFile(tmp_path / "references.lock")
    start, count = 10**6, 1000  # ints that are not cached (their counts change only with our references)
    before = (sys.getrefcount(lf), sys.getrefcount(start), sys.getrefcount(count))
    for _ in range(1000):
        with lf.write(start, count) as guard:
            assert guard.start is start
        with lf.read(start, count, timeout=5):
            pass
    del guard
    assert (sys.getrefcount(lf), sys.getrefcount(start), sys.getrefcount(count)) == before
    lf.close()
    for _ in range(100):
        with pytest.raises(ClosedError):
            with lf.write(start, count):
                pass  # pragma: no cover
    assert (sys.getrefcount(lf), sys.getrefcount(start), sys.getrefcount(count)) == before


def test_a_guard_in_a_reference_cycle_is_collected(tmp_path):
    lf = LocksFile(tmp_path / "cycle.lock")
    lf.guard = lf.write(1)  # type: ignore[attr-defined]  # lf -> guard -> lf
    gone = weakref.ref(lf)
    del lf
    gc.collect()
    assert gone() is None


@pytest.mark.skipif(fast.implementation != "compiled", reason="the compiled base class is not in use")
def test_a_guard_never_initialised_raises_instead_of_crashing(tmp_path):
    guard = LockGuard.__new__(LockGuard)
    with pytest.raises(TypeError, match="not initialised"):
        guard.__enter__()
    with pytest.raises(TypeError, match="not initialised"):
        guard.__exit__(None, None, None)
    # The compiled base's own __init__ (LockGuard's checks its arguments first, then calls it).
    with pytest.raises(TypeError, match="five positional arguments"):
        fast.GuardBase.__init__(LockGuard.__new__(LockGuard), LocksFile(tmp_path / "init.lock"), 1, 1, True)
    with pytest.raises(TypeError, match="five positional arguments"):
        fast.GuardBase.__init__(LockGuard.__new__(LockGuard), LocksFile(tmp_path / "init.lock"), 1, 1, True, timeout=None)
    with pytest.raises(AttributeError, match="_token"):
        fast.GuardBase.__init__(LockGuard.__new__(LockGuard), object(), 1, 1, True, None)
    with pytest.raises(TypeError, match="subclass of fast_lane.Guard"):
        fast.register_guard(object)  # type: ignore[arg-type]
