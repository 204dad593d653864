//! How ids (transfers, transactions, blocks) are spelled: one way wherever
//! people read them. Formats for people (JSON traces, summaries) carry the
//! id as its display form (`tr-9173aee43e87c6f9`, `0xad7b…`), so a `grep`
//! for what a report names finds it in the trace; the binary codec carries
//! the number, as it always did, so messages, rows and trace hashes are
//! unchanged.

use serde::{Deserializer, Serializer, de};
use std::fmt;

/// Writes an id: its display form for people, its number for machines.
pub(crate) fn serialize<S: Serializer>(
    number: u64,
    shown: &impl fmt::Display,
    name: &'static str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.collect_str(shown)
    } else {
        serializer.serialize_newtype_struct(name, &number)
    }
}

/// Reads an id written by [`serialize`]: `prefix` and 16 hex digits for
/// people, the number for machines.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    prefix: &'static str,
    name: &'static str,
    deserializer: D,
) -> Result<u64, D::Error> {
    if deserializer.is_human_readable() {
        let text: String = serde::Deserialize::deserialize(deserializer)?;
        parse(&text, prefix).ok_or_else(|| {
            de::Error::custom(format!(
                "expected `{prefix}` and 16 hex digits, got `{text}`"
            ))
        })
    } else {
        struct Number;
        impl<'de> de::Visitor<'de> for Number {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<u64, D::Error> {
                serde::Deserialize::deserialize(inner)
            }
        }
        deserializer.deserialize_newtype_struct(name, Number)
    }
}

/// The number an id's display form spells.
pub fn parse(text: &str, prefix: &str) -> Option<u64> {
    let digits = text.strip_prefix(prefix)?;
    if digits.len() != 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Implements the id's serde both ways.
macro_rules! id_serde {
    ($id:ident, $prefix:literal) => {
        impl serde::Serialize for $id {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::ids::serialize(self.0, self, stringify!($id), serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $id {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$id, D::Error> {
                $crate::ids::deserialize($prefix, stringify!($id), deserializer).map($id)
            }
        }
    };
}
pub(crate) use id_serde;

#[cfg(test)]
mod tests {
    use crate::{
        chain::{BlockHash, TxHash},
        codec,
        ledger::TransferId,
    };

    #[test]
    fn people_read_ids_as_reports_spell_them() {
        let transfer = TransferId(0x9173_aee4_3e87_c6f9);
        let json = serde_json::to_string(&transfer).expect("serializes");
        assert_eq!(json, "\"tr-9173aee43e87c6f9\"");
        assert_eq!(json.trim_matches('"'), transfer.to_string());
        assert_eq!(format!("{transfer:?}"), transfer.to_string());
        let back: TransferId = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, transfer);
        let tx = TxHash(0xad7b);
        assert_eq!(
            serde_json::to_string(&tx).expect("serializes"),
            "\"0x000000000000ad7b\""
        );
        assert!(serde_json::from_str::<TxHash>("\"tr-000000000000ad7b\"").is_err());
        assert!(serde_json::from_str::<BlockHash>("\"0x12\"").is_err());
    }

    #[test]
    fn machines_read_ids_as_the_numbers_they_always_were() {
        let transfer = TransferId(0x0102_0304_0506_0708);
        let bytes = codec::encode(&transfer);
        assert_eq!(bytes, codec::encode(&0x0102_0304_0506_0708u64));
        assert_eq!(
            codec::decode::<TransferId>(&bytes).expect("decodes"),
            transfer
        );
        let tx = TxHash(7);
        assert_eq!(
            codec::decode::<TxHash>(&codec::encode(&tx)).expect("decodes"),
            tx
        );
    }
}
