//! Positions of YAML nodes, found with the real YAML parser.
//!
//! serde_yaml gives a line and column only with an error, and it fills them in with the
//! position of the innermost node that was being deserialized when the error was raised.
//! We use exactly that: to learn where `services[2].real_servers[0].weight` is, we parse
//! the text again with a [`DeserializeSeed`] that walks down that path (skipping every
//! other node) and raises an error *inside* the visitor of the target node; the error's
//! location is then the node's position. The same walk can instead deserialize a type at
//! the target node, which yields serde's own first error *inside one element* with its
//! exact position; that is how one configuration file reports every broken element.
//!
//! This costs one parse per lookup, which is nothing for configuration files and only
//! happens for errors.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::Deserialize;

/// One step of a path from the document root to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// The value under a mapping key.
    Key(String),
    /// The element at an index of a sequence.
    Index(usize),
}

/// A path from the document root, e.g. `services[0].real_servers[1].weight`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Seg>);

impl Path {
    /// The root of the document.
    pub fn root() -> Path {
        Path(Vec::new())
    }

    /// This path extended by a mapping key.
    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_owned()));
        p
    }

    /// This path extended by a sequence index.
    pub fn index(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (n, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column in the configuration text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1 (counted in characters, as libyaml does).
    pub column: usize,
}

/// Which part of the node at a path to point at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The node itself (for a key path: the value under the key).
    Value,
    /// The key of the last path segment (for unknown or misplaced keys).
    Key,
}

/// What to do once the walk reaches the target node.
trait Leaf {
    fn run<'de, D: Deserializer<'de>>(&self, d: D) -> Result<(), D::Error>;
}

/// Fails inside the target node's visitor, so that the error carries its position.
struct FailHere;

impl Leaf for FailHere {
    fn run<'de, D: Deserializer<'de>>(&self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(FailVisitor)
    }
}

struct FailVisitor;

const PROBE: &str = "rvs-config position probe";

macro_rules! fail_on {
    ($($name:ident($t:ty)),*) => {
        $(fn $name<E: de::Error>(self, _v: $t) -> Result<(), E> { Err(E::custom(PROBE)) })*
    };
}

impl<'de> Visitor<'de> for FailVisitor {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }
    fail_on!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_i128(i128),
        visit_u128(u128),
        visit_f64(f64),
        visit_str(&str),
        visit_bytes(&[u8])
    );
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_some<D: Deserializer<'de>>(self, _d: D) -> Result<(), D::Error> {
        Err(de::Error::custom(PROBE))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _s: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE))
    }
    fn visit_map<A: MapAccess<'de>>(self, _m: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _e: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE))
    }
}

/// Deserializes a `T` at the target node and keeps it.
struct DecodeAs<T>(RefCell<Option<T>>);

impl<T: for<'a> Deserialize<'a>> Leaf for DecodeAs<T> {
    fn run<'de, D: Deserializer<'de>>(&self, d: D) -> Result<(), D::Error> {
        // `T: for<'a> Deserialize<'a>` = DeserializeOwned, usable with any 'de.
        let v = T::deserialize(d)?;
        *self.0.borrow_mut() = Some(v);
        Ok(())
    }
}

/// Walks down `path`, then runs the leaf; `part` says whether the last key itself is
/// the target.
struct Walk<'p, L> {
    path: &'p [Seg],
    part: Part,
    leaf: &'p L,
}

