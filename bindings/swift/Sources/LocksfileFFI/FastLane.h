// The direct C call path of bindings/ffi/src/fast_lane.rs (hand-written: uniffi does not generate
// it; bindings/ffi/tests/fast_lane_copies.rs checks it against the Rust). uniffi's generated Swift
// passes an optional count as a heap buffer on every call; the hot operations call these instead,
// and errors come back through the generated raiseFastLaneError().
#pragma once
#include <stdint.h>

#define LOCKSFILE_DONE 1
#define LOCKSFILE_NOT_ACQUIRED 0
#define LOCKSFILE_FAILED (-1)
#define LOCKSFILE_INTERRUPTED (-2)
#define LOCKSFILE_WRITE 1u
#define LOCKSFILE_BLOCK 2u
#define LOCKSFILE_TO_END 4u
#define LOCKSFILE_START_SIGNED 8u

// flags: LOCKSFILE_WRITE | LOCKSFILE_BLOCK | LOCKSFILE_TO_END (count ignored) | LOCKSFILE_START_SIGNED.
int32_t locksfile_fast_acquire(uint64_t token, uint64_t start, uint64_t count, uint32_t flags);
int32_t locksfile_fast_acquire_timeout(uint64_t token, uint64_t start, uint64_t count, uint32_t flags, double timeout_seconds);
int32_t locksfile_fast_release(uint64_t token, uint64_t start, uint64_t count, uint32_t flags);
