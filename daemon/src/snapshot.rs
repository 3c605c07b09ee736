//! The binary snapshot format (`snapshot.bin`): the whole replica, fast to read back.
//!
//! ```text
//! header   8 bytes  b"OSMSNAP\0"
//!          u32 LE   format version (2; version 1 is the JSON snapshot, `snapshot.json`)
//!          u64 LE   covers: every log segment below it is in this snapshot
//! sets     u32 LE   count, then per set in name order:
//!            u8 name length, name (ASCII, checked like any object name)
//!            u64 LE length, the integers in roaring's own portable serialization (`RoaringTreemap`)
//!            u64 LE length, the other values as a JSON array of canonical texts
//! counters u64 LE   length, the counters as JSON (`{"name": <PNCounter>}`: a few entries per node)
//! trailer  32 bytes BLAKE3 of everything before it
//! ```
//!
//! Why binary: a million scattered 64-bit integers are a 19 MB JSON array whose decoding parses every number and
//! inserts it into a treemap one by one; roaring's serialization is about as large (each lone integer costs its
//! own bitmap) but reads its containers back whole, with no number parsing. Counters and the non-integer values
//! stay JSON: they are small, and their serde forms already validate.
//!
//! Reading checks the trailer before decoding anything, so a torn or corrupt file is an error rather than a
//! partial replica; roaring's checked decoder and the objects' own checks (names, canonical values, counters)
//! still run on what decodes.

use std::collections::BTreeMap;
use std::io::{self, Write};

use osmosis_crdt::{CanonicalJson, GSet, JsonSet, OrdGSet};
use roaring::{RoaringBitmap, RoaringTreemap};

use crate::objects::{Counter, Objects};

/// The first bytes of a binary snapshot.
pub const MAGIC: &[u8; 8] = b"OSMSNAP\0";
/// The binary format's version.
pub const VERSION: u32 = 2;
const TRAILER: usize = 32;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `state` as a snapshot covering the segments below `covers` (see the module docs).
pub fn write(out: impl Write, covers: u64, state: &Objects) -> io::Result<()> {
    // Buffered before the hasher: roaring writes a million one-integer bitmaps field by field, and hashing each
    // few-byte write on its own made encoding cost more than cloning the replica (0.95 against 0.6 CPU-s).
    let mut w = io::BufWriter::with_capacity(1 << 16, Hashing { inner: out, hasher: blake3::Hasher::new() });
    w.write_all(MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())?;
    w.write_all(&covers.to_le_bytes())?;
    let sets = state.sets();
    w.write_all(&(sets.len() as u32).to_le_bytes())?;
    for (name, set) in sets {
        // Names are at most 128 bytes (objects::MAX_NAME_LEN).
        w.write_all(&[name.len() as u8])?;
        w.write_all(name.as_bytes())?;
        let ints = set.ints().as_treemap();
        w.write_all(&(ints.serialized_size() as u64).to_le_bytes())?;
        encode_treemap(ints, &mut w)?;
        let other = serde_json::to_vec(&set.other().iter().collect::<Vec<_>>())?;
        w.write_all(&(other.len() as u64).to_le_bytes())?;
        w.write_all(&other)?;
    }
    let counters = serde_json::to_vec(state.counters())?;
    w.write_all(&(counters.len() as u64).to_le_bytes())?;
    w.write_all(&counters)?;
    let mut h = w.into_inner().map_err(|e| e.into_error())?;
    let sum = h.hasher.finalize();
    h.inner.write_all(sum.as_bytes())?;
    h.inner.flush()
}

/// A replica taken apart for loading: each set's integers as a treemap (owned, so that the log's integers can be
/// added without copying it), and everything else. [`Parts::into_objects`] puts it together.
#[derive(Debug, Default)]
pub struct Parts {
    /// Set name → its integers (no empty treemap).
    pub ints: BTreeMap<String, RoaringTreemap>,
    /// The sets' other values and the counters (no integers).
    pub rest: Objects,
}

