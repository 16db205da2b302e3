//! The direct path's handle table. A token names an open `LocksFile` by slot and generation, so a
//! stale token (its object gone) or a forged one (any integer a caller makes up) finds nothing and
//! the call fails with `Closed`: a token is never dereferenced as an address.
//!
//! Lock-free, so that a fork at any moment leaves nothing locked: a slot's word counts the calls in
//! flight, and the slot's handle is dropped by whoever ends the last reference after the owning
//! object let go. (A child forked during a call never sees that call end: its copy of the slot is
//! simply never reused.)

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// A slot's word: generation (high 32 bits) | closing (bit 31) | references (low 31 bits).
const CLOSING: u64 = 1 << 31;
const REFERENCES: u64 = CLOSING - 1;

const SLOTS_PER_CHUNK: usize = 1024;
/// Room for 4 Mi handles open at once.
const CHUNKS: usize = 4096;

struct Slot {
    word: AtomicU64,
    file: AtomicPtr<locksfile::LocksFile>,
    /// The next free slot's index + 1 (0: none), while this slot is on the free list.
    next_free: AtomicU32,
}

static CHUNK_TABLE: [AtomicPtr<Slot>; CHUNKS] = [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS];
static NEXT_UNUSED: AtomicU32 = AtomicU32::new(0);
/// The free list's top: an ABA tag (high 32 bits) | a slot's index + 1 (0: empty).
static FREE: AtomicU64 = AtomicU64::new(0);

fn slot(index: u32) -> Option<&'static Slot> {
    let (chunk, at) = (index as usize / SLOTS_PER_CHUNK, index as usize % SLOTS_PER_CHUNK);
    let chunk = CHUNK_TABLE.get(chunk)?.load(Ordering::Acquire);
    // SAFETY: a published chunk is an array of SLOTS_PER_CHUNK slots that is never freed.
    (!chunk.is_null()).then(|| unsafe { &*chunk.add(at) })
}

/// The slot at `index`, its chunk allocated if need be.
fn slot_or_allocate(index: u32) -> Option<&'static Slot> {
    let chunk = CHUNK_TABLE.get(index as usize / SLOTS_PER_CHUNK)?;
    if chunk.load(Ordering::Acquire).is_null() {
        let fresh: Box<[Slot]> = (0..SLOTS_PER_CHUNK)
            .map(|_| Slot { word: AtomicU64::new(0), file: AtomicPtr::new(ptr::null_mut()), next_free: AtomicU32::new(0) })
            .collect();
        let fresh = Box::into_raw(fresh).cast::<Slot>();
        if chunk.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire).is_err() {
            // SAFETY: `fresh` came from Box::into_raw of a boxed slice of this length just above,
            // and lost the race: nobody else has seen it.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, SLOTS_PER_CHUNK)) });
        }
    }
    slot(index)
}

/// Puts `file` in a slot: its token, or `None` when every slot is taken.
pub(crate) fn register(file: Arc<locksfile::LocksFile>) -> Option<u64> {
    let index = pop_free().or_else(|| {
        let index = NEXT_UNUSED.fetch_add(1, Ordering::Relaxed);
        ((index as usize) < CHUNKS * SLOTS_PER_CHUNK).then_some(index)
    })?;
    let slot = slot_or_allocate(index)?;
    let generation = match slot.word.load(Ordering::Acquire) >> 32 {
        0 => 1, // Generation 0 is never handed out: no token is 0.
        generation => generation,
    };
    slot.file.store(Arc::into_raw(file).cast_mut(), Ordering::Release);
    slot.word.store((generation << 32) | 1, Ordering::Release); // One reference: the object's.
    Some((generation << 32) | u64::from(index))
}

/// Lets go of the object's reference; the handle is dropped once no call uses it.
pub(crate) fn unregister(token: u64) {
    let Some(slot) = slot(token as u32) else { return };
    if slot.word.load(Ordering::Acquire) >> 32 != token >> 32 {
        return;
    }
    slot.word.fetch_or(CLOSING, Ordering::AcqRel);
    release(slot, token as u32);
}

/// The handle a token names, held for the guard's lifetime; `None` for a stale or forged token.
pub(crate) fn lookup(token: u64) -> Option<Guard> {
    let index = token as u32;
    let slot = slot(index)?;
    let mut word = slot.word.load(Ordering::Acquire);
    loop {
        if word >> 32 != token >> 32 || word & CLOSING != 0 || word & REFERENCES == 0 {
            return None;
        }
        match slot.word.compare_exchange_weak(word, word + 1, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => return Some(Guard { slot, index }),
            Err(now) => word = now,
        }
    }
}

/// A call's reference to a slot's handle.
pub(crate) struct Guard {
    slot: &'static Slot,
    index: u32,
}

impl std::ops::Deref for Guard {
    type Target = locksfile::LocksFile;

    fn deref(&self) -> &locksfile::LocksFile {
        // SAFETY: while the guard's reference is counted, the slot's `Arc` is not dropped.
        unsafe { &*self.slot.file.load(Ordering::Acquire) }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        release(self.slot, self.index);
    }
}

fn release(slot: &'static Slot, index: u32) {
    let before = slot.word.fetch_sub(1, Ordering::AcqRel);
    if before & REFERENCES != 1 {
        return;
    }
    // The last reference (the object's is gone: it is the only one dropped while not closing).
    let file = slot.file.swap(ptr::null_mut(), Ordering::AcqRel);
    if !file.is_null() {
        // SAFETY: `file` came from Arc::into_raw in `register`, and is taken out exactly once.
        drop(unsafe { Arc::from_raw(file) });
    }
    let next = (before >> 32) + 1;
    if next > u64::from(u32::MAX) {
        // Every generation of this slot was handed out: retire it rather than let an old token
        // name a new handle (it stays at references 0, so no lookup succeeds).
        slot.word.store(u64::from(u32::MAX) << 32, Ordering::Release);
        return;
    }
    slot.word.store(next << 32, Ordering::Release);
    push_free(slot, index);
}

fn push_free(slot: &'static Slot, index: u32) {
    let mut top = FREE.load(Ordering::Acquire);
    loop {
        slot.next_free.store(top as u32, Ordering::Relaxed);
        let new = ((top >> 32).wrapping_add(1) << 32) | (u64::from(index) + 1);
        match FREE.compare_exchange_weak(top, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(now) => top = now,
        }
    }
}

fn pop_free() -> Option<u32> {
    let mut top = FREE.load(Ordering::Acquire);
    loop {
        let index = (top as u32).checked_sub(1)?;
        let next = slot(index)?.next_free.load(Ordering::Relaxed);
        let new = ((top >> 32).wrapping_add(1) << 32) | u64::from(next);
        match FREE.compare_exchange_weak(top, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(index),
            Err(now) => top = now,
        }
    }
}
