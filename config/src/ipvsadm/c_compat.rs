//! The C library functions ipvsadm reads numbers and addresses with, emulated so
//! that rvsadm accepts and refuses exactly the same text: `strtol` as ipvsadm's
//! `string_to_number` uses it, `atoi`, glibc's `inet_aton` and `strncpy` into a
//! fixed buffer. "C" locale throughout.

use std::net::Ipv4Addr;

/// C's `isspace` in the "C" locale.
fn c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// ipvsadm's `string_to_number`: a whole-string `strtol` in `min..=max`.
pub(super) fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start_matches(c_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Overflow is strtol's ERANGE, which ipvsadm rejects.
    let mut value: i64 = 0;
    for b in digits.bytes() {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let value = if neg { -value } else { value };
    (min..=max).contains(&value).then_some(value)
}

/// C's `atoi` (ipvsadm reads IPv6 netmasks with it): leading digits only.
pub(super) fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches(c_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -value
    } else {
        value
    }
}

/// glibc's `inet_aton`: 1 to 4 dot-separated parts in C notation (decimal,
/// `0` octal, `0x` hex); the last part fills the remaining bytes; anything
/// after trailing whitespace is ignored.
pub(crate) fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut parts: Vec<u64> = Vec::with_capacity(4);
    let last = loop {
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let mut base = 10;
        if b[i] == b'0' {
            i += 1;
            if matches!(b.get(i), Some(b'x' | b'X')) {
                base = 16;
                i += 1;
            } else {
                base = 8;
            }
        }
        let mut value: u64 = 0;
        let mut any_digit = base == 8;
        while let Some(&c) = b.get(i) {
            let d = match c {
                b'0'..=b'9' if base == 8 && c >= b'8' => return None,
                b'0'..=b'9' => u64::from(c - b'0'),
                b'a'..=b'f' if base == 16 => u64::from(c - b'a' + 10),
                b'A'..=b'F' if base == 16 => u64::from(c - b'A' + 10),
                _ => break,
            };
            value = value * base + d;
            if value > 0xffff_ffff {
                return None;
            }
            any_digit = true;
            i += 1;
        }
        if !any_digit {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            if parts.len() >= 3 || value > 0xff {
                return None;
            }
            parts.push(value);
            i += 1;
        } else {
            break value;
        }
    };
    if let Some(&c) = b.get(i) {
        if !c.is_ascii() || !c_space(char::from(c)) {
            return None;
        }
    }
    let limit: u64 = match parts.len() {
        0 => 0xffff_ffff,
        1 => 0xff_ffff,
        2 => 0xffff,
        _ => 0xff,
    };
    if last > limit {
        return None;
    }
    let mut addr: u64 = last;
    for (k, p) in parts.iter().enumerate() {
        addr |= p << (24 - 8 * k);
    }
    Some(Ipv4Addr::from(u32::try_from(addr).ok()?))
}

/// Truncates like `strncpy` into a fixed buffer of `max` bytes.
pub(super) fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// inet_aton agrees with Rust on dotted quads.
        #[test]
        fn inet_aton_dotted_quads(a in any::<[u8; 4]>()) {
            let addr = Ipv4Addr::from(a);
            prop_assert_eq!(inet_aton(&addr.to_string()), Some(addr));
        }
    }
}
