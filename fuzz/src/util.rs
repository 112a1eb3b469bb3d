//! Helpers shared by the targets.

use guichet_psp::card::MaskedCardNumber;

/// Reply bytes as text, the way `guichet_psp::call` reads a provider's reply: UTF-8 when valid,
/// else ISO-8859-1 byte for byte.
pub fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().copied().map(char::from).collect(),
    }
}

/// A masked card number never shows more than BIN + last 4: 12 to 19 positions, at most 10
/// digits, none of them outside the first 6 and the last 4 positions.
pub fn assert_masked(m: &MaskedCardNumber) {
    let s = m.as_str();
    let len = s.len();
    assert!((12..=19).contains(&len), "masked number of {len} positions");
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    assert!(digits <= 10, "masked number shows {digits} digits");
    for (i, b) in s.bytes().enumerate() {
        if (6..len - 4).contains(&i) {
            assert!(!b.is_ascii_digit(), "digit in the masked middle at {i}");
        }
        assert!(
            b.is_ascii_digit() || matches!(b, b'X' | b'x' | b'*' | b'#'),
            "unexpected byte {b:#x} in a masked number"
        );
    }
    assert_eq!(
        MaskedCardNumber::parse(s).as_ref(),
        Ok(m),
        "masked number re-parses"
    );
    assert!(m.last_digits().len() <= 4);
    assert!(s.ends_with(m.last_digits()));
}

/// The longest run of consecutive ASCII digits in `s`.
pub fn longest_digit_run(s: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Error messages that may reach logs or responses never repeat a card-number-like run of
/// digits (DESIGN.md invariant 3): no 7 digits in a row.
pub fn assert_no_digit_run(message: &str) {
    assert!(
        longest_digit_run(message) < 7,
        "an error message repeats a run of digits: {message:?}"
    );
}

/// A small deterministic choice from the input, for the variations a target tries.
pub fn pick(data: &[u8], n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let h = data.iter().fold(data.len(), |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    h % n
}