impl<'de, L: Leaf> DeserializeSeed<'de> for Walk<'_, L> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            self.leaf.run(d)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de, L: Leaf> Visitor<'de> for Walk<'_, L> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence")
    }

    // A scalar where the path wants to go deeper: the node does not exist; stop quietly.
    fn visit_bool<E>(self, _v: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _v: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _v: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _v: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _v: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _v: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _v: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bytes<E>(self, _v: &[u8]) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, e: A) -> Result<(), A::Error> {
        // A tagged node (`!tag value`): skip the tag and keep walking in its content.
        // (Returning without consuming it would leave the parser inside the node, and
        // serde_yaml panics on the misaligned events that follow.)
        let (_tag, content) = e.variant::<IgnoredAny>()?;
        content.newtype_variant_seed(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(want), rest)) = self.path.split_first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            let more = if i == *want {
                seq.next_element_seed(Walk {
                    path: rest,
                    part: self.part,
                    leaf: self.leaf,
                })?
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if more.is_none() {
                return Ok(());
            }
            i += 1;
            if i > *want {
                // Nothing else to look at; skip the rest so the sequence ends cleanly.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(want), rest)) = self.path.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let fail_at_key = rest.is_empty() && self.part == Part::Key;
        while let Some(hit) = map.next_key_seed(KeyIs {
            want,
            fail: fail_at_key,
        })? {
            if hit {
                map.next_value_seed(Walk {
                    path: rest,
                    part: self.part,
                    leaf: self.leaf,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Deserializes a mapping key and says whether it is the wanted one; with `fail`, a
/// match raises the probe error inside the key's own visitor (so it gets the key's
/// position).
struct KeyIs<'w> {
    want: &'w str,
    fail: bool,
}

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        if v == self.want && self.fail {
            Err(E::custom(PROBE))
        } else {
            Ok(v == self.want)
        }
    }
    // Keys that are not strings never match a schema key.
    fn visit_bool<E>(self, _v: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _v: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _v: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i128<E>(self, _v: i128) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u128<E>(self, _v: u128) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _v: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bytes<E>(self, _v: &[u8]) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_none<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        IgnoredAny::deserialize(d).map(|_| false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, e: A) -> Result<bool, A::Error> {
        // A tagged key: consume it whole (see `Walk::visit_enum`); it never matches.
        let (_tag, content) = e.variant::<IgnoredAny>()?;
        content.newtype_variant::<IgnoredAny>().map(|_| false)
    }
}

fn run<L: Leaf>(text: &str, path: &Path, part: Part, leaf: &L) -> Result<(), serde_yaml::Error> {
    let de = serde_yaml::Deserializer::from_str(text);
    Walk {
        path: &path.0,
        part,
        leaf,
    }
    .deserialize(de)
}

/// Where the node at `path` (or its key, with [`Part::Key`]) starts; `None` when the text
/// has no such node (or is not YAML).
pub fn locate(text: &str, path: &Path, part: Part) -> Option<Location> {
    let err = run(text, path, part, &FailHere).err()?;
    let loc = err.location()?;
    Some(Location {
        line: loc.line(),
        column: loc.column(),
    })
}

/// Where the node at `path` starts, or else its nearest ancestor that exists (the document
/// start at worst): semantic errors about a missing key point at the mapping that lacks it.
pub fn locate_nearest(text: &str, path: &Path, part: Part) -> Location {
    let mut p = path.clone();
    if let Some(l) = locate(text, &p, part) {
        return l;
    }
    while p.0.pop().is_some() {
        if let Some(l) = locate(text, &p, Part::Value) {
            return l;
        }
    }
    Location { line: 1, column: 1 }
}

/// Deserializes a `T` from the node at `path` alone: `Ok(None)` when there is no such
/// node, else the value or serde's first error in it (with the position of the innermost
/// node at fault).
pub fn decode_at<T: for<'a> Deserialize<'a>>(
    text: &str,
    path: &Path,
) -> Result<Option<T>, serde_yaml::Error> {
    let leaf = DecodeAs::<T>(RefCell::new(None));
    run(text, path, Part::Value, &leaf)?;
    Ok(leaf.0.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
a: 1
list:
  - { x: 1, y: [1, 2] }
  - x: 2
    y:
      - 10
      - \"20\"
b:
  c: hello # comment
";

    fn at(path: &Path, part: Part) -> Option<(usize, usize)> {
        locate(DOC, path, part).map(|l| (l.line, l.column))
    }

    #[test]
    fn finds_values_and_keys() {
        let r = Path::root();
        assert_eq!(at(&r.key("a"), Part::Value), Some((1, 4)));
        assert_eq!(at(&r.key("a"), Part::Key), Some((1, 1)));
        assert_eq!(at(&r.key("list").index(0), Part::Value), Some((3, 5)));
        assert_eq!(
            at(&r.key("list").index(0).key("y").index(1), Part::Value),
            Some((3, 20))
        );
        assert_eq!(at(&r.key("list").index(1), Part::Value), Some((4, 5)));
        assert_eq!(
            at(&r.key("list").index(1).key("y"), Part::Key),
            Some((5, 5))
        );
        assert_eq!(
            at(&r.key("list").index(1).key("y").index(1), Part::Value),
            Some((7, 9))
        );
        assert_eq!(at(&r.key("b").key("c"), Part::Value), Some((9, 6)));
    }

    #[test]
    fn missing_nodes() {
        let r = Path::root();
        assert_eq!(at(&r.key("zz"), Part::Value), None);
        assert_eq!(at(&r.key("list").index(5), Part::Value), None);
        assert_eq!(at(&r.key("a").key("deeper"), Part::Value), None);
        let l = locate_nearest(DOC, &r.key("list").index(1).key("nope"), Part::Value);
        assert_eq!((l.line, l.column), (4, 5));
    }

    #[test]
    fn decode_error_inside_element() {
        let e = decode_at::<Vec<u8>>(DOC, &Path::root().key("list").index(1).key("y")).unwrap_err();
        let l = e.location().unwrap();
        assert_eq!((l.line(), l.column()), (7, 9));
        let ok = decode_at::<Vec<u8>>(DOC, &Path::root().key("list").index(0).key("y")).unwrap();
        assert_eq!(ok, Some(vec![1, 2]));
        let absent = decode_at::<Vec<u8>>(DOC, &Path::root().key("nope")).unwrap();
        assert_eq!(absent, None);
    }

    #[test]
    fn aliases_resolve_to_the_anchor() {
        let doc = "x: &v 5\ny: *v\n";
        assert_eq!(
            locate(doc, &Path::root().key("y"), Part::Value).map(|l| l.line),
            Some(1)
        );
    }

    #[test]
    fn tagged_nodes_are_walked_through() {
        // Found by fuzzing: a walk that stopped at a tagged node left the parser inside it.
        let doc = "a: !\n  - x: 1\n    y: 2\nb: !t { c: 3 }\nd: 4\n";
        let at = |p: &Path| locate(doc, p, Part::Value).map(|l| (l.line, l.column));
        assert_eq!(at(&Path::root().key("a").index(0).key("y")), Some((3, 8)));
        assert_eq!(at(&Path::root().key("b").key("c")), Some((4, 12)));
        assert_eq!(at(&Path::root().key("d")), Some((5, 4)));
        assert_eq!(at(&Path::root().key("a").index(3)), None);
    }

    #[test]
    fn path_display() {
        let p = Path::root()
            .key("services")
            .index(2)
            .key("real_servers")
            .index(0)
            .key("weight");
        assert_eq!(p.to_string(), "services[2].real_servers[0].weight");
    }
}
