//! Values written as one YAML scalar (addresses, CIDRs, names from a fixed list,
//! durations): parsed with our own messages, inside the scalar's visitor so that an error
//! carries the scalar's line and column.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::net::{IpNet, Netmask, PortRange};

/// A value that has one textual form in the configuration.
pub trait Textual: Sized {
    /// Parses the scalar; the error text reads `what is wrong; what is expected`.
    fn parse_text(s: &str) -> Result<Self, String>;
    /// The canonical text (what serialization writes).
    fn to_text(&self) -> String;
}

/// A [`Textual`] value as a serde field of the raw schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Text<T>(pub T);

impl<T: Textual> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_text())
    }
}

impl<'de, T: Textual> Deserialize<'de> for Text<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<T>, D::Error> {
        d.deserialize_str(TextVisitor(PhantomData))
    }
}

struct TextVisitor<T>(PhantomData<T>);

impl<T: Textual> Visitor<'_> for TextVisitor<T> {
    type Value = Text<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<T>, E> {
        T::parse_text(v).map(Text).map_err(E::custom)
    }
}

impl Textual for IpAddr {
    fn parse_text(s: &str) -> Result<IpAddr, String> {
        s.parse().map_err(|_| format!("bad IP address `{s}`; expected an IPv4 or IPv6 address such as 198.18.0.100 or 2001:2::100"))
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl Textual for SocketAddr {
    fn parse_text(s: &str) -> Result<SocketAddr, String> {
        s.parse().map_err(|_| format!("bad socket address `{s}`; expected ADDRESS:PORT such as 198.19.0.9:80 or [2001:2::9]:80"))
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl Textual for IpNet {
    fn parse_text(s: &str) -> Result<IpNet, String> {
        s.parse()
            .map_err(|e: crate::net::IpNetParseError| e.to_string())
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl Textual for PortRange {
    fn parse_text(s: &str) -> Result<PortRange, String> {
        s.parse()
            .map_err(|e: crate::net::PortRangeParseError| e.to_string())
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl Textual for Netmask {
    fn parse_text(s: &str) -> Result<Netmask, String> {
        s.parse()
            .map_err(|e: crate::net::NetmaskParseError| e.to_string())
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

/// A duration: `500ms`, `3s`, `2m`, or a bare number of seconds.
impl Textual for Duration {
    fn parse_text(s: &str) -> Result<Duration, String> {
        let err = || {
            format!(
                "bad duration `{s}`; expected a number with a unit ms, s or m, such as 500ms or 3s"
            )
        };
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() || num.len() > 9 {
            return Err(err());
        }
        let n: u64 = num.parse().map_err(|_| err())?;
        match unit {
            "ms" => Ok(Duration::from_millis(n)),
            "s" | "" => Ok(Duration::from_secs(n)),
            "m" => Ok(Duration::from_secs(n * 60)),
            _ => Err(err()),
        }
    }
    /// The largest exact unit, so that whatever was parsed prints back within the
    /// parser's nine digits.
    fn to_text(&self) -> String {
        let ms = self.as_millis();
        if ms.is_multiple_of(60_000) && ms > 0 {
            format!("{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{ms}ms")
        }
    }
}

/// Declares a closed set of names (schedulers, protocols...) as a `Copy` enum with
/// `Display`, [`Textual`] and serde support; an unknown name lists the known ones.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)] // the schema-only name sets do not need it
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The configuration name.
            pub fn name(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<$name, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        concat!("unknown ", $what, " `{}`; expected one of {}"),
                        s,
                        [$($text),+].join(" ")
                    )),
                }
            }
        }

        impl $crate::text::Textual for $name {
            fn parse_text(s: &str) -> Result<$name, String> {
                s.parse()
            }
            fn to_text(&self) -> String {
                self.name().to_owned()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                $crate::text::Text::<$name>::deserialize(d).map(|t| t.0)
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            Duration::parse_text("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(Duration::parse_text("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(
            Duration::parse_text("2m").unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(Duration::parse_text("7").unwrap(), Duration::from_secs(7));
        for bad in ["", "s", "1h", "-1s", "1.5s", "9999999999s"] {
            assert!(Duration::parse_text(bad).is_err(), "{bad}");
        }
        assert_eq!(Duration::from_millis(1500).to_text(), "1500ms");
        assert_eq!(Duration::from_secs(3).to_text(), "3s");
        assert_eq!(Duration::from_secs(120).to_text(), "2m");
        for text in ["999999999m", "999999999s", "999999999ms", "0s"] {
            let d = Duration::parse_text(text).unwrap();
            assert_eq!(Duration::parse_text(&d.to_text()).unwrap(), d, "{text}");
        }
    }
}

/// An L4 port: a number 0..=65535, with our message when it is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Port(pub u16);

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
        d.deserialize_str(PortVisitor)
    }
}

struct PortVisitor;

impl Visitor<'_> for PortVisitor {
    type Value = Port;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a port number")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Port, E> {
        if !v.is_empty() && v.len() <= 5 && v.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(p) = v.parse::<u16>() {
                return Ok(Port(p));
            }
        }
        Err(E::custom(format!(
            "bad port `{v}`; expected a number 0..=65535"
        )))
    }
}
