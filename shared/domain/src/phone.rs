//! Strict E.164 phone numbers.
//!
//! The provider dials whatever we pass it, so a number is accepted only in the one canonical
//! form (`+`, a real country calling code, at most 15 digits). Near misses such as
//! `+1 (555) 123-4567` are refused, but the error shows the corrected form so the fix is a
//! copy-paste.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Country calling codes assigned by the ITU (E.164 list), including shared and global
/// service codes. A number must start with one of these.
const COUNTRY_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 379, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505,
    506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675,
    676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850,
    852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966,
    967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

/// Shortest number we accept, country code included (small Pacific numbering plans).
const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

/// A phone number known to be canonical E.164.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone must not be empty; use E.164 format, e.g. \"+15551234567\"")]
    Empty,
    #[error("phone must be in E.164 format without spaces or punctuation: did you mean \"{suggestion}\"?")]
    NearMiss { suggestion: String },
    #[error("phone must start with '+' and a country calling code, e.g. \"+15551234567\"")]
    MissingPlus,
    #[error("phone must contain only digits after the '+', e.g. \"+15551234567\"")]
    NotDigits,
    #[error("phone has the wrong number of digits for E.164 (at most {MAX_DIGITS} after the '+'; +1 numbers have 11)")]
    Length,
    #[error("phone does not start with a valid country calling code")]
    UnknownCountryCode,
}

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        if input.is_empty() {
            return Err(PhoneError::Empty);
        }
        match strict(input) {
            Ok(p) => Ok(p),
            Err(strict_err) => match suggest(input) {
                Some(s) if s != input => Err(PhoneError::NearMiss { suggestion: s }),
                _ => Err(strict_err),
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The calling code the number starts with.
    pub fn country_code(&self) -> u16 {
        country_code_of(&self.0[1..]).unwrap_or(0)
    }
}

fn strict(input: &str) -> Result<PhoneNumber, PhoneError> {
    let digits = input.strip_prefix('+').ok_or(PhoneError::MissingPlus)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
        return Err(PhoneError::NotDigits);
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(PhoneError::Length);
    }
    if digits.starts_with('0') {
        return Err(PhoneError::UnknownCountryCode);
    }
    match country_code_of(digits) {
        None => return Err(PhoneError::UnknownCountryCode),
        // The North American plan is fixed-length: +1 and ten digits.
        Some(1) if digits.len() != 11 => return Err(PhoneError::Length),
        Some(_) => {}
    }
    Ok(PhoneNumber(input.to_string()))
}

/// The canonical form of a near miss: formatting characters dropped, `00` read as `+`.
fn suggest(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let mut out = String::with_capacity(16);
    let rest = match trimmed.strip_prefix('+') {
        Some(r) => r,
        None => trimmed.strip_prefix("00")?,
    };
    for c in rest.chars() {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return None,
        }
    }
    let candidate = format!("+{out}");
    strict(&candidate).ok().map(|p| p.0)
}

fn country_code_of(digits: &str) -> Option<u16> {
    (1..=3).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        COUNTRY_CODES.binary_search(&code).ok().map(|_| code)
    })
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PhoneNumber::parse(&s)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

/// In the contract: a string in the one form [`PhoneNumber::parse`] accepts without a
/// suggestion (`+`, a non-zero first digit, 7 to 15 digits); the country calling code and the
/// North American length are checked by the parser only.
#[cfg(feature = "openapi")]
impl schemars::JsonSchema for PhoneNumber {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PhoneNumber".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": format!("^\\+[1-9][0-9]{{{},{}}}$", MIN_DIGITS - 1, MAX_DIGITS - 1),
            "examples": ["+15551234567"]
        })
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_for_binary_search() {
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn accepts_canonical_numbers() {
        for ok in [
            "+15551234567",
            "+442071838750",
            "+4915123456789",
            "+8613800138000",
            "+35312345678",
            "+6831234",
            "+491234567890123",
        ] {
            let p = PhoneNumber::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(p.as_str(), ok);
        }
        assert_eq!(
            PhoneNumber::parse("+15551234567").unwrap().country_code(),
            1
        );
        assert_eq!(
            PhoneNumber::parse("+35312345678").unwrap().country_code(),
            353
        );
    }

    #[test]
    fn near_misses_show_the_corrected_form() {
        for (input, fixed) in [
            ("+1 (555) 123-4567", "+15551234567"),
            ("+1-555-123-4567", "+15551234567"),
            ("+1.555.123.4567", "+15551234567"),
            ("0044 20 7183 8750", "+442071838750"),
            (" +15551234567 ", "+15551234567"),
        ] {
            match PhoneNumber::parse(input) {
                Err(PhoneError::NearMiss { suggestion }) => assert_eq!(suggestion, fixed),
                other => panic!("{input}: {other:?}"),
            }
            let msg = PhoneNumber::parse(input).unwrap_err().to_string();
            assert!(msg.contains(fixed), "{msg}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        use PhoneError::*;
        for (input, err) in [
            ("", Empty),
            ("15551234567", MissingPlus),
            ("5551234567", MissingPlus),
            ("+", NotDigits),
            ("+1555abc4567", NotDigits),
            ("+١٥٥٥١٢٣٤٥٦٧", NotDigits),
            ("+1234567890123456", Length),
            ("+0123456789", UnknownCountryCode),
            ("+2101234567", UnknownCountryCode),
            ("+155512", Length),
            ("+1555123456", Length),
        ] {
            assert_eq!(PhoneNumber::parse(input), Err(err), "{input}");
        }
        // +210 and +280 are unassigned.
        assert!(PhoneNumber::parse("+2801234567").is_err());
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let p: PhoneNumber = serde_json::from_str("\"+15551234567\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+15551234567\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"555\"").is_err());
    }
}
