//! Small helpers: form decoding, escaping, decimal amounts, random identifiers, dates.

use time::OffsetDateTime;

/// Form fields in the order received. Look-ups ignore the case of names (Ogone's names are
/// case-insensitive on the wire, ref §1.2).
#[derive(Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The first value of `name` (any case), trimmed of nothing.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or `""`.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Every pair, for signatures.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Only the pairs whose upper-cased name is in `names`.
    pub fn pairs_named(&self, names: &[&str]) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .filter(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex_value(raw[i + 1]), hex_value(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Decodes text: UTF-8 when it is; otherwise ISO-8859-1 (the non-`_utf8` Ogone pages), or
/// lossy UTF-8 on the `_utf8` pages.
fn decode_text(bytes: Vec<u8>, utf8_only: bool) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) if utf8_only => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
    }
}

/// Parses an `application/x-www-form-urlencoded` body (or a query string).
pub fn parse_form(body: &[u8], utf8_only: bool) -> Params {
    let mut out = Vec::new();
    for part in body.split(|b| *b == b'&') {
        if part.is_empty() {
            continue;
        }
        let (name, value) = match part.iter().position(|b| *b == b'=') {
            Some(at) => (&part[..at], &part[at + 1..]),
            None => (part, &[][..]),
        };
        let name = decode_text(percent_decode(name), utf8_only);
        let value = decode_text(percent_decode(value), utf8_only);
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    Params(out)
}

/// The buyer's answer on an ACS page: `decision` (the page's buttons), or `answer`, lower-cased;
/// empty when neither is given.
pub fn acs_decision(params: &Params) -> String {
    [params.text("decision"), params.text("answer")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// XML attribute / text escaping.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// HTML escaping (text and attribute values).
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Minor units as Ogone's decimal `amount`: no trailing zeros (1500 → `15`, 450 → `4.5`,
/// 111111 → `1111.11`, 5 → `0.05`).
pub fn decimal_amount(minor: u64) -> String {
    let units = minor / 100;
    let cents = minor % 100;
    if cents == 0 {
        units.to_string()
    } else if cents.is_multiple_of(10) {
        format!("{units}.{}", cents / 10)
    } else {
        format!("{units}.{cents:02}")
    }
}

/// Minor units for display to the buyer (`15.00`).
pub fn display_amount(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// A strictly positive integer amount in minor units (digits only).
pub fn parse_minor(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok().filter(|v: &u64| *v > 0)
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS random source is not expected to fail; a time-based fallback keeps the
        // simulator working (its identifiers protect nothing of value).
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (nanos >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    hex::encode(bytes)
}

/// A random number of `digits` decimal digits (may start with 0).
pub fn random_digits(digits: usize) -> String {
    let hex = random_hex(digits);
    hex.bytes()
        .step_by(2)
        .zip(hex.bytes().skip(1).step_by(2))
        .map(|(a, b)| {
            let v =
                u16::from(hex_value(a).unwrap_or(0)) * 16 + u16::from(hex_value(b).unwrap_or(0));
            char::from(b'0' + (v % 10) as u8)
        })
        .take(digits)
        .collect()
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Ogone `TRXDATE`: `MM/DD/YY`.
pub fn trxdate(at: OffsetDateTime) -> String {
    format!(
        "{:02}/{:02}/{:02}",
        u8::from(at.month()),
        at.day(),
        at.year().rem_euclid(100)
    )
}

/// Sips `transactionDateTime`: `2018-01-04T10:11:13+00:00`.
pub fn sips_datetime(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// RFC 3339 for the `/__sim` listings.
pub fn rfc3339(at: OffsetDateTime) -> String {
    sips_datetime(at)
}

/// ISO 4217 numeric → alpha for the currencies a test is likely to use.
pub fn currency_alpha(numeric: &str) -> Option<&'static str> {
    Some(match numeric {
        "978" => "EUR",
        "840" => "USD",
        "826" => "GBP",
        "756" => "CHF",
        "124" => "CAD",
        "036" => "AUD",
        "392" => "JPY",
        "752" => "SEK",
        "578" => "NOK",
        "208" => "DKK",
        "985" => "PLN",
        _ => return None,
    })
}

/// Appends `pairs` to `url`'s query.
pub fn with_query(base: &str, pairs: &[(String, String)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            url.into()
        }
        Err(_) => {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}{encoded}")
        }
    }
}

/// `k=v&k2=v2` (PARAMPLUS) as pairs.
pub fn split_paramplus(text: &str) -> Vec<(String, String)> {
    parse_form(text.as_bytes(), true).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        for (minor, text) in [
            (1500, "15"),
            (450, "4.5"),
            (111111, "1111.11"),
            (5, "0.05"),
            (10, "0.1"),
            (0, "0"),
            (1789, "17.89"),
        ] {
            assert_eq!(decimal_amount(minor), text);
        }
        assert_eq!(display_amount(450), "4.50");
        assert_eq!(parse_minor("1500"), Some(1500));
        assert_eq!(parse_minor("0"), None);
        assert_eq!(parse_minor("15.00"), None);
        assert_eq!(parse_minor(""), None);
    }

    #[test]
    fn forms() {
        let p = parse_form(b"a=1&B=x+y%26z&c=%E9&d", false);
        assert_eq!(p.get("b"), Some("x y&z"));
        assert_eq!(p.get("A"), Some("1"));
        assert_eq!(p.get("c"), Some("\u{e9}"));
        assert_eq!(p.get("d"), Some(""));
        let p = parse_form("c=%C3%A9&e=%zz%4".as_bytes(), true);
        assert_eq!(p.get("c"), Some("\u{e9}"));
        assert_eq!(p.get("e"), Some("%zz%4"));
    }

    #[test]
    fn escaping_and_dates() {
        assert_eq!(xml_escape(r#"a"<&>'"#), "a&quot;&lt;&amp;&gt;&apos;");
        assert_eq!(html_escape("<b>"), "&lt;b&gt;");
        let at = time::macros::datetime!(2022-01-31 10:11:13 UTC);
        assert_eq!(trxdate(at), "01/31/22");
        assert_eq!(sips_datetime(at), "2022-01-31T10:11:13+00:00");
        assert_eq!(random_hex(8).len(), 16);
        let d = random_digits(6);
        assert!(d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            with_query("http://x/a?k=1", &[("b".into(), "c d".into())]),
            "http://x/a?k=1&b=c+d"
        );
    }
}