impl Parts {
    /// Adds `xs` (ascending, no duplicates) to set `name`'s integers: one treemap built from the run, then
    /// moved into the set's (a union by value moves the inner bitmaps instead of copying them).
    pub fn add_sorted(&mut self, name: String, xs: &[u64]) {
        if xs.is_empty() {
            return;
        }
        let built = treemap_from_sorted(xs);
        match self.ints.entry(name) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(built);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => *e.get_mut() |= built,
        }
    }

    /// Takes `o` apart (walks its integers: for the JSON snapshot of earlier versions only).
    pub fn from_objects(o: Objects) -> Parts {
        let (rest, found) = o.take_ints();
        let mut parts = Parts { ints: BTreeMap::new(), rest };
        for (name, xs) in found {
            parts.add_sorted(name, &xs);
        }
        parts
    }

    /// The replica these parts make (every name checked again).
    pub fn into_objects(self) -> Result<Objects, String> {
        let mut sets: BTreeMap<String, JsonSet> = BTreeMap::new();
        let Parts { ints, rest } = self;
        let mut other: BTreeMap<&String, &OrdGSet<CanonicalJson>> =
            rest.sets().iter().map(|(n, s)| (n, s.other())).collect();
        for (name, t) in ints {
            let o = other.remove(&name).cloned().unwrap_or_default();
            sets.insert(name, JsonSet::from_parts(GSet::from_treemap(t), o));
        }
        for (name, o) in other {
            sets.insert(name.clone(), JsonSet::from_parts(GSet::new(), o.clone()));
        }
        Objects::from_maps(sets, rest.counters().clone())
    }
}

/// The treemap of `xs` (ascending, no duplicates), built bitmap by bitmap (roaring's `append`, which pushes without
/// searching) and then all at once from the ascending keys (inserting a million scattered integers one by one
/// searches the treemap's map each time; `RoaringBitmap::push` looks for the maximum of a bitmap container on
/// every call, 0.2 CPU-s for a million sequential integers).
pub fn treemap_from_sorted(xs: &[u64]) -> RoaringTreemap {
    debug_assert!(xs.windows(2).all(|w| w[0] < w[1]));
    let maps = xs.chunk_by(|a, b| a >> 32 == b >> 32).map(|run| {
        let lows = run.iter().map(|x| *x as u32);
        let bitmap = RoaringBitmap::from_sorted_iter(lows.clone()).unwrap_or_else(|_| lows.collect());
        ((run[0] >> 32) as u32, bitmap)
    });
    RoaringTreemap::from_bitmaps(maps)
}

/// Reads a snapshot written by [`write()`]: the segment it covers up to, and the replica.
pub fn read(bytes: &[u8]) -> io::Result<(u64, Objects)> {
    let (covers, parts) = read_parts(bytes)?;
    Ok((covers, parts.into_objects().map_err(invalid)?))
}

/// [`read`], taken apart ([`Parts`]).
pub fn read_parts(bytes: &[u8]) -> io::Result<(u64, Parts)> {
    read_with(bytes, decode_treemap)
}

/// [`read`] through roaring's own treemap decoder (`RoaringTreemap::deserialize_from`), for comparison
/// (`examples/snapshot_load.rs`).
#[doc(hidden)]
pub fn read_with_roaring_decoder(bytes: &[u8]) -> io::Result<(u64, Objects)> {
    let (covers, parts) = read_with(bytes, |b| RoaringTreemap::deserialize_from(b))?;
    Ok((covers, parts.into_objects().map_err(invalid)?))
}

