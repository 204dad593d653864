//! The decoding half: a serde `Deserializer` over a byte slice in bincode
//! 1.3's legacy format (see the module above). The input may be hostile.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor, value::U32Deserializer};

use super::CodecError;

pub(super) struct Decoder<'de> {
    input: &'de [u8],
    /// How many more bytes the caller's limit lets us read.
    budget: usize,
}

impl<'de> Decoder<'de> {
    pub(super) fn new(input: &'de [u8], limit: usize) -> Decoder<'de> {
        Decoder {
            input,
            budget: limit,
        }
    }

    /// Consumes the next `len` bytes. Running past the input is checked
    /// before the limit: bincode 1.3 never applied a limit to a slice, so
    /// for an input no longer than the limit (every network body) this
    /// keeps its error, text and all.
    fn take(
        &mut self,
        len: usize,
        past_end: impl FnOnce(usize) -> CodecError,
    ) -> Result<&'de [u8], CodecError> {
        let Some((taken, rest)) = self.input.split_at_checked(len) else {
            return Err(past_end(self.input.len()));
        };
        if len > self.budget {
            return Err(CodecError::LimitExceeded);
        }
        self.input = rest;
        self.budget -= len;
        Ok(taken)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let bytes = self.take(N, |_| CodecError::UnexpectedEnd)?;
        <[u8; N]>::try_from(bytes).map_err(|_| CodecError::UnexpectedEnd)
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let [byte] = self.fixed()?;
        Ok(byte)
    }

    fn len(&mut self) -> Result<usize, CodecError> {
        let len = u64::from_le_bytes(self.fixed()?);
        usize::try_from(len).map_err(|_| CodecError::LengthOverflow(len))
    }

    /// A length-prefixed byte string, borrowed from the input. The length
    /// is checked against what is left before anything is done with it.
    fn bytes(&mut self) -> Result<&'de [u8], CodecError> {
        let len = self.len()?;
        self.take(len, |remaining| CodecError::LengthPastEnd {
            len: len as u64,
            remaining,
        })
    }

    fn str(&mut self) -> Result<&'de str, CodecError> {
        std::str::from_utf8(self.bytes()?).map_err(CodecError::InvalidUtf8)
    }

    /// The most bytes decoding may still read. Every element of a sequence
    /// whose elements take space takes at least one byte, so a length
    /// prefix beyond this is a lie; as a size hint it would make serde
    /// preallocate for it.
    fn room(&self) -> usize {
        self.input.len().min(self.budget)
    }
}

/// Whether `first` can start a UTF-8 sequence, and of how many bytes.
fn utf8_width(first: u8) -> Option<usize> {
    match first {
        0x00..=0x7f => Some(1),
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

macro_rules! fixed_width {
    ($($method:ident: $ty:ty => $visit:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
                visitor.$visit(<$ty>::from_le_bytes(self.fixed()?))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = CodecError;

    // The format does not say what comes next; only the type knows.
    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, CodecError> {
        Err(CodecError::NotSelfDescribing("deserialize_any"))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, CodecError> {
        Err(CodecError::NotSelfDescribing("deserialize_ignored_any"))
    }

    // Names are never written: struct fields are positional and enum
    // variants come as their index (see `variant_seed`).
    fn deserialize_identifier<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, CodecError> {
        Err(CodecError::NotSelfDescribing("deserialize_identifier"))
    }

    fixed_width! {
        deserialize_u8: u8 => visit_u8, deserialize_u16: u16 => visit_u16,
        deserialize_u32: u32 => visit_u32, deserialize_u64: u64 => visit_u64,
        deserialize_u128: u128 => visit_u128,
        deserialize_i8: i8 => visit_i8, deserialize_i16: i16 => visit_i16,
        deserialize_i32: i32 => visit_i32, deserialize_i64: i64 => visit_i64,
        deserialize_i128: i128 => visit_i128,
        deserialize_f32: f32 => visit_f32, deserialize_f64: f64 => visit_f64,
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        match self.byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            other => Err(CodecError::InvalidBool(other)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        // No length prefix: the first byte says how many follow.
        let first = self.byte()?;
        let width = utf8_width(first).ok_or(CodecError::InvalidChar)?;
        let mut buf = [first, 0, 0, 0];
        let rest = self.take(width - 1, |_| CodecError::InvalidChar)?;
        buf[1..width].copy_from_slice(rest);
        let text = std::str::from_utf8(&buf[..width]).map_err(|_| CodecError::InvalidChar)?;
        visitor.visit_char(text.chars().next().ok_or(CodecError::InvalidChar)?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_string(self.str()?.to_owned())
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_borrowed_bytes(self.bytes()?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_byte_buf(self.bytes()?.to_vec())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        match self.byte()? {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            other => Err(CodecError::InvalidOptionTag(other)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        let len = self.len()?;
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_seq(Elements {
            decoder: self,
            left: len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        let len = self.len()?;
        visitor.visit_map(Elements {
            decoder: self,
            left: len,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        self.deserialize_tuple(fields.len(), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_enum(self)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The elements of a sequence, tuple or struct, or the entries of a map:
/// `left` more of them, back to back.
struct Elements<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = CodecError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.decoder).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.decoder.room()))
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = CodecError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.decoder).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, CodecError> {
        seed.deserialize(&mut *self.decoder)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.decoder.room()))
    }
}

impl<'de> de::EnumAccess<'de> for &mut Decoder<'de> {
    type Error = CodecError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), CodecError> {
        let index = u32::from_le_bytes(self.fixed()?);
        let index: U32Deserializer<CodecError> = index.into_deserializer();
        let variant = seed.deserialize(index)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Decoder<'de> {
    type Error = CodecError;

    fn unit_variant(self) -> Result<(), CodecError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, CodecError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        de::Deserializer::deserialize_tuple(self, fields.len(), visitor)
    }
}
