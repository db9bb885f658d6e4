//! Exact decimal amounts for the limit rule: text such as `49.90` is read into an integer
//! count of 10⁻¹⁸ units, so `0.1 + 0.2` surprises cannot happen.

use std::fmt;

/// Digits after the point that are kept exactly.
const SCALE: u32 = 18;

/// An exact decimal amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i128);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// Reads `[-]digits[.digits]` (surrounding blanks ignored; at most 18 digits after the
    /// point and 20 before it). Anything else (exponents, thousands separators, `NaN`) is
    /// `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || whole.len() > 20
            || fraction.len() > SCALE as usize
        {
            return None;
        }
        let mut units: i128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            units = units.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        units = units.checked_mul(10i128.checked_pow(SCALE - fraction.len() as u32)?)?;
        Some(Amount(if negative { -units } else { units }))
    }

    /// A TOML number or decimal string, as `limits` values are written.
    pub fn from_toml(value: &toml::Value) -> Option<Self> {
        match value {
            toml::Value::Integer(i) => Self::parse(&i.to_string()),
            // Rust writes the shortest text that reads back as the same float: `49.9` for
            // what the file spelled `49.9`, so the decimal the operator meant is kept.
            toml::Value::Float(f) if f.is_finite() => Self::parse(&f.to_string()),
            toml::Value::String(s) => Self::parse(s),
            _ => None,
        }
    }
}

impl fmt::Display for Amount {
    /// The shortest exact text, with at least two decimals (`50.00`, `49.995`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = 10u128.pow(SCALE);
        let units = self.0.unsigned_abs();
        let sign = if self.0 < 0 { "-" } else { "" };
        let fraction = format!("{:018}", units % one);
        let fraction = fraction.trim_end_matches('0');
        write!(f, "{sign}{}.{fraction:0<2}", units / one)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_decimal_text_exactly() {
        let a = |t: &str| Amount::parse(t).unwrap();
        assert_eq!(a("50"), a("50.000"));
        assert!(a("50.01") > a("50"));
        assert!(a("49.999999999999999999") < a("50"));
        assert_eq!(
            a("0.3"),
            Amount(a("0.1").0 + a("0.2").0),
            "no float surprises"
        );
        assert!(a("-1") < a("0"));
        assert_eq!(a(" 7.5 "), a("7.50"));
        assert_eq!(a(".5"), a("0.5"));
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for text in [
            "",
            "-",
            ".",
            "1e3",
            "1,000.00",
            "NaN",
            "inf",
            "1.2.3",
            "12 3",
            "--1",
            "1.0000000000000000001",
            "123456789012345678901",
        ] {
            assert_eq!(Amount::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn toml_numbers_keep_the_decimal_that_was_written() {
        let table: toml::Table =
            toml::from_str("a = 49.9\nb = 50\nc = \"0.10\"\nd = true").unwrap();
        assert_eq!(Amount::from_toml(&table["a"]), Amount::parse("49.9"));
        assert_eq!(Amount::from_toml(&table["b"]), Amount::parse("50"));
        assert_eq!(Amount::from_toml(&table["c"]), Amount::parse("0.1"));
        assert_eq!(Amount::from_toml(&table["d"]), None);
    }

    #[test]
    fn displays_at_least_two_decimals() {
        let shown = |t: &str| Amount::parse(t).unwrap().to_string();
        assert_eq!(shown("50"), "50.00");
        assert_eq!(shown("49.995"), "49.995");
        assert_eq!(shown("-0.5"), "-0.50");
    }
}