fn read_with(bytes: &[u8], decode: fn(&[u8]) -> io::Result<RoaringTreemap>) -> io::Result<(u64, Parts)> {
    if bytes.len() < MAGIC.len() + 12 + TRAILER || &bytes[..MAGIC.len()] != MAGIC {
        return Err(invalid("not an osmosis binary snapshot"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - TRAILER);
    if blake3::hash(body).as_bytes() != sum {
        return Err(invalid("the snapshot's checksum does not match: the file is damaged"));
    }
    let mut r = Reader { rest: &body[MAGIC.len()..] };
    let version = u32::from_le_bytes(r.array()?);
    if version != VERSION {
        return Err(invalid(format!(
            "snapshot format version {version} is not supported (this daemon reads {VERSION})"
        )));
    }
    let covers = u64::from_le_bytes(r.array()?);
    let count = u32::from_le_bytes(r.array()?);
    let (mut ints, mut others) = (BTreeMap::new(), BTreeMap::new());
    let mut last: Option<&str> = None;
    for _ in 0..count {
        let [len] = r.array()?;
        let name = std::str::from_utf8(r.take(usize::from(len))?).map_err(|_| invalid("a set name is not UTF-8"))?;
        if last.is_some_and(|l| l >= name) {
            return Err(invalid(format!("set {name:?} is out of order or appears twice")));
        }
        last = Some(name);
        let t = decode(r.section()?).map_err(|e| invalid(format!("set {name:?}: {e}")))?;
        let other: Vec<CanonicalJson> =
            serde_json::from_slice(r.section()?).map_err(|e| invalid(format!("set {name:?}: {e}")))?;
        if !t.is_empty() {
            ints.insert(name.to_string(), t);
        }
        if !other.is_empty() {
            let set = JsonSet::from_parts(GSet::new(), other.into_iter().collect::<OrdGSet<_>>());
            others.insert(name.to_string(), set);
        }
    }
    let counters: BTreeMap<String, Counter> =
        serde_json::from_slice(r.section()?).map_err(|e| invalid(format!("counters: {e}")))?;
    if !r.rest.is_empty() {
        return Err(invalid("trailing bytes after the counters"));
    }
    for name in ints.keys() {
        crate::objects::check_name(name).map_err(invalid)?;
    }
    Ok((covers, Parts { ints, rest: Objects::from_maps(others, counters).map_err(invalid)? }))
}

/// The head of roaring's serialization of a bitmap holding one integer: the no-run cookie (12346) and one
/// container; then the container's key (2 bytes), its cardinality less one (0), its offset (16) and the value.
const SINGLETON_HEAD: [u8; 8] = [0x3a, 0x30, 0, 0, 1, 0, 0, 0];
const SINGLETON_LEN: usize = 18;

/// Writes `t` in roaring's `RoaringTreemap` serialization, byte for byte what `serialize_into` writes, with a bitmap
/// of one integer (what each of a million scattered 64-bit integers gets) written directly: roaring's general
/// encoder writes it field by field through the writer (the mirror of the decoder below).
fn encode_treemap(t: &RoaringTreemap, w: &mut impl Write) -> io::Result<()> {
    let mut count = 0u64;
    for _ in t.bitmaps() {
        count += 1;
    }
    w.write_all(&count.to_le_bytes())?;
    let mut one = [0u8; 4 + SINGLETON_LEN];
    one[4..12].copy_from_slice(&SINGLETON_HEAD);
    one[14..20].copy_from_slice(&[0, 0, 16, 0, 0, 0]);
    for (key, bitmap) in t.bitmaps() {
        match (bitmap.len(), bitmap.min()) {
            (1, Some(x)) => {
                one[..4].copy_from_slice(&key.to_le_bytes());
                one[12..14].copy_from_slice(&((x >> 16) as u16).to_le_bytes());
                one[20..22].copy_from_slice(&(x as u16).to_le_bytes());
                w.write_all(&one)?;
            }
            _ => {
                w.write_all(&key.to_le_bytes())?;
                bitmap.serialize_into(&mut *w)?;
            }
        }
    }
    Ok(())
}

/// Decodes roaring's `RoaringTreemap` serialization (a u64 count, then per inner bitmap its u32 key and the
/// bitmap's portable serialization). The same result as `RoaringTreemap::deserialize_from`, faster for scattered
/// integers: a bitmap of one integer (what each of a million random 64-bit integers gets) is read directly rather
/// than through roaring's general decoder, which allocates its headers for every bitmap, and the treemap is built
/// at once from the ascending keys. Every other bitmap goes through roaring's checked decoder.
fn decode_treemap(mut bytes: &[u8]) -> io::Result<RoaringTreemap> {
    let mut r = Reader { rest: bytes };
    let count = u64::from_le_bytes(r.array()?);
    bytes = r.rest;
    // Each bitmap takes at least 12 bytes: no count can allocate more than the section holds.
    let mut maps = Vec::with_capacity(usize::try_from(count).unwrap_or(usize::MAX).min(bytes.len() / 12));
    for _ in 0..count {
        let mut r = Reader { rest: bytes };
        let key = u32::from_le_bytes(r.array()?);
        bytes = r.rest;
        let bitmap =
            if bytes.len() >= SINGLETON_LEN && bytes[..8] == SINGLETON_HEAD && bytes[10..16] == [0, 0, 16, 0, 0, 0] {
                let high = u32::from(u16::from_le_bytes([bytes[8], bytes[9]]));
                let low = u32::from(u16::from_le_bytes([bytes[16], bytes[17]]));
                bytes = &bytes[SINGLETON_LEN..];
                let mut b = RoaringBitmap::new();
                b.insert(high << 16 | low);
                b
            } else {
                RoaringBitmap::deserialize_from(&mut bytes)?
            };
        if maps.last().is_some_and(|(last, _)| *last >= key) {
            return Err(invalid("the inner bitmaps' keys do not ascend"));
        }
        maps.push((key, bitmap));
    }
    if !bytes.is_empty() {
        return Err(invalid("trailing bytes after the integers"));
    }
    Ok(RoaringTreemap::from_bitmaps(maps))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(invalid("the snapshot ends early"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A section framed by its u64 length.
    fn section(&mut self) -> io::Result<&'a [u8]> {
        let len = u64::from_le_bytes(self.array()?);
        self.take(usize::try_from(len).map_err(|_| invalid("a section is too long"))?)
    }
}

#[cfg(test)]
mod tests {
    use osmosis_crdt::Lattice;
    use serde_json::json;

    use super::*;

    fn sample() -> Objects {
        let mut s = JsonSet::new();
        for v in [json!(1), json!(u64::MAX), json!(1u64 << 40), json!("x"), json!({"b": 1, "a": [2]}), json!(-3)] {
            s.insert(&v);
        }
        let mut c = Counter::new();
        c.add("n1".to_string(), 5).unwrap();
        c.add("n2".to_string(), -7).unwrap();
        let mut o = Objects::with_set("s:1", s);
        o.join(&Objects::with_counter("c", c));
        o.join(&Objects::with_set(
            "other",
            JsonSet::from_parts(GSet::new(), [CanonicalJson::new(&json!(null))].into_iter().collect()),
        ));
        o
    }

    fn encode(covers: u64, o: &Objects) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, covers, o).unwrap();
        out
    }

    #[test]
    fn a_snapshot_reads_back_as_the_replica_it_was_written_from() {
        let o = sample();
        assert_eq!(read(&encode(7, &o)).unwrap(), (7, o));
        assert_eq!(read(&encode(0, &Objects::new())).unwrap(), (0, Objects::new()));
    }

    #[test]
    fn integers_decode_as_roaring_decodes_them_lone_or_in_containers() {
        let mut t: RoaringTreemap = (0..5000u64).chain([1 << 40, (1 << 40) + 7, u64::MAX]).collect();
        t.extend((0..300u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        t.insert_range((7 << 32)..(7 << 32) + 100_000);
        let mut bytes = Vec::new();
        t.serialize_into(&mut bytes).unwrap();
        assert_eq!(decode_treemap(&bytes).unwrap(), t);
        let mut ours = Vec::new();
        encode_treemap(&t, &mut ours).unwrap();
        assert_eq!(ours, bytes, "the encoder writes roaring's bytes");
        assert_eq!(decode_treemap(&bytes).unwrap(), RoaringTreemap::deserialize_from(&bytes[..]).unwrap());
        for cut in [0, 7, 8, 12, 20, bytes.len() - 1] {
            assert!(decode_treemap(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_treemap_built_from_a_sorted_run_holds_the_run_and_unions_by_value() {
        let mut xs: Vec<u64> = (0..5000u64).chain([1 << 40, (1 << 40) + 7, u64::MAX]).collect();
        xs.extend((0..300u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        xs.extend((7 << 32)..(7 << 32) + 70_000);
        xs.sort_unstable();
        xs.dedup();
        let t = treemap_from_sorted(&xs);
        assert_eq!(t, xs.iter().copied().collect::<RoaringTreemap>());
        assert!(treemap_from_sorted(&[]).is_empty());
        let mut parts = Parts::from_objects(Objects::with_set("s", {
            let mut s = JsonSet::new();
            s.insert(&serde_json::json!(3));
            s.insert(&serde_json::json!("x"));
            s
        }));
        parts.add_sorted("s".into(), &xs);
        parts.add_sorted("t".into(), &[]);
        let o = parts.into_objects().unwrap();
        assert_eq!(o.sets().len(), 1, "no empty set");
        assert_eq!(o.set("s").unwrap().len(), xs.len() as u64 + 1, "3 was there, \"x\" is kept");
    }

    #[test]
    fn every_damaged_or_truncated_snapshot_is_an_error() {
        let bytes = encode(3, &sample());
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(read(&bad).is_err(), "flipped byte {i}");
        }
    }

    #[test]
    fn a_well_summed_snapshot_with_bad_contents_is_refused_not_trusted() {
        // Rewrite the body (a bad object name) and fix the checksum: the objects' own checks still refuse it.
        let mut bytes = encode(1, &sample());
        bytes.truncate(bytes.len() - TRAILER);
        let at = bytes.windows(5).position(|w| w == b"other").unwrap();
        bytes[at] = b' ';
        let sum = blake3::hash(&bytes);
        bytes.extend_from_slice(sum.as_bytes());
        let err = read(&bytes).unwrap_err().to_string();
        assert!(err.contains("object names"), "{err}");
    }
}
