//! Hostile lengths cannot make the codec allocate: whatever a length prefix
//! claims, decoding allocates in proportion to the input it was given.
//! Counted by a global allocator, so this is its own test binary.

use ledger::{
    chain::{Block, BlockHash, ChainResponse, SigningKey, Transfer},
    codec,
    db::{CommitRecord, DbRequest, DbResponse, Found, Key, TxnId},
    ledger::{Command, LedgerRequest, TransferRequest},
};
use serde::{Serialize, de::DeserializeOwned};
use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    collections::BTreeMap,
};

struct Counting;

thread_local! {
    /// The largest single allocation (or reallocation) on this thread.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: allocations while the thread is torn down are not ours.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every call goes to `System` unchanged. Counting touches only a
// const-initialized thread-local without a destructor, which never
// allocates, so it cannot recurse into the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's guarantees for `layout`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` came from `System` with `layout`; the caller's
        // guarantees for `new_size`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The largest allocation decoding `bytes` as a `T` makes.
fn largest_allocation<T: DeserializeOwned>(bytes: &[u8]) -> usize {
    LARGEST.with(|largest| largest.set(0));
    let decoded = codec::decode::<T>(bytes).is_ok();
    std::hint::black_box(decoded);
    LARGEST.with(Cell::get)
}

/// Lengths that no input of these tests holds.
const HUGE: [u64; 4] = [1 << 20, 1 << 32, 1 << 62, u64::MAX];

/// The most a decoding of these types may allocate per byte of input: a
/// sequence preallocates at most one element per byte left, and no element
/// type here is this large.
const PER_INPUT_BYTE: usize = 256;

/// Writes every huge length over every 8 bytes of `value`'s encoding (so
/// over each of its length prefixes, wherever they are) and decodes the
/// result, and every prefix of it, as a `T`.
fn hostile_lengths_over<T: Serialize + DeserializeOwned>(value: &T) {
    let bytes = codec::encode(value);
    for at in 0..bytes.len().saturating_sub(7) {
        for len in HUGE {
            let mut hostile = bytes.clone();
            hostile[at..at + 8].copy_from_slice(&len.to_le_bytes());
            for end in [hostile.len(), at + 8, at + 9] {
                let input = &hostile[..end.min(hostile.len())];
                let largest = largest_allocation::<T>(input);
                assert!(
                    largest <= PER_INPUT_BYTE * input.len(),
                    "decoding {} bytes claiming a length of {len} at {at} allocated {largest} bytes",
                    input.len()
                );
            }
        }
    }
}

#[test]
fn a_bare_huge_length_allocates_nothing_much() {
    for len in HUGE {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        // Strings and bytes: refused from the prefix, nothing allocated.
        assert_eq!(largest_allocation::<String>(&bytes), 0);
        // Sequences: room for the 3 elements the input could still hold.
        assert!(largest_allocation::<Vec<u8>>(&bytes) <= 3);
        assert!(largest_allocation::<Vec<u64>>(&bytes) <= 3 * 8);
        assert!(largest_allocation::<Vec<String>>(&bytes) <= 3 * 24);
        assert!(largest_allocation::<Vec<Vec<u8>>>(&bytes) <= 3 * 24);
        assert!(largest_allocation::<BTreeMap<String, Vec<u8>>>(&bytes) <= 1024);
    }
}

#[test]
fn hostile_lengths_in_the_systems_messages() {
    let request = TransferRequest {
        request_id: "req-1".to_owned(),
        account: "alice".to_owned(),
        to_address: "user-7".to_owned(),
        amount: 5,
    };
    hostile_lengths_over(&vec![Command::Transfer {
        client: 1,
        request: request.clone(),
    }]);
    hostile_lengths_over(&LedgerRequest::Transfer { client: 2, request });
    let tx = SigningKey::derive(1, "w").sign(Transfer {
        from: "w".to_owned(),
        nonce: 0,
        to: "user-1".to_owned(),
        amount: 1,
        fee: 1,
        memo: "m".to_owned(),
    });
    hostile_lengths_over(&ChainResponse::Blocks {
        from_height: 1,
        blocks: vec![Block::new(1, BlockHash(0), 0, vec![tx])],
        height: 1,
    });
    let txn = TxnId(1);
    hostile_lengths_over(&DbRequest::Put {
        txn,
        table: "t".to_owned(),
        key: Key::Str("k".to_owned()),
        value: vec![1, 2, 3],
    });
    hostile_lengths_over(&DbResponse::Rows(vec![(
        Key::Int(1),
        Found {
            value: vec![4],
            version: Some(2),
        },
    )]));
    hostile_lengths_over(&CommitRecord {
        txn,
        seq: 1,
        writes: vec![("t".to_owned(), Key::Int(1), Some(vec![5]))],
    });
    hostile_lengths_over(&BTreeMap::from([("k".to_owned(), vec![1u8, 2])]));
}
