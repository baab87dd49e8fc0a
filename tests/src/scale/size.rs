//! DynamoDB's item size rules, on the service's JSON wire form of attribute values
//! (`{"S": "..."}`, `{"N": "12"}`, `{"M": {...}}`...): what capacity units are charged on.
//!
//! - an attribute: its name's UTF-8 bytes plus its value's size;
//! - `S`: UTF-8 bytes; `B`: raw bytes; `N`: about one byte per two significant digits, plus 1;
//!   `BOOL`, `NULL`: 1; `L` and `M`: 3 plus, per element, 1 plus its size (and, in a map, the
//!   key's bytes); sets: the sum of their elements.

use serde_json::{Map, Value};

/// The size of an item (a map of attribute name to wire value).
pub fn item_bytes(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(name, v)| name.len() as u64 + value_bytes(v))
        .sum()
}

/// The size of one wire value.
pub fn value_bytes(v: &Value) -> u64 {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => s.len() as u64,
        ("N", Value::String(n)) => number_bytes(n),
        ("B", Value::String(b)) => base64_len(b),
        ("BOOL", _) | ("NULL", _) => 1,
        ("L", Value::Array(items)) => 3 + items.iter().map(|e| 1 + value_bytes(e)).sum::<u64>(),
        ("M", Value::Object(m)) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() as u64 + value_bytes(e))
                .sum::<u64>()
        }
        ("SS", Value::Array(items)) => items
            .iter()
            .map(|e| e.as_str().map_or(0, |s| s.len() as u64))
            .sum(),
        ("NS", Value::Array(items)) => items
            .iter()
            .map(|e| e.as_str().map_or(0, number_bytes))
            .sum(),
        ("BS", Value::Array(items)) => items.iter().map(|e| e.as_str().map_or(0, base64_len)).sum(),
        _ => 0,
    }
}

fn number_bytes(n: &str) -> u64 {
    let mantissa = n.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    (significant.len().max(1) as u64).div_ceil(2) + 1
}

fn base64_len(b: &str) -> u64 {
    let padding = b.chars().rev().take_while(|c| *c == '=').count() as u64;
    (b.len() as u64 / 4) * 3 - padding.min(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_the_documented_rules() {
        let item = json!({
            "pk": {"S": "CALL#1"},
            "n": {"N": "12345"},
            "ok": {"BOOL": true},
            "m": {"M": {"a": {"S": "xy"}}},
            "l": {"L": [{"S": "abc"}]}
        });
        let item = item.as_object().expect("map");
        // pk 2+6, n 1+4, ok 2+1, m 1+(3+1+1+2), l 1+(3+1+3)
        assert_eq!(item_bytes(item), 8 + 5 + 3 + 8 + 8);
        assert_eq!(value_bytes(&json!({"B": "AAAA"})), 3);
        assert_eq!(value_bytes(&json!({"N": "0.0010"})), 2);
    }
}
