//! The codec against bincode 1.3, the encoder it replaced (a dev-dependency
//! kept for these tests only): the same bytes for every value, the same
//! values back, and on any input, the same outcome, down to the text of
//! the error.
//!
//! Types private to other modules are checked there, with the helpers
//! here (`log::protocol`, `log::wal`).

use proptest::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};
use std::{collections::BTreeMap, fmt::Debug};

use crate::{
    chain::{Accepted, Block, BlockHash, ChainEvent, ChainRequest, ChainResponse, Receipt},
    chain::{SigningKey, SubmitError, Transaction, Transfer, TxHash},
    codec::{self, CodecError},
    db::{CommitRecord, DbEvent, DbRequest, DbResponse, Found, Isolation, Key, Row, ScanRange},
    db::{Op, OpResult, TxnError, TxnId},
    ledger::schema::{Claim, NonceRow, OutboxRow, Payout},
    ledger::{BalanceReply, StatusReply, TransferId, TransferReply, TransferRequest},
    ledger::{Command, Confirmation, LedgerEvent, LedgerRequest, LedgerResponse, Rejection},
    log::{AppendReply, ClientAppend, Entry, EntryId, EntryKind, LogEvent},
    net::MAX_MESSAGE_BYTES,
    observe::{Event, Fate, NodeName},
};

/// Encodes `value` with both and asserts the bytes are the same.
pub(crate) fn same_bytes<T: Serialize + Debug + ?Sized>(value: &T) -> Vec<u8> {
    let ours = codec::encode(value);
    let theirs = bincode::serialize(value).expect("bincode encodes every value we test");
    assert_eq!(ours, theirs, "the encodings of {value:?} differ");
    ours
}

/// Asserts the same bytes, and that decoding them with either gives the
/// value back (as far as its encoding shows: not every type has
/// `PartialEq`, and a NaN is not equal to itself). Returns our decoding.
pub(crate) fn round_trip<T: Serialize + DeserializeOwned + Debug>(value: &T) -> T {
    let bytes = same_bytes(value);
    let ours: T = codec::decode(&bytes).expect("the codec decodes its own encoding");
    assert_eq!(
        codec::encode(&ours),
        bytes,
        "{value:?} came back as {ours:?}"
    );
    let theirs: T = bincode::deserialize(&bytes).expect("bincode decodes the codec's encoding");
    assert_eq!(codec::encode(&theirs), bytes);
    ours
}

/// Decoding `bytes` as a `T` ends the same with both: the same value, or
/// an error with the same text. With the network's limit too, which
/// bincode (given a slice) never applied, and which bodies, being no
/// longer than it, never reach.
pub(crate) fn same_decoding<T: Serialize + DeserializeOwned>(bytes: &[u8]) {
    let outcome = |result: Result<T, String>| result.map(|value| codec::encode(&value));
    let ours = outcome(codec::decode::<T>(bytes).map_err(|e| e.to_string()));
    let theirs = outcome(bincode::deserialize::<T>(bytes).map_err(|e| e.to_string()));
    assert_eq!(ours, theirs, "decoding {bytes:?}");
    if bytes.len() <= MAX_MESSAGE_BYTES {
        let limited = outcome(
            codec::decode_limited::<T>(bytes, MAX_MESSAGE_BYTES).map_err(|e| e.to_string()),
        );
        assert_eq!(
            limited, theirs,
            "decoding {bytes:?} with the network's limit"
        );
    }
}

/// Everything [`round_trip`] checks for each value, and [`same_decoding`]
/// for every truncation of its encoding and every byte of it changed.
pub(crate) fn exercise<T: Serialize + DeserializeOwned + Debug>(values: &[T]) {
    for value in values {
        round_trip(value);
        let bytes = codec::encode(value);
        for end in 0..bytes.len() {
            same_decoding::<T>(&bytes[..end]);
        }
        for at in 0..bytes.len() {
            let changes: [fn(u8) -> u8; 4] = [|b| b.wrapping_add(1), |b| b ^ 0x80, |_| 0xff, |_| 0];
            for change in changes {
                let mut mutated = bytes.clone();
                mutated[at] = change(mutated[at]);
                same_decoding::<T>(&mutated);
            }
        }
    }
}

