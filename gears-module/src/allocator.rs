//! The module's global allocator: Redis' allocator for blocks of
//! [`SMALL_BLOCK`] bytes and more, the process allocator for smaller ones.
//!
//! Memory taken through Redis' allocator (`RedisModule_Alloc`) shows in
//! `INFO memory` and counts against `maxmemory`, as RedisGears' own memory does.
//! But Redis pays for that bookkeeping on every call (it asks the allocator for the
//! usable size of each block, both ways), and the per-event paths of registrations
//! make and drop a dozen small blocks per event (benchmarks.md B1: about 14% of a
//! sync trigger's instructions went to it). Small blocks are short-lived; the
//! memory that lasts and grows (execution results, records, batches, registrations'
//! plans) is made of larger blocks, which stay accounted.
//!
//! Which allocator owns a block follows from its layout alone, which Rust passes to
//! every deallocation, so a block always goes back where it came from.

use redis_module::alloc::RedisAlloc;
use redis_module::raw;
use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks smaller than this (and aligned to at most 16 bytes) come from the
/// process allocator.
const SMALL_BLOCK: usize = 256;

/// See the module documentation.
#[derive(Debug, Default, Clone, Copy)]
pub struct GearsAlloc;

fn small(layout: Layout) -> bool {
    layout.size() < SMALL_BLOCK && layout.align() <= 16
}

// SAFETY: every block is allocated and freed by the same allocator (chosen by its
// layout, which is the same at allocation and deallocation), and both allocators
// uphold the GlobalAlloc contract.
unsafe impl GlobalAlloc for GearsAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        unsafe {
            if small(layout) {
                System.alloc(layout)
            } else {
                RedisAlloc.alloc(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout, so from this allocator.
        unsafe {
            if small(layout) {
                System.dealloc(ptr, layout)
            } else {
                RedisAlloc.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout for the new size.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (small(layout), small(new_layout)) {
            // SAFETY: the block stays with the process allocator that made it.
            (true, true) => unsafe { System.realloc(ptr, layout, new_size) },
            // A growing buffer (results, replies) stays with Redis, which resizes it
            // in place when it can. Redis' blocks are 16-byte aligned (`small` sent
            // larger alignments here, so they take the copying path below).
            // SAFETY: `ptr` came from RedisAlloc (RedisModule_Alloc) with this layout.
            (false, false) if layout.align() <= 16 => unsafe {
                match raw::RedisModule_Realloc {
                    Some(realloc) => realloc(ptr.cast(), new_size).cast(),
                    None => std::ptr::null_mut(),
                }
            },
            // SAFETY: the block moves between allocators: a new block, the bytes
            // both have, then the old block freed where it came from.
            _ => unsafe {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_follows_the_block_size() {
        assert!(small(Layout::from_size_align(255, 8).expect("layout")));
        assert!(!small(Layout::from_size_align(256, 8).expect("layout")));
        assert!(!small(Layout::from_size_align(16, 64).expect("layout")));
    }
}
