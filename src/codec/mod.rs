//! The byte encoding of everything the system sends, stores or hashes:
//! network messages, write-ahead log records, database rows, log entries'
//! command batches, and the input of [`crate::stable_hash`].
//!
//! # Why our own
//!
//! The system used `bincode` 1.3, which is unmaintained (RUSTSEC-2025-0141).
//! Its bytes cannot simply change with a replacement: transaction hashes,
//! signatures, transfer ids and every simulation's trace hash are digests of
//! them, and message sizes (which the trace records) are their lengths. So
//! this codec writes exactly what bincode 1.3's top-level `serialize` wrote,
//! byte for byte, and reads what it read. The compatibility tests (in
//! `compat.rs`, against bincode kept as a dev-dependency only) hold it to that.
//!
//! # The format
//!
//! bincode 1.3's "legacy" defaults: fixed-width little-endian, not
//! self-describing, nothing written for names.
//!
//! | value | bytes |
//! |---|---|
//! | `u8`..`u128`, `i8`..`i128` | fixed width, little-endian; `usize`/`isize` as 8 |
//! | `bool` | one byte, 0 or 1 (any other byte does not decode) |
//! | `f32`, `f64` | their IEEE bits, little-endian |
//! | `char` | its UTF-8 bytes, no length |
//! | `str`, bytes | `u64` length, then the bytes |
//! | sequence, map | `u64` length, then the elements (keys and values alternating) |
//! | `Option` | `0`, or `1` then the value |
//! | unit, unit struct | nothing |
//! | newtype struct | the inner value |
//! | tuple, tuple struct, struct | the fields in order, no length |
//! | enum | the variant's index as `u32`, then its fields as above |
//!
//! A sequence or map must know its length before it is written (serde's
//! derives always do; a hand-written `Serialize` that streams does not
//! encode). A field skipped by `skip_serializing_if` writes nothing, so only
//! types that are never decoded may use it; internally tagged enums encode
//! as a map of their tag and fields, and cannot be decoded either (serde
//! decodes them through `deserialize_any`, which a format that writes no
//! names or types cannot offer). The trace's events are both, and are only
//! ever hashed.
//!
//! # Decoding untrusted bytes
//!
//! Network bodies, disk records and rows may be anything. Decoding never
//! panics, and never allocates for a length prefix more than the input (or
//! the byte limit, see [`decode_limited`]) still holds: a string or byte
//! string longer than that is an error before anything is allocated, and a
//! sequence preallocates at most one element per byte left. Bytes after the
//! value are ignored, as bincode 1.3's `deserialize` ignored them.
//!
//! One thing the format allows that no bound here catches: a sequence of
//! zero-sized elements (`Vec<()>`) of a huge length decodes by looping that
//! many times without reading a byte. No message of the system has one.

pub mod bytes;
mod de;
mod ser;

#[cfg(test)]
pub(crate) mod compat;

use serde::{Serialize, de::DeserializeOwned};
use std::{fmt::Display, io, str::Utf8Error};
use thiserror::Error;

/// Why a value did not encode or decode.
///
/// The texts of the errors that decoding can meet at run time are
/// bincode 1.3's, word for word: nodes send them back in "malformed
/// request" replies, whose sizes are traced, so a changed text would change
/// trace hashes.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The input ended inside a fixed-width value (an integer, a length, a
    /// tag).
    #[error("io error: unexpected end of file")]
    UnexpectedEnd,
    /// A length prefix promises more bytes than the input holds. (bincode
    /// 1.3 reported this as an I/O error with an empty message.)
    #[error("io error: ")]
    LengthPastEnd { len: u64, remaining: usize },
    /// Decoding would read more than the limit given to [`decode_limited`].
    #[error("the size limit has been reached")]
    LimitExceeded,
    /// A length prefix that does not fit this platform's `usize`.
    #[error("Invalid size {0}: sizes must fit in a usize (0 to {max})", max = usize::MAX)]
    LengthOverflow(u64),
    #[error("string is not valid utf8: {0}")]
    InvalidUtf8(Utf8Error),
    #[error("invalid u8 while decoding bool, expected 0 or 1, found {0}")]
    InvalidBool(u8),
    #[error("char is not valid")]
    InvalidChar,
    /// An `Option`'s tag byte is neither 0 nor 1.
    #[error("tag for enum is not valid, found {0}")]
    InvalidOptionTag(u8),
    /// A type asked the decoder what comes next (`deserialize_any`,
    /// `deserialize_ignored_any`, `deserialize_identifier`): this format
    /// does not say. A type that does this can never decode.
    #[error("the encoding is not self-describing: {0} is not supported")]
    NotSelfDescribing(&'static str),
    /// A sequence or map that does not know its length before it is written.
    #[error("sequences and maps must know their length before they are encoded")]
    SequenceMustHaveLength,
    /// The writer of [`encode_into`] failed.
    #[error("io error: {0}")]
    Io(#[from] io::Error),
    /// A type's own (de)serialization code failed, or the input did not fit
    /// the type (an unknown enum variant index, a missing field).
    #[error("{0}")]
    Custom(String),
}

impl serde::ser::Error for CodecError {
    fn custom<T: Display>(message: T) -> CodecError {
        CodecError::Custom(message.to_string())
    }
}

impl serde::de::Error for CodecError {
    fn custom<T: Display>(message: T) -> CodecError {
        CodecError::Custom(message.to_string())
    }
}

/// The buffer [`encode`] starts with.
const ENCODE_CAPACITY: usize = 256;

/// Encodes `value`.
///
/// # Panics
///
/// If `value`'s `Serialize` fails: it holds a sequence or map of unknown
/// length, or its own code returns an error. That is a bug in the type,
/// never a matter of input; every type the system encodes is derived.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Most messages, rows and records fit: growing a buffer from empty
    // costs a reallocation at every doubling.
    let mut bytes = Vec::with_capacity(ENCODE_CAPACITY);
    if let Err(error) = encode_into(&mut bytes, value) {
        panic!("a value failed to encode: {error}");
    }
    bytes
}