// ---- Many shapes ------------------------------------------------------

/// Written through `serialize_bytes` (serde writes a `Vec<u8>` as a
/// sequence of `u8`s; the bytes path is another one).
#[derive(Debug, Clone)]
struct Blob(Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Blob, D::Error> {
        struct BlobVisitor;
        impl serde::de::Visitor<'_> for BlobVisitor {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Blob, E> {
                Ok(Blob(bytes.to_vec()))
            }
            fn visit_byte_buf<E>(self, bytes: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(bytes))
            }
        }
        deserializer.deserialize_byte_buf(BlobVisitor)
    }
}

/// Read through `deserialize_str`, borrowing (the other string path).
#[derive(Debug, Clone)]
struct Borrowed(String);

impl Serialize for Borrowed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Borrowed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Borrowed, D::Error> {
        <&str>::deserialize(deserializer).map(|text| Borrowed(text.to_owned()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ints {
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    e: u128,
    f: usize,
    g: i8,
    h: i16,
    i: i32,
    j: i64,
    k: i128,
    l: isize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Marker;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wrapper(u64);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pair(i16, char);

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Variant {
    Unit,
    Newtype(String),
    Tuple(u32, Option<bool>, char),
    Struct {
        id: i64,
        blob: Blob,
        inner: Vec<Variant>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Everything {
    ints: Ints,
    floats: (f32, f64),
    flag: bool,
    letter: char,
    text: String,
    borrowed: Borrowed,
    blob: Blob,
    unit: (),
    marker: Marker,
    wrapper: Wrapper,
    pair: Pair,
    maybe: Option<Option<String>>,
    variants: Vec<Variant>,
    map: BTreeMap<String, Vec<i32>>,
    keyed: BTreeMap<(u8, char), Option<Variant>>,
    tuple: (u8, String, Option<i64>),
    array: [u16; 3],
    nested: Vec<Vec<Option<bool>>>,
}

fn ints() -> impl Strategy<Value = Ints> {
    (
        (any::<u8>(), any::<u16>(), any::<u32>(), any::<u64>()),
        (any::<u128>(), any::<usize>(), any::<i8>(), any::<i16>()),
        (any::<i32>(), any::<i64>(), any::<i128>(), any::<isize>()),
    )
        .prop_map(|((a, b, c, d), (e, f, g, h), (i, j, k, l))| Ints {
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            h,
            i,
            j,
            k,
            l,
        })
}

fn variant() -> impl Strategy<Value = Variant> {
    let leaf = prop_oneof![
        Just(Variant::Unit),
        any::<String>().prop_map(Variant::Newtype),
        (any::<u32>(), any::<Option<bool>>(), any::<char>())
            .prop_map(|(a, b, c)| Variant::Tuple(a, b, c)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        (
            any::<i64>(),
            proptest::collection::vec(any::<u8>(), 0..16),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(id, blob, inner)| Variant::Struct {
                id,
                blob: Blob(blob),
                inner,
            })
    })
}

fn everything() -> impl Strategy<Value = Everything> {
    use proptest::collection::vec as small;
    (
        (
            ints(),
            any::<(f32, f64)>(),
            any::<bool>(),
            any::<char>(),
            any::<String>(),
            any::<String>(),
            small(any::<u8>(), 0..32),
        ),
        (
            any::<u64>(),
            any::<(i16, char)>(),
            any::<Option<Option<String>>>(),
            small(variant(), 0..4),
            proptest::collection::btree_map(any::<String>(), small(any::<i32>(), 0..4), 0..4),
            proptest::collection::btree_map(
                any::<(u8, char)>(),
                proptest::option::of(variant()),
                0..3,
            ),
            any::<(u8, String, Option<i64>)>(),
            any::<[u16; 3]>(),
            small(small(any::<Option<bool>>(), 0..3), 0..3),
        ),
    )
        .prop_map(
            |(
                (ints, floats, flag, letter, text, borrowed, blob),
                (wrapper, pair, maybe, variants, map, keyed, tuple, array, nested),
            )| Everything {
                ints,
                floats,
                flag,
                letter,
                text,
                borrowed: Borrowed(borrowed),
                blob: Blob(blob),
                unit: (),
                marker: Marker,
                wrapper: Wrapper(wrapper),
                pair: Pair(pair.0, pair.1),
                maybe,
                variants,
                map,
                keyed,
                tuple,
                array,
                nested,
            },
        )
}

/// Encoded only, like the trace's events: an internally tagged enum (serde
/// writes it as a map), nested in another, with skipped fields.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Tagged {
    Plain,
    Fields {
        a: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<String>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        c: bool,
    },
    Inner(Inner),
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "inner", rename_all = "kebab-case")]
enum Inner {
    One { x: i32 },
    Two { y: String, z: char },
}

fn tagged() -> impl Strategy<Value = Tagged> {
    prop_oneof![
        Just(Tagged::Plain),
        (any::<u64>(), any::<Option<String>>(), any::<bool>())
            .prop_map(|(a, b, c)| Tagged::Fields { a, b, c }),
        any::<i32>().prop_map(|x| Tagged::Inner(Inner::One { x })),
        (any::<String>(), any::<char>()).prop_map(|(y, z)| Tagged::Inner(Inner::Two { y, z })),
    ]
}

proptest! {
    #[test]
    fn every_shape_encodes_as_bincode_did_and_round_trips(value in everything()) {
        round_trip(&value);
    }

    #[test]
    fn changed_encodings_decode_as_bincode_did(
        value in everything(),
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = codec::encode(&value);
        for (at, byte) in changes {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        same_decoding::<Everything>(&bytes);
        same_decoding::<Everything>(&bytes[..cut.index(bytes.len())]);
    }

    #[test]
    fn tagged_enums_and_skipped_fields_encode_as_bincode_did(
        values in proptest::collection::vec(tagged(), 0..4),
    ) {
        same_bytes(&values);
        for value in &values {
            same_bytes(&(7u64, "node", value));
        }
    }

    #[test]
    fn random_bytes_decode_as_bincode_did(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        same_decoding::<Everything>(&bytes);
        same_decoding::<Vec<Variant>>(&bytes);
        same_decoding::<(bool, char, Option<u8>, String)>(&bytes);
        same_decoding::<BTreeMap<u16, Blob>>(&bytes);
        same_decoding::<ChainRequest>(&bytes);
        same_decoding::<ChainResponse>(&bytes);
        same_decoding::<DbRequest>(&bytes);
        same_decoding::<DbResponse>(&bytes);
        same_decoding::<LedgerRequest>(&bytes);
        same_decoding::<LedgerResponse>(&bytes);
        same_decoding::<Vec<Command>>(&bytes);
        same_decoding::<OutboxRow>(&bytes);
        same_decoding::<CommitRecord>(&bytes);
    }
}

// ---- Hostile lengths --------------------------------------------------

/// A length prefix of `len`, then a few bytes.
fn claims(len: u64) -> Vec<u8> {
    let mut bytes = len.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[1, 2, 3]);
    bytes
}

/// Lengths the input cannot hold are errors, found from the prefix, for
/// every kind of length-prefixed value. (That nothing is allocated for
/// them is shown by `tests/codec_allocation.rs`, which counts.)
#[test]
fn impossible_lengths_are_errors() {
    for len in [4, 1 << 20, 1 << 40, u64::MAX] {
        let bytes = claims(len);
        assert!(matches!(
            codec::decode::<String>(&bytes),
            Err(CodecError::LengthPastEnd { remaining: 3, .. })
        ));
        assert!(matches!(
            codec::decode::<Blob>(&bytes),
            Err(CodecError::LengthPastEnd { remaining: 3, .. })
        ));
        assert!(codec::decode::<Vec<u8>>(&bytes).is_err());
        assert!(codec::decode::<Vec<String>>(&bytes).is_err());
        assert!(codec::decode::<BTreeMap<u64, u64>>(&bytes).is_err());
        assert!(codec::decode::<DbRequest>(&[[1, 0, 0, 0].as_slice(), &bytes].concat()).is_err());
        same_decoding::<String>(&bytes);
        same_decoding::<Vec<u64>>(&bytes);
        same_decoding::<BTreeMap<u64, u64>>(&bytes);
    }
}

/// Past the input is the error bincode gave, limit or not; within the
/// input but past the limit is the limit's.
#[test]
fn the_input_is_checked_before_the_limit() {
    let bytes = claims(1 << 30);
    assert!(matches!(
        codec::decode_limited::<String>(&bytes, MAX_MESSAGE_BYTES),
        Err(CodecError::LengthPastEnd { .. })
    ));
    let text = codec::encode(&"x".repeat(MAX_MESSAGE_BYTES));
    assert!(matches!(
        codec::decode_limited::<String>(&text, MAX_MESSAGE_BYTES),
        Err(CodecError::LimitExceeded)
    ));
    assert_eq!(
        codec::decode_limited::<String>(&text, MAX_MESSAGE_BYTES + 8)
            .map(|t| t.len())
            .ok(),
        Some(MAX_MESSAGE_BYTES)
    );
}

// ---- The system's own types -------------------------------------------

fn transfer(nonce: u64, memo: &str) -> Transaction {
    SigningKey::derive(42, "hot-wallet").sign(Transfer {
        from: "hot-wallet".to_owned(),
        nonce,
        to: "user-123".to_owned(),
        amount: 1_000_000,
        fee: 3,
        memo: memo.to_owned(),
    })
}

fn block() -> Block {
    Block::new(
        7,
        BlockHash(0xdead_beef),
        99,
        vec![transfer(0, "tr-1"), transfer(1, "ünïcødé ✓")],
    )
}

fn request(id: &str) -> TransferRequest {
    TransferRequest {
        request_id: id.to_owned(),
        account: "alice".to_owned(),
        to_address: "user-42".to_owned(),
        amount: 250,
    }
}

fn rejections() -> Vec<Rejection> {
    vec![
        Rejection::EmptyRequestId,
        Rejection::RequestIdTooLong,
        Rejection::FieldTooLong,
        Rejection::ZeroAmount,
        Rejection::AmountTooLarge { amount: u64::MAX },
        Rejection::UnknownAccount("mallory".to_owned()),
        Rejection::MalformedAddress("user-x".to_owned()),
        Rejection::Overdraw {
            account: "alice".to_owned(),
            balance: 10,
            amount: 11,
        },
        Rejection::Conflict("req-1".to_owned()),
    ]
}

fn confirmation() -> Confirmation {
    Confirmation {
        tx: TxHash(17),
        nonce: 3,
        height: 12,
        depth: 6,
    }
}

#[test]
fn chain_messages() {
    let tx = transfer(5, "tr-0000000000000001");
    // A transaction's hash and signature are digests of these bytes.
    assert_eq!(round_trip(&tx), tx);
    assert_eq!(round_trip(&block()), block());
    exercise(&[
        ChainRequest::Submit(tx.clone()),
        ChainRequest::Blocks {
            after_height: 3,
            after_hash: BlockHash(u64::MAX),
            wait_us: 700_000,
        },
        ChainRequest::Account {
            address: "user-7".to_owned(),
        },
        ChainRequest::Receipt { hash: tx.hash() },
        ChainRequest::Receipts {
            hashes: vec![tx.hash(), TxHash(7)],
        },
        ChainRequest::Height,
    ]);
    let responses = vec![
        ChainResponse::Submitted(Ok(Accepted::New)),
        ChainResponse::Submitted(Ok(Accepted::Known)),
        ChainResponse::Submitted(Ok(Accepted::Replaced {
            previous: TxHash(1),
        })),
        ChainResponse::Submitted(Err(SubmitError::UnknownSender("eve".to_owned()))),
        ChainResponse::Submitted(Err(SubmitError::BadSignature)),
        ChainResponse::Submitted(Err(SubmitError::NonceTooLow {
            from: "hot-wallet".to_owned(),
            next: 9,
        })),
        ChainResponse::Submitted(Err(SubmitError::InsufficientFunds {
            from: "hot-wallet".to_owned(),
            balance: 1,
            cost: 2,
        })),
        ChainResponse::Submitted(Err(SubmitError::ReplacementUnderpriced { pending_fee: 4 })),
        ChainResponse::Submitted(Err(SubmitError::Overflow)),
        ChainResponse::Submitted(Err(SubmitError::MemoTooLong)),
        ChainResponse::Submitted(Err(SubmitError::MempoolFull)),
        ChainResponse::Blocks {
            from_height: 7,
            blocks: vec![block(), Block::new(8, block().hash, 1, vec![])],
            height: 8,
        },
        ChainResponse::Account {
            balance: 100,
            next_nonce: 2,
        },
        ChainResponse::Receipt(Some(Receipt {
            height: 5,
            confirmations: 3,
        })),
        ChainResponse::Receipt(None),
        ChainResponse::Receipts(vec![
            None,
            Some(Receipt {
                height: 2,
                confirmations: 1,
            }),
        ]),
        ChainResponse::Height(0),
        ChainResponse::Rejected {
            reason: "malformed request: io error: ".to_owned(),
        },
    ];
    for response in &responses {
        assert_eq!(&round_trip(response), response);
    }
    exercise(&responses);
}

#[test]
fn ledger_messages_and_rows() {
    let commands = vec![
        Command::Transfer {
            client: 3,
            request: request("req-ü"),
        },
        Command::Intent {
            transfer: TransferId::of(3, "req-ü"),
            tx: transfer(4, "tr-0000000000000002"),
        },
        Command::Confirmed {
            transfer: TransferId::of(3, "req-ü"),
            confirmation: confirmation(),
        },
    ];
    // A log entry's payload.
    assert_eq!(round_trip(&commands), commands);
    assert_eq!(
        crate::ledger::decode_batch(&same_bytes(&commands)),
        Some(commands.clone())
    );
    exercise(&[commands, vec![]]);
    exercise(&[
        LedgerRequest::Transfer {
            client: 1,
            request: request("r"),
        },
        LedgerRequest::Status {
            client: 1,
            request_ids: vec!["r".to_owned(), "s".to_owned()],
            seen: 77,
        },
        LedgerRequest::Balance {
            client: 1,
            account: "acct-0".to_owned(),
            seen: 78,
        },
    ]);
    let transfer_id = TransferId(0x1234);
    let mut responses = vec![
        LedgerResponse::Transfer {
            reply: TransferReply::Accepted {
                transfer: transfer_id,
            },
            as_of: 1,
        },
        LedgerResponse::Transfer {
            reply: TransferReply::Unavailable {
                reason: "no leader".to_owned(),
            },
            as_of: 2,
        },
        LedgerResponse::Malformed {
            reason: "malformed request: string is not valid utf8".to_owned(),
        },
    ];
    for status in [
        StatusReply::NotFound,
        StatusReply::Pending {
            transfer: transfer_id,
        },
        StatusReply::Submitted {
            transfer: transfer_id,
            tx: TxHash(5),
        },
        StatusReply::Confirmed {
            transfer: transfer_id,
            tx: TxHash(5),
            height: 10,
            depth: 6,
        },
        StatusReply::Unavailable {
            reason: String::new(),
        },
    ] {
        responses.push(LedgerResponse::Status {
            replies: vec![status, StatusReply::NotFound],
            as_of: 3,
        });
    }
    for reason in rejections() {
        responses.push(LedgerResponse::Transfer {
            reply: TransferReply::Rejected {
                reason: reason.clone(),
            },
            as_of: 4,
        });
        responses.push(LedgerResponse::Status {
            replies: vec![StatusReply::Rejected { reason }],
            as_of: 5,
        });
    }
    for reply in [
        BalanceReply::Balance { amount: 12 },
        BalanceReply::UnknownAccount,
        BalanceReply::Unavailable {
            reason: "behind".to_owned(),
        },
    ] {
        responses.push(LedgerResponse::Balance { reply, as_of: 6 });
    }
    for response in &responses {
        assert_eq!(&round_trip(response), response);
    }
    exercise(&responses);

    let rows = vec![
        OutboxRow {
            transfer: transfer_id,
            to_address: "user-1".to_owned(),
            amount: 9,
            state: Payout::Pending,
            claim: None,
        },
        OutboxRow {
            transfer: transfer_id,
            to_address: "user-1".to_owned(),
            amount: 9,
            state: Payout::Signed {
                tx: transfer(2, ""),
            },
            claim: Some(Claim {
                holder: "ledger-0#3".to_owned(),
                incarnation: 3,
                until: 1_000_000_000,
            }),
        },
    ];
    for row in &rows {
        assert_eq!(&round_trip(row), row);
        // Rows travel through the schema's own encode and decode.
        assert_eq!(
            &crate::ledger::schema::decode::<OutboxRow>(&same_bytes(row)).unwrap(),
            row
        );
    }
    exercise(&rows);
    exercise(&[NonceRow {
        transfer: transfer_id,
        tx: TxHash(8),
    }]);
}

#[test]
fn database_messages_and_records() {
    let txn = TxnId((3 << 32) | 9);
    exercise(&[
        DbRequest::Begin {
            isolation: Isolation::ReadCommitted,
        },
        DbRequest::Begin {
            isolation: Isolation::Serializable,
        },
        DbRequest::Get {
            txn,
            table: "ledger_meta".to_owned(),
            key: Key::from("applied"),
        },
        DbRequest::Scan {
            txn,
            table: "ledger_outbox".to_owned(),
            range: ScanRange::Prefix("slot-".to_owned()),
            limit: 100,
        },
        DbRequest::Scan {
            txn,
            table: "ledger_nonces".to_owned(),
            range: ScanRange::Between {
                start: Key::Int(i64::MIN),
                end: Key::Int(-1),
            },
            limit: 0,
        },
        DbRequest::Put {
            txn,
            table: "t".to_owned(),
            key: Key::Int(5),
            value: vec![0, 255, 7],
        },
        DbRequest::InsertUnique {
            txn,
            table: "t".to_owned(),
            key: Key::Str("k".to_owned()),
            value: vec![],
        },
        DbRequest::CompareAndSet {
            txn,
            table: "t".to_owned(),
            key: Key::Int(0),
            expected: 4,
            value: vec![1; 40],
        },
        DbRequest::Delete {
            txn,
            table: "t".to_owned(),
            key: Key::Int(1),
        },
        DbRequest::Commit { txn },
        DbRequest::Rollback { txn },
        DbRequest::Atomic {
            isolation: Isolation::ReadCommitted,
            ops: vec![
                Op::Get {
                    table: "t".to_owned(),
                    key: Key::Int(0),
                },
                Op::Scan {
                    table: "t".to_owned(),
                    range: ScanRange::Prefix("slot-".to_owned()),
                    limit: 8,
                },
                Op::Put {
                    table: "t".to_owned(),
                    key: Key::Str("k".to_owned()),
                    value: vec![2; 3],
                },
                Op::InsertUnique {
                    table: "t".to_owned(),
                    key: Key::Int(5),
                    value: vec![],
                },
                Op::CompareAndSet {
                    table: "t".to_owned(),
                    key: Key::Int(0),
                    expected: 4,
                    value: vec![1],
                },
                Op::Delete {
                    table: "t".to_owned(),
                    key: Key::Int(1),
                },
            ],
        },
    ]);
    let found = Found {
        value: vec![9, 9],
        version: Some(3),
    };
    let responses = vec![
        DbResponse::Begun { txn },
        DbResponse::Found(Some(found.clone())),
        DbResponse::Found(None),
        DbResponse::Rows(vec![
            (Key::Int(1), found.clone()),
            (
                Key::Str("ß".to_owned()),
                Found {
                    value: vec![],
                    version: None,
                },
            ),
        ]),
        DbResponse::Done,
        DbResponse::Committed { seq: Some(12) },
        DbResponse::Committed { seq: None },
        DbResponse::AtomicCommitted {
            results: vec![
                OpResult::Found(Some(found.clone())),
                OpResult::Rows(vec![(Key::Int(1), found.clone())]),
                OpResult::Done,
            ],
            seq: Some(13),
        },
        DbResponse::Failed(TxnError::Unknown(txn)),
        DbResponse::Failed(TxnError::TooManyOpen),
        DbResponse::Failed(TxnError::TooManyWrites),
        DbResponse::Failed(TxnError::Duplicate {
            table: "t".to_owned(),
            key: Key::Int(2),
        }),
        DbResponse::Failed(TxnError::VersionMismatch {
            table: "t".to_owned(),
            key: Key::Int(2),
            expected: 1,
            actual: None,
        }),
        DbResponse::Failed(TxnError::Serialization {
            table: "t".to_owned(),
            key: Key::Str("a".to_owned()),
        }),
        DbResponse::Rejected {
            reason: "busy".to_owned(),
        },
    ];
    for response in &responses {
        assert_eq!(&round_trip(response), response);
    }
    exercise(&responses);
    let records = vec![
        CommitRecord {
            txn,
            seq: 1,
            writes: vec![
                (
                    "ledger_meta".to_owned(),
                    Key::from("applied"),
                    Some(vec![1, 2]),
                ),
                ("ledger_outbox".to_owned(), Key::Int(7), None),
            ],
        },
        CommitRecord {
            txn,
            seq: 2,
            writes: vec![],
        },
    ];
    for record in &records {
        assert_eq!(&round_trip(record), record);
    }
    exercise(&records);
    exercise(&[Row {
        value: vec![3],
        version: 1,
    }]);
}

pub(crate) fn entries() -> Vec<Entry> {
    vec![
        Entry {
            term: 1,
            kind: EntryKind::Noop,
        },
        Entry {
            term: 2,
            kind: EntryKind::Command {
                client: 4,
                seq: 5,
                data: crate::ledger::schema::encode(&vec![Command::Transfer {
                    client: 4,
                    request: request("x"),
                }]),
            },
        },
    ]
}

#[test]
fn log_messages_public_to_clients() {
    exercise(&entries());
    exercise(&[ClientAppend {
        client: 1,
        seq: 2,
        data: vec![0; 10],
        read_from: 0,
    }]);
    let replies = vec![
        AppendReply::Appended {
            index: 4,
            entries: Vec::new(),
        },
        AppendReply::Appended {
            index: 4,
            entries: entries(),
        },
        AppendReply::Stale,
        AppendReply::NotLeader {
            leader: Some("log-2".to_owned()),
        },
        AppendReply::NotLeader { leader: None },
        AppendReply::Busy,
        AppendReply::Rejected {
            reason: "too big".to_owned(),
        },
        AppendReply::Swapped {
            index: 9,
            swapped: true,
        },
    ];
    for reply in &replies {
        assert_eq!(&round_trip(reply), reply);
    }
    exercise(&replies);
}

/// The trace hashes `(time, node, event)` through these bytes; events are
/// never decoded.
#[test]
fn trace_events() {
    let events = vec![
        Event::Boot { incarnation: 2 },
        Event::CrashPoint {
            point: crate::fault_points::CrashPoint::LogAppendBeforeSync,
        },
        Event::ReplyLost {
            point: crate::fault_points::ReplyPoint::DbCommitReply,
        },
        Event::Message {
            to: NodeName::new("db"),
            kind: "Atomic",
            bytes: 120,
            fate: Fate::Sent,
            latency_us: 1_000,
            delay_us: 0,
            duplicate_after_us: None,
        },
        Event::Message {
            to: NodeName::new("chain"),
            kind: "Submit",
            bytes: 7,
            fate: Fate::Delayed,
            latency_us: 2_999,
            delay_us: 1_500,
            duplicate_after_us: Some(2_000_000),
        },
        Event::Message {
            to: NodeName::new("ledger-1"),
            kind: "Status",
            bytes: 0,
            fate: Fate::Dropped,
            latency_us: 0,
            delay_us: 0,
            duplicate_after_us: None,
        },
        Event::Message {
            to: NodeName::new("ledger-2"),
            kind: "",
            bytes: u32::MAX,
            fate: Fate::Cut,
            latency_us: u64::MAX,
            delay_us: 0,
            duplicate_after_us: Some(1),
        },
        Event::Log(LogEvent::Recovered {
            term: 1,
            last_index: 2,
            commit: 3,
        }),
        Event::Log(LogEvent::Elected { term: 4 }),
        Event::Log(LogEvent::Voted {
            term: 4,
            candidate: "log-2".to_owned(),
        }),
        Event::Log(LogEvent::SteppedDown { term: 5 }),
        Event::Log(LogEvent::Refused {
            client: u64::MAX,
            bytes: 4097,
        }),
        Event::Log(LogEvent::Applied {
            index: 6,
            term: 7,
            entry: EntryId::Noop,
            duplicate: false,
            commands: 0,
        }),
        Event::Log(LogEvent::Applied {
            index: 6,
            term: 7,
            entry: EntryId::Command { client: 1, seq: 2 },
            duplicate: true,
            commands: 8,
        }),
        Event::Db(DbEvent::Recovered {
            last_commit: 3,
            commits: 3,
        }),
        Event::Db(DbEvent::Committed { txn: 1, seq: 2 }),
        Event::Chain(ChainEvent::Block {
            height: 1,
            hash: crate::chain::BlockHash(2),
            included: vec![crate::chain::TxHash(3), crate::chain::TxHash(u64::MAX)],
        }),
        Event::Chain(ChainEvent::Forgotten { transactions: 4 }),
        Event::Ledger(LedgerEvent::Appended {
            client: 1,
            index: 2,
            transfer: crate::ledger::TransferId(3),
        }),
        Event::Ledger(LedgerEvent::Folded {
            applied: 3,
            unconfirmed: 4,
        }),
        Event::Ledger(LedgerEvent::Projected { from: 5, to: 6 }),
        Event::Ledger(LedgerEvent::Signed {
            transfer: crate::ledger::TransferId(7),
            nonce: 8,
            tx: crate::chain::TxHash(9),
        }),
        Event::Ledger(LedgerEvent::Submitted {
            transfer: crate::ledger::TransferId(7),
            tx: crate::chain::TxHash(9),
        }),
        Event::Ledger(LedgerEvent::Claimed {
            transfer: crate::ledger::TransferId(10),
            from: "ledger-0#1".to_owned(),
        }),
        Event::Ledger(LedgerEvent::Database { reachable: false }),
        Event::Ledger(LedgerEvent::Confirming {
            transfer: crate::ledger::TransferId(11),
            tx: crate::chain::TxHash(12),
            height: 13,
            depth: 14,
        }),
    ];
    same_bytes(&events);
    for (time, event) in events.iter().enumerate() {
        let bytes = same_bytes(&(time as u64 * 1_000, NodeName::new("log-1"), event));
        let mut digest = crate::stable_hash::Fnv1a::default();
        digest.update(&bytes);
        assert_eq!(
            crate::stable_hash::stable_hash(&(time as u64 * 1_000, NodeName::new("log-1"), event)),
            digest.digest()
        );
    }
}
