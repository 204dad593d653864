//! The on-disk record frame: `[payload length: u32 LE][crc32 of payload: u32 LE][payload]`.

use thiserror::Error;

/// Bytes of the length field; a torn write never touches them.
pub(super) const LENGTH_BYTES: usize = 4;
const HEADER_BYTES: usize = 8;

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record at byte {offset} is cut short")]
    Truncated { offset: usize },
    #[error("record at byte {offset} fails its checksum")]
    BadChecksum { offset: usize },
}

/// Appends `payload` framed as one record to `out`.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    let length = u32::try_from(payload.len()).expect("a record is smaller than 4 GiB");
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The records decoded from the front of a file.
#[derive(Debug)]
pub struct Decoded {
    pub records: Vec<Vec<u8>>,
    /// Bytes up to the end of the last good record.
    pub valid_len: usize,
    pub error: Option<RecordError>,
}

/// How many bytes a record with a payload of `payload` bytes takes in its
/// file.
pub fn framed_len(payload: usize) -> usize {
    HEADER_BYTES + payload
}

/// Decodes records from the front of `data`, stopping at the first bad one.
pub fn decode_records(data: &[u8]) -> Decoded {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let Some(end) = record_end(data, offset) else {
            return Decoded {
                records,
                valid_len: offset,
                error: Some(RecordError::Truncated { offset }),
            };
        };
        let stored_crc =
            u32::from_le_bytes(data[offset + 4..offset + 8].try_into().expect("4 bytes"));
        let payload = &data[offset + HEADER_BYTES..end];
        if crc32fast::hash(payload) != stored_crc {
            return Decoded {
                records,
                valid_len: offset,
                error: Some(RecordError::BadChecksum { offset }),
            };
        }
        records.push(payload.to_vec());
        offset = end;
    }
    Decoded {
        records,
        valid_len: offset,
        error: None,
    }
}

/// Frames records by their length fields alone, trusting every checksum: the
/// recovery of the planted bug `db-skip-checksum`, which hands a torn record
/// on as if it were whole.
pub fn decode_records_unchecked(data: &[u8]) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    let mut offset = 0;
    while let Some(end) = record_end(data, offset) {
        records.push(data[offset + HEADER_BYTES..end].to_vec());
        offset = end;
    }
    records
}

/// Where the record starting at `offset` ends, if its header and body fit.
pub(super) fn record_end(data: &[u8], offset: usize) -> Option<usize> {
    let header = data.get(offset..offset + HEADER_BYTES)?;
    let length = u32::from_le_bytes(header[..LENGTH_BYTES].try_into().expect("4 bytes")) as usize;
    let end = offset.checked_add(HEADER_BYTES)?.checked_add(length)?;
    (end <= data.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn records_round_trip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8)) {
            let mut data = Vec::new();
            for payload in &payloads {
                encode_record(payload, &mut data);
            }
            let decoded = decode_records(&data);
            prop_assert_eq!(decoded.records, payloads);
            prop_assert_eq!(decoded.valid_len, data.len());
            prop_assert!(decoded.error.is_none());
        }

        #[test]
        fn any_flipped_byte_stops_decoding_at_or_before_its_record(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 1..6),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut data = Vec::new();
            let mut starts = Vec::new();
            for payload in &payloads {
                starts.push(data.len());
                encode_record(payload, &mut data);
            }
            // Flip a byte outside the length fields.
            let candidates: Vec<usize> = (0..data.len())
                .filter(|i| !starts.iter().any(|s| (*s..s + LENGTH_BYTES).contains(i)))
                .collect();
            let at = candidates[flip.index(candidates.len())];
            data[at] ^= 0xA5;
            let hit = starts.iter().rposition(|s| *s <= at).expect("a record holds the byte");
            let decoded = decode_records(&data);
            prop_assert_eq!(decoded.records.len(), hit);
            prop_assert!(decoded.error.is_some());
        }
    }
}