/// Encodes `value` into `writer`, as it goes: a failure may leave part of
/// the encoding written.
pub fn encode_into<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> Result<(), CodecError> {
    value.serialize(&mut ser::Encoder::new(writer))
}

/// Decodes a `T` from the start of `bytes`; bytes after it are ignored.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_limited(bytes, usize::MAX)
}

/// Decodes a `T` from the start of `bytes`, reading at most `limit` bytes:
/// reading more is [`CodecError::LimitExceeded`], and so is a length prefix
/// beyond the limit, before anything is allocated for it. What runs past
/// the end of `bytes` is reported as that first, as [`decode`] does: for an
/// input no longer than the limit the errors are bincode 1.3's, which
/// applied no limit to a slice.
pub fn decode_limited<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    T::deserialize(&mut de::Decoder::new(bytes, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Unit,
        Newtype(u16),
        Tuple(i8, bool),
        Struct { name: String, extra: Option<char> },
    }

    /// The format, spelled out byte for byte on one value of each kind.
    #[test]
    fn the_format_is_bincode_legacy() {
        assert_eq!(encode(&0x0102_0304u32), [4, 3, 2, 1]);
        assert_eq!(encode(&-2i16), [0xfe, 0xff]);
        assert_eq!(encode(&7usize), 7u64.to_le_bytes());
        assert_eq!(encode(&u128::MAX), [0xff; 16]);
        assert_eq!(encode(&true), [1]);
        assert_eq!(encode(&1.5f64), 1.5f64.to_bits().to_le_bytes());
        assert_eq!(encode(&'é'), "é".as_bytes());
        assert_eq!(encode("ab"), [2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
        assert_eq!(encode(&vec![1u16]), [1, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(encode(&None::<u8>), [0]);
        assert_eq!(encode(&Some(9u8)), [1, 9]);
        assert_eq!(encode(&()), [0u8; 0]);
        assert_eq!(encode(&(1u8, 2u8)), [1, 2]);
        assert_eq!(encode(&Shape::Unit), [0, 0, 0, 0]);
        assert_eq!(encode(&Shape::Newtype(3)), [1, 0, 0, 0, 3, 0]);
        assert_eq!(encode(&Shape::Tuple(-1, false)), [2, 0, 0, 0, 0xff, 0]);
        assert_eq!(
            encode(&BTreeMap::from([(1u8, 2u8)])),
            [1, 0, 0, 0, 0, 0, 0, 0, 1, 2]
        );
    }

    #[test]
    fn values_round_trip() {
        let shapes = vec![
            Shape::Unit,
            Shape::Newtype(65_000),
            Shape::Tuple(-128, true),
            Shape::Struct {
                name: "zürich ∑ 🦀".to_owned(),
                extra: Some('🦀'),
            },
        ];
        assert_eq!(decode::<Vec<Shape>>(&encode(&shapes)).unwrap(), shapes);
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        assert_eq!(decode::<u16>(&[1, 0, 99]).unwrap(), 1);
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert!(matches!(
            decode::<bool>(&[2]),
            Err(CodecError::InvalidBool(2))
        ));
        assert!(matches!(
            decode::<Option<u8>>(&[2]),
            Err(CodecError::InvalidOptionTag(2))
        ));
        assert!(matches!(
            decode::<u32>(&[1, 2]),
            Err(CodecError::UnexpectedEnd)
        ));
        assert!(matches!(
            decode::<char>(&[0xff]),
            Err(CodecError::InvalidChar)
        ));
        assert!(matches!(
            decode::<String>(&encode(&vec![0xffu8])),
            Err(CodecError::InvalidUtf8(_))
        ));
        assert!(matches!(
            decode::<Shape>(&9u32.to_le_bytes()),
            Err(CodecError::Custom(_))
        ));
    }

    /// A hostile length is refused from the prefix alone.
    #[test]
    fn lengths_beyond_the_input_or_limit_are_refused() {
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"abc");
        assert!(matches!(
            decode::<String>(&huge),
            Err(CodecError::LengthPastEnd {
                len: u64::MAX,
                remaining: 3
            })
        ));
        assert!(matches!(
            decode::<Vec<u64>>(&huge),
            Err(CodecError::UnexpectedEnd)
        ));
        let text = encode("hello");
        assert!(matches!(
            decode_limited::<String>(&text, 12),
            Err(CodecError::LimitExceeded)
        ));
        assert_eq!(decode_limited::<String>(&text, 13).unwrap(), "hello");
        assert!(matches!(
            decode_limited::<u64>(&text, 7),
            Err(CodecError::LimitExceeded)
        ));
    }

    #[test]
    fn sequences_of_unknown_length_do_not_encode() {
        struct Stream;
        impl Serialize for Stream {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq((0..3u8).filter(|_| true))
            }
        }
        assert!(matches!(
            encode_into(Vec::new(), &Stream),
            Err(CodecError::SequenceMustHaveLength)
        ));
    }
}
