//! The exports Fluent Bit's `filter_wasm` calls: one filter function per
//! [`Keep`] policy, and `malloc`/`free` for the copies it makes of each
//! record.
//!
//! Fluent Bit (WAMR) calls a filter function with
//! `(tag_ptr, tag_len, time_sec, time_nsec, record_ptr, record_len)` and
//! reads a NUL-terminated string at the address it returns, which it copies
//! before the next call. The instance is single-threaded and lives as long
//! as the filter (Fluent Bit 4.1.0 and later), so its state is one global.

use std::alloc::{Layout, alloc, dealloc};
use std::cell::UnsafeCell;

use crate::filter::{Filter, Keep};

/// The instance's state. A WebAssembly instance runs one call at a time
/// and this module has no threads, so `Sync` is never exercised.
struct State(UnsafeCell<Instance>);

// SAFETY: see above: one thread, one call at a time.
unsafe impl Sync for State {}

struct Instance {
    /// Loaded on the first record (Fluent Bit calls nothing at start-up).
    filter: Option<Filter>,
    /// Set while a call runs. Set at entry means the previous call never
    /// returned: it trapped (WAMR's stack ran out, most likely) and its
    /// record was dropped by Fluent Bit, which logs the trap. The engine
    /// may have been left half-way through an update, so it is loaded
    /// afresh (correlation windows start empty), as the `sigil` host
    /// replaces a trapped instance.
    busy: bool,
    /// The answer buffer of `sigil_passthrough`.
    passthrough: Vec<u8>,
}

static STATE: State = State(UnsafeCell::new(Instance {
    filter: None,
    busy: false,
    passthrough: Vec::new(),
}));

fn call(record_ptr: *const u8, record_len: u32, keep: Keep) -> *const u8 {
    // SAFETY: one call at a time (see `State`), and no call re-enters:
    // nothing below calls back into these exports.
    let instance = unsafe { &mut *STATE.0.get() };
    if instance.busy {
        instance.filter = None;
    }
    instance.busy = true;
    let record = if record_ptr.is_null() {
        None
    } else {
        // SAFETY: Fluent Bit copied `record_len` bytes there (WAMR
        // allocated them with `malloc` below) and frees them only after
        // this call returns.
        Some(unsafe { std::slice::from_raw_parts(record_ptr, record_len as usize) })
    };
    let filter = instance.filter.get_or_insert_with(Filter::embedded);
    let answer = filter.answer(record, record_len, keep).as_ptr();
    instance.busy = false;
    answer
}

macro_rules! filter_functions {
    ($($(#[$doc:meta])* $name:ident => $keep:expr;)*) => {$(
        $(#[$doc])*
        #[unsafe(no_mangle)]
        pub extern "C" fn $name(
            _tag_ptr: *const u8,
            _tag_len: u32,
            _time_sec: u32,
            _time_nsec: u32,
            record_ptr: *const u8,
            record_len: u32,
        ) -> *const u8 {
            call(record_ptr, record_len, $keep)
        }
    )*};
}

filter_functions! {
    /// Every record, with its verdict ([`Keep::All`]).
    sigil_filter => Keep::All;
    /// Records with findings ([`Keep::Matched`]).
    sigil_filter_matched => Keep::Matched;
    /// Records scoring 30 (low) or more ([`Keep::MinScore`]).
    sigil_filter_min_score_30 => Keep::MinScore(30);
    /// Records scoring 50 (medium) or more ([`Keep::MinScore`]).
    sigil_filter_min_score_50 => Keep::MinScore(50);
    /// Records scoring 75 (high) or more ([`Keep::MinScore`]).
    sigil_filter_min_score_75 => Keep::MinScore(75);
    /// Records scoring 100 (critical) ([`Keep::MinScore`]).
    sigil_filter_min_score_100 => Keep::MinScore(100);
    /// Records that carry correlation alerts ([`Keep::Alerts`]).
    sigil_filter_alerts => Keep::Alerts;
}

/// No detection: each record comes back as it came (copied into the answer
/// buffer). What crossing into WebAssembly costs with this module's ABI, the
/// baseline of the throughput benchmarks; not for pipelines.
#[unsafe(no_mangle)]
pub extern "C" fn sigil_passthrough(
    _tag_ptr: *const u8,
    _tag_len: u32,
    _time_sec: u32,
    _time_nsec: u32,
    record_ptr: *const u8,
    record_len: u32,
) -> *const u8 {
    // SAFETY: as in `call`.
    let instance = unsafe { &mut *STATE.0.get() };
    let answer = &mut instance.passthrough;
    answer.clear();
    if !record_ptr.is_null() {
        // SAFETY: as in `call`.
        answer.extend_from_slice(unsafe {
            std::slice::from_raw_parts(record_ptr, record_len as usize)
        });
    }
    answer.push(0);
    answer.as_ptr()
}

/// Bytes in front of each `malloc` block: its size, for `free`.
const HEADER: usize = 8;

/// Allocates `size` bytes for WAMR's copies of the tag and the record.
/// Exporting `malloc` and `free` makes WAMR allocate those copies here
/// instead of in its app heap (`wasm_heap_size`, 8 KiB by default), so a
/// record is limited only by the memory the instance can grow to. Returns
/// 0 when that is exhausted (WAMR then calls the filter with
/// `record_ptr = 0`).
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut u8 {
    let Some(layout) = size
        .checked_add(HEADER)
        .and_then(|total| Layout::from_size_align(total, HEADER).ok())
    else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout is not zero-sized (it holds the header).
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return base;
    }
    // SAFETY: `base` points at `HEADER + size` bytes aligned to `HEADER`.
    unsafe {
        base.cast::<usize>().write(layout.size());
        base.add(HEADER)
    }
}

/// Frees a block `malloc` returned (0 is ignored).
///
/// # Safety
///
/// `ptr` is 0 or came from [`malloc`] and was not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `malloc` wrote the block's size `HEADER` bytes before `ptr`,
    // with this alignment.
    unsafe {
        let base = ptr.sub(HEADER);
        let size = base.cast::<usize>().read();
        dealloc(base, Layout::from_size_align_unchecked(size, HEADER));
    }
}
