//! Byte-level pieces shared by the reconciliation messages: LEB128 varints, a bounded reader, and base64
//! (standard alphabet, no padding) for carrying binary inside JSON strings.
//!
//! Every reader here treats its input as a peer's: it never panics, never allocates from a length field, and
//! reports a [`WireError`] for anything malformed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// A malformed reconciliation message from a peer (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reconciliation message: {0}")]
pub struct WireError(pub String);

pub(crate) fn err(what: impl Into<String>) -> WireError {
    WireError(what.into())
}

/// Appends `x` as an LEB128 varint (1 byte below 128, at most 10 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// The encoded length of a varint.
pub(crate) fn varint_len(x: u64) -> usize {
    (64 - (x | 1).leading_zeros() as usize).div_ceil(7)
}

/// A cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self.bytes.split_first_chunk::<N>().ok_or_else(|| err("truncated"))?;
        self.bytes = rest;
        Ok(*head)
    }

    /// The next `len` bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let (head, rest) = self.bytes.split_at_checked(len).ok_or_else(|| err("truncated"))?;
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.take::<8>()?))
    }

    /// An LEB128 varint of at most 10 bytes that fits in a `u64`, in its shortest form.
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut x = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(err("varint overflows 64 bits"));
            }
            x |= part << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(err("varint not in shortest form"));
                }
                return Ok(x);
            }
        }
        Err(err("varint longer than 10 bytes"))
    }

    /// The rest of the input.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub(crate) fn end(&self) -> Result<(), WireError> {
        if self.bytes.is_empty() { Ok(()) } else { Err(err(format!("{} trailing bytes", self.bytes.len()))) }
    }
}

pub(crate) fn to_base64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// Decodes base64 text of at most `max` characters.
pub(crate) fn from_base64(text: &str, max: usize) -> Result<Vec<u8>, WireError> {
    if text.len() > max {
        return Err(err(format!("{} base64 characters, more than the {max} allowed", text.len())));
    }
    STANDARD_NO_PAD.decode(text).map_err(|e| err(format!("bad base64: {e}")))
}

/// Serde glue: a `Vec<u8>`-like value carried as one base64 string.
macro_rules! base64_serde {
    ($ty:ty, $max:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&$crate::wire::to_base64(&self.to_bytes()))
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                let bytes = $crate::wire::from_base64(&text, $max).map_err(serde::de::Error::custom)?;
                <$ty>::from_bytes(&bytes).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use base64_serde;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong_forms() {
        for x in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, x);
            assert_eq!(out.len(), varint_len(x));
            let mut r = Reader::new(&out);
            assert_eq!(r.varint().unwrap(), x);
            assert!(r.is_empty());
        }
        for bad in [&[0x80u8, 0x00][..], &[0xff; 11][..], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]]
        {
            assert!(Reader::new(bad).varint().is_err(), "{bad:?}");
        }
    }
}
