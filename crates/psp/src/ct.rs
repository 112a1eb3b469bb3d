//! Constant-time comparison of signatures.

/// Compares two ASCII hex signatures case-insensitively in time that depends only on their
/// lengths (the length of a signature is public: it follows from the algorithm).
pub(crate) fn hex_eq_ignore_case(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| {
        acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
    });
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::hex_eq_ignore_case;

    #[test]
    fn compares_case_insensitively_and_by_length() {
        assert!(hex_eq_ignore_case("AB01", "ab01"));
        assert!(!hex_eq_ignore_case("AB01", "AB02"));
        assert!(!hex_eq_ignore_case("AB01", "AB0"));
        assert!(!hex_eq_ignore_case("", "A"));
    }
}
