//! Byte strings as one run of bytes: `#[serde(with = "crate::codec::bytes")]`
//! on a `Vec<u8>` field.
//!
//! serde hands a plain `Vec<u8>` to a format as a sequence of `u8`s, one
//! call per byte each way. Log entries' payloads, database rows and values
//! cross the network and the disks many times a run, so that cost showed in
//! every profile. bincode 1.3 wrote a byte string exactly as it wrote a
//! sequence of bytes (a `u64` length, then the bytes), so the encoding of
//! every field marked so is unchanged, byte for byte; only decoding errors
//! of a truncated field read as a length past the end rather than as an
//! end of input. Self-describing formats (the JSON of reports and traces)
//! still write an array of numbers.

use serde::{
    Deserializer, Serializer,
    de::{self, SeqAccess, Visitor},
};
use std::fmt;

pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_byte_buf(ByteBuf)
}

struct ByteBuf;

impl<'de> Visitor<'de> for ByteBuf {
    type Value = Vec<u8>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        Ok(bytes.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(bytes)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        // A format that has no byte strings (JSON) hands them as sequences;
        // the hint is capped, as it comes from the input.
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element()? {
            bytes.push(byte);
        }
        Ok(bytes)
    }
}

/// `#[serde(with = "crate::codec::bytes::triples")]` on a
/// `Vec<(A, B, Option<Vec<u8>>)>`: the optional byte strings, which a
/// field attribute cannot reach inside the tuples, as runs of bytes. The
/// database's commit records are such lists, written at every commit and
/// read back at every recovery.
pub mod triples {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Triples ending in an optional byte string.
    type Triples<A, B> = Vec<(A, B, Option<Vec<u8>>)>;

    pub fn serialize<S, A, B>(
        items: &[(A, B, Option<Vec<u8>>)],
        serializer: S,
    ) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        A: Serialize,
        B: Serialize,
    {
        serializer.collect_seq(
            items
                .iter()
                .map(|(first, second, bytes)| (first, second, bytes.as_deref().map(Run))),
        )
    }

    pub fn deserialize<'de, D, A, B>(deserializer: D) -> Result<Triples<A, B>, D::Error>
    where
        D: Deserializer<'de>,
        A: Deserialize<'de>,
        B: Deserialize<'de>,
    {
        let items: Vec<(A, B, Option<OwnedRun>)> = Deserialize::deserialize(deserializer)?;
        Ok(items
            .into_iter()
            .map(|(first, second, run)| (first, second, run.map(|run| run.0)))
            .collect())
    }

    struct Run<'a>(&'a [u8]);

    impl Serialize for Run<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, serializer)
        }
    }

    struct OwnedRun(Vec<u8>);

    impl<'de> Deserialize<'de> for OwnedRun {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OwnedRun, D::Error> {
            super::deserialize(deserializer).map(OwnedRun)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Marked {
        #[serde(with = "crate::codec::bytes")]
        data: Vec<u8>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Plain {
        data: Vec<u8>,
    }

    /// The marked field encodes exactly as a plain sequence of bytes does,
    /// so marking a field changes no message, record or hash.
    #[test]
    fn a_marked_field_encodes_as_a_sequence_of_bytes_did() {
        for data in [vec![], vec![0], (0..=255).collect::<Vec<u8>>()] {
            let marked = crate::codec::encode(&Marked { data: data.clone() });
            assert_eq!(marked, crate::codec::encode(&Plain { data: data.clone() }));
            let decoded: Marked = crate::codec::decode(&marked).expect("decodes");
            assert_eq!(decoded.data, data);
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct MarkedTriples {
        #[serde(with = "crate::codec::bytes::triples")]
        items: Vec<(String, u64, Option<Vec<u8>>)>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct PlainTriples {
        items: Vec<(String, u64, Option<Vec<u8>>)>,
    }

    /// Byte strings inside a list of triples encode as plain ones did too.
    #[test]
    fn marked_triples_encode_as_plain_ones_did() {
        let items = vec![
            ("a".to_owned(), 1, Some((0..=255).collect::<Vec<u8>>())),
            ("b".to_owned(), 2, None),
            ("c".to_owned(), 3, Some(vec![])),
        ];
        let marked = crate::codec::encode(&MarkedTriples {
            items: items.clone(),
        });
        assert_eq!(
            marked,
            crate::codec::encode(&PlainTriples {
                items: items.clone()
            })
        );
        let decoded: MarkedTriples = crate::codec::decode(&marked).expect("decodes");
        assert_eq!(decoded.items, items);
    }

    #[test]
    fn a_truncated_field_does_not_decode() {
        let mut bytes = crate::codec::encode(&Marked {
            data: vec![1, 2, 3],
        });
        bytes.pop();
        assert!(crate::codec::decode::<Marked>(&bytes).is_err());
    }

    #[test]
    fn json_writes_and_reads_an_array_of_numbers() {
        let json = serde_json::to_string(&Marked { data: vec![7, 8] }).expect("encodes");
        assert_eq!(json, r#"{"data":[7,8]}"#);
        let back: Marked = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back.data, vec![7, 8]);
    }
}
