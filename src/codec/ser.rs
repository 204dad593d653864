//! The encoding half: a serde `Serializer` writing bincode 1.3's legacy
//! format (see the module above) into an `io::Write`.

use serde::{Serialize, ser};
use std::io;

use super::CodecError;

pub(super) struct Encoder<W> {
    writer: W,
}

impl<W: io::Write> Encoder<W> {
    pub(super) fn new(writer: W) -> Encoder<W> {
        Encoder { writer }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), CodecError> {
        Ok(self.writer.write_all(bytes)?)
    }

    fn put_len(&mut self, len: usize) -> Result<(), CodecError> {
        // `usize` is at most 64 bits on every platform Rust supports.
        self.put(&(len as u64).to_le_bytes())
    }

    fn put_variant(&mut self, index: u32) -> Result<(), CodecError> {
        self.put(&index.to_le_bytes())
    }
}

macro_rules! fixed_width {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, value: $ty) -> Result<(), CodecError> {
                self.put(&value.to_le_bytes())
            }
        )*
    };
}

impl<W: io::Write> ser::Serializer for &mut Encoder<W> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fixed_width! {
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128,
        serialize_f32: f32, serialize_f64: f64,
    }

    fn serialize_bool(self, value: bool) -> Result<(), CodecError> {
        self.put(&[u8::from(value)])
    }

    fn serialize_char(self, value: char) -> Result<(), CodecError> {
        self.put(value.encode_utf8(&mut [0; 4]).as_bytes())
    }

    fn serialize_str(self, value: &str) -> Result<(), CodecError> {
        self.serialize_bytes(value.as_bytes())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), CodecError> {
        self.put_len(value.len())?;
        self.put(value)
    }

    fn serialize_none(self) -> Result<(), CodecError> {
        self.put(&[0])
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        self.put(&[1])?;
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), CodecError> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CodecError> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<(), CodecError> {
        self.put_variant(index)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        self.put_variant(index)?;
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self, CodecError> {
        // The length comes first and there is no end marker, so it must be
        // known now.
        self.put_len(len.ok_or(CodecError::SequenceMustHaveLength)?)?;
        Ok(self)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, CodecError> {
        self.put_variant(index)?;
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self, CodecError> {
        self.put_len(len.ok_or(CodecError::SequenceMustHaveLength)?)?;
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, CodecError> {
        self.put_variant(index)?;
        Ok(self)
    }

    // Types such as `IpAddr` encode compactly, as bincode had them, only
    // when the format says it is not for humans.
    fn is_human_readable(&self) -> bool {
        false
    }
}

impl<W: io::Write> ser::SerializeSeq for &mut Encoder<W> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl<W: io::Write> ser::SerializeTuple for &mut Encoder<W> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl<W: io::Write> ser::SerializeTupleStruct for &mut Encoder<W> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl<W: io::Write> ser::SerializeTupleVariant for &mut Encoder<W> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl<W: io::Write> ser::SerializeMap for &mut Encoder<W> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

// Field names are not written: fields are known by their position. A
// skipped field (`skip_serializing_if`) writes nothing, which is what the
// default `skip_field` does.
impl<W: io::Write> ser::SerializeStruct for &mut Encoder<W> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl<W: io::Write> ser::SerializeStructVariant for &mut Encoder<W> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}
