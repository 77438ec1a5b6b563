//! Argument parsing shared by the command line and the control-file commands.
//!
//! SPEC §2: inputs accept `0x` hex, decimal, and `K`/`M`/`G` suffixes on sizes.

/// Parses an unsigned number: `0x` hex or decimal, underscores allowed as separators.
pub fn parse_number(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let clean: String = t.chars().filter(|&c| c != '_').collect();
    let parsed = if let Some(hex) = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16)
    } else {
        clean.parse::<u64>()
    };
    parsed.map_err(|_| {
        if t.is_empty() {
            "a number is missing".to_string()
        } else {
            format!("'{t}' is not a number (use decimal or 0x hex)")
        }
    })
}

/// Parses a size: a number optionally followed by `K`, `M`, `G` (or `T`), binary units,
/// with an optional trailing `B` (`64K`, `16MB`, `0x1000`, `1G`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    let body = upper.strip_suffix('B').unwrap_or(&upper);
    // A hex number may end in B, so only strip it when a unit letter precedes it
    // or the rest is not hex.
    let (digits, shift) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 10),
        Some('M') => (&body[..body.len() - 1], 20),
        Some('G') => (&body[..body.len() - 1], 30),
        Some('T') => (&body[..body.len() - 1], 40),
        _ if upper.starts_with("0X") => (upper.as_str(), 0),
        _ => (body, 0),
    };
    if digits.is_empty() {
        return Err(format!(
            "'{t}' is not a size (for example 4096, 0x1000, 64K, 16M, 1G)"
        ));
    }
    let n = parse_number(digits)
        .map_err(|_| format!("'{t}' is not a size (for example 4096, 0x1000, 64K, 16M, 1G)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size '{t}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x10000"), Ok(0x10000));
        assert_eq!(parse_number("65536"), Ok(65536));
        assert_eq!(parse_number("1_000"), Ok(1000));
        assert!(parse_number("").is_err());
        assert!(parse_number("0x").is_err());
        assert!(parse_number("12ab").is_err());
        assert!(parse_number("-1").is_err());
        assert!(parse_number("0xffffffffffffffffff").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert_eq!(parse_size("0x1000"), Ok(0x1000));
        assert_eq!(parse_size("0xB"), Ok(0xB));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("M").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(parse_size("17179869184G").is_err());
    }
}
