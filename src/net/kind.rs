//! The kind of a message, for traces and profiles: the name of its
//! top-level enum variant (`Append`, `Atomic`, `Status`), or of its type
//! when it is not an enum.
//!
//! Read through serde rather than a hand-kept list, so a new message kind
//! is named without anyone remembering to: a serializer that stops at the
//! first name it is given, before any field is encoded.

use serde::{
    Serialize, Serializer,
    ser::{self, Impossible},
};
use std::fmt;

/// The kind of `message`.
pub fn kind_of<T: Serialize + ?Sized>(message: &T) -> &'static str {
    match message.serialize(KindOf) {
        Err(Found(Some(kind))) => kind,
        Ok(()) | Err(Found(None)) => "other",
    }
}

/// The serializer's way out: the name found, if any.
#[derive(Debug)]
struct Found(Option<&'static str>);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message kind {:?}", self.0)
    }
}

impl std::error::Error for Found {}

impl ser::Error for Found {
    fn custom<T: fmt::Display>(_: T) -> Found {
        Found(None)
    }
}

struct KindOf;

fn found<T>(kind: &'static str) -> Result<T, Found> {
    Err(Found(Some(kind)))
}

impl Serializer for KindOf {
    type Ok = ();
    type Error = Found;
    type SerializeSeq = Impossible<(), Found>;
    type SerializeTuple = Impossible<(), Found>;
    type SerializeTupleStruct = Impossible<(), Found>;
    type SerializeTupleVariant = Impossible<(), Found>;
    type SerializeMap = Impossible<(), Found>;
    type SerializeStruct = Impossible<(), Found>;
    type SerializeStructVariant = Impossible<(), Found>;

    fn serialize_bool(self, _: bool) -> Result<(), Found> {
        found("bool")
    }
    fn serialize_i8(self, _: i8) -> Result<(), Found> {
        found("i8")
    }
    fn serialize_i16(self, _: i16) -> Result<(), Found> {
        found("i16")
    }
    fn serialize_i32(self, _: i32) -> Result<(), Found> {
        found("i32")
    }
    fn serialize_i64(self, _: i64) -> Result<(), Found> {
        found("i64")
    }
    fn serialize_u8(self, _: u8) -> Result<(), Found> {
        found("u8")
    }
    fn serialize_u16(self, _: u16) -> Result<(), Found> {
        found("u16")
    }
    fn serialize_u32(self, _: u32) -> Result<(), Found> {
        found("u32")
    }
    fn serialize_u64(self, _: u64) -> Result<(), Found> {
        found("u64")
    }
    fn serialize_f32(self, _: f32) -> Result<(), Found> {
        found("f32")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Found> {
        found("f64")
    }
    fn serialize_char(self, _: char) -> Result<(), Found> {
        found("char")
    }
    fn serialize_str(self, _: &str) -> Result<(), Found> {
        found("str")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Found> {
        found("bytes")
    }
    fn serialize_none(self) -> Result<(), Found> {
        found("none")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Found> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Found> {
        found("unit")
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), Found> {
        found(name)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Found> {
        found(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: &T,
    ) -> Result<(), Found> {
        found(name)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: &T,
    ) -> Result<(), Found> {
        found(variant)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Found> {
        found("seq")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Found> {
        found("tuple")
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Found> {
        found(name)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Found> {
        found(variant)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Found> {
        found("map")
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Found> {
        found(name)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Found> {
        found(variant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    enum Request {
        Ping,
        Append(Vec<u8>),
        Atomic { ops: Vec<u8> },
    }

    #[derive(Serialize)]
    struct Reply {
        ok: bool,
    }

    #[test]
    fn a_message_is_named_by_its_variant_or_its_type() {
        assert_eq!(kind_of(&Request::Ping), "Ping");
        assert_eq!(kind_of(&Request::Append(vec![1])), "Append");
        assert_eq!(kind_of(&Request::Atomic { ops: vec![] }), "Atomic");
        assert_eq!(kind_of(&Reply { ok: true }), "Reply");
        assert_eq!(kind_of(&7u64), "u64");
    }
}
