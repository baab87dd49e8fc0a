//! The recipient's quiet hours: from the called number, the time zones its holder may be in,
//! and the account's policy of which local hours calls to them are allowed.
//!
//! # Where the zones come from
//!
//! `data/libphonenumber_timezones.txt` is Google libphonenumber's
//! `resources/timezones/map_data.txt` (release v9.0.35, commit
//! aa97ee8d2582a727e150104aea96dc0d79e186ef, Apache License 2.0; see NOTICE), bundled
//! unchanged. Each line is `prefix|Zone1&Zone2`, the prefix being the number's digits after
//! the `+`. The longest prefix that matches a number gives its zones: North American numbers
//! by area code (`1NPA`, some by exchange `1NPANXX`), every other country by its calling code
//! or a longer prefix. A `+1` number whose area code the table does not know (toll-free,
//! `555`, unassigned) matches only the line `1`: every zone of the North American plan, from
//! Guam to Pago Pago. A number no line matches (the non-geographic codes such as `+800`, `+882`)
//! has no known zone.
//!
//! # The rule
//!
//! A call is allowed only if the local time is inside the allowed hours in **every** zone the
//! number may be in (see [`RecipientHours`] and `domain::dial_rules`, which combines it with
//! the account's calling window). A number with no known zone passes.

use crate::calling_window::{fmt_hhmm, parse_hhmm, CallingWindow, DayWindow, WindowError};
use crate::phone::PhoneNumber;
use crate::zone::Zone;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The bundled table (see the module doc for its source, version and licence).
pub const TABLE: &str = include_str!("../data/libphonenumber_timezones.txt");

/// The table parsed: prefix -> index into `zones`; built once per process.
struct Parsed {
    by_prefix: HashMap<&'static str, usize>,
    zones: Vec<Vec<Zone>>,
    longest: usize,
    /// Zone names the bundled time zone database does not know (left out of their lines; a test keeps this empty).
    unknown: Vec<&'static str>,
}

fn parsed() -> &'static Parsed {
    static PARSED: OnceLock<Parsed> = OnceLock::new();
    PARSED.get_or_init(|| parse(TABLE))
}

fn parse(text: &'static str) -> Parsed {
    let mut p = Parsed {
        by_prefix: HashMap::new(),
        zones: Vec::new(),
        longest: 0,
        unknown: Vec::new(),
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((prefix, names)) = line.split_once('|') else {
            continue;
        };
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let mut zones = Vec::new();
        for name in names.split('&') {
            match name.parse::<Zone>() {
                Ok(tz) => zones.push(tz),
                Err(_) => p.unknown.push(name),
            }
        }
        p.longest = p.longest.max(prefix.len());
        p.by_prefix.insert(prefix, p.zones.len());
        p.zones.push(zones);
    }
    p
}

/// The time zones the holder of `phone` may be in, by the longest matching prefix of the
/// bundled table; empty when no line matches.
pub fn zones_for(phone: &PhoneNumber) -> &'static [Zone] {
    let p = parsed();
    let digits = phone.as_str().trim_start_matches('+');
    let max = p.longest.min(digits.len());
    (1..=max)
        .rev()
        .find_map(|len| digits.get(..len).and_then(|k| p.by_prefix.get(k)))
        .and_then(|&i| p.zones.get(i))
        .map_or(&[], Vec::as_slice)
}

/// Which numbers the recipient's quiet hours apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    /// `+1` numbers only (the default): the US TCPA's 8 am to 9 pm in the called party's
    /// local time, and Canada's CRTC rules, are the reason for this feature.
    NorthAmerica,
    /// Every number with a known zone.
    Everywhere,
    /// Never: only the account's calling window applies.
    Off,
}

impl AppliesTo {
    pub fn as_str(self) -> &'static str {
        match self {
            AppliesTo::NorthAmerica => "north_america",
            AppliesTo::Everywhere => "everywhere",
            AppliesTo::Off => "off",
        }
    }
}

/// An account's recipient-hours policy, set by an operator (`bvai-admin
/// set-recipient-hours`); accounts without one get [`RecipientHours::default`]: 08:00-21:00
/// for North American numbers.
///
/// Off by default outside North America: the table places many countries by calling code
/// alone, quiet-hour rules differ by country (and many have none for the calls our customers
/// place), and switching it on everywhere would refuse calls that were allowed before. An
/// operator switches it on per account with `everywhere`.
///
/// `start`/`end` are wall-clock times in the recipient's zone, every day of the week; an end
/// before the start runs past midnight (`20:00-02:00`), `24:00` as an end means midnight. DST
/// follows `domain::calling_window`: a start that does not exist on the spring day opens at
/// the first minute that does, an ambiguous one at its first occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RecipientHoursJson", into = "RecipientHoursJson")]
pub struct RecipientHours {
    pub applies_to: AppliesTo,
    pub hours: DayWindow,
}

/// 08:00.
pub const DEFAULT_START: u16 = 8 * 60;
/// 21:00.
pub const DEFAULT_END: u16 = 21 * 60;

impl Default for RecipientHours {
    fn default() -> Self {
        RecipientHours {
            applies_to: AppliesTo::NorthAmerica,
            hours: DayWindow {
                start: DEFAULT_START,
                end: DEFAULT_END,
            },
        }
    }
}

/// The JSON form: `{"applies_to": "north_america", "start": "08:00", "end": "21:00"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientHoursJson {
    pub applies_to: AppliesTo,
    pub start: String,
    pub end: String,
}

impl TryFrom<RecipientHoursJson> for RecipientHours {
    type Error = WindowError;
    fn try_from(j: RecipientHoursJson) -> Result<Self, WindowError> {
        let start = parse_hhmm(&j.start, false)?;
        let end = parse_hhmm(&j.end, true)?;
        if start == end {
            return Err(WindowError::Empty("recipient hours".into()));
        }
        Ok(RecipientHours {
            applies_to: j.applies_to,
            hours: DayWindow { start, end },
        })
    }
}

impl From<RecipientHours> for RecipientHoursJson {
    fn from(r: RecipientHours) -> Self {
        RecipientHoursJson {
            applies_to: r.applies_to,
            start: fmt_hhmm(r.hours.start),
            end: fmt_hhmm(r.hours.end),
        }
    }
}

impl RecipientHours {
    /// Whether the policy applies to calls to `phone`.
    pub fn applies(&self, phone: &PhoneNumber) -> bool {
        match self.applies_to {
            AppliesTo::NorthAmerica => phone.country_code() == 1,
            AppliesTo::Everywhere => true,
            AppliesTo::Off => false,
        }
    }

    /// The allowed hours as one window per zone `phone` may be in; empty when the policy does
    /// not apply or no zone is known.
    pub fn windows(&self, phone: &PhoneNumber) -> Vec<CallingWindow> {
        if !self.applies(phone) {
            return Vec::new();
        }
        zones_for(phone)
            .iter()
            .map(|&time_zone| CallingWindow {
                time_zone,
                days: [Some(self.hours); 7],
            })
            .collect()
    }

    /// `08:00-21:00`.
    pub fn hours_label(&self) -> String {
        format!(
            "{}-{}",
            fmt_hhmm(self.hours.start),
            fmt_hhmm(self.hours.end)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(number: &str) -> Vec<&'static str> {
        zones_for(&PhoneNumber::parse(number).unwrap())
            .iter()
            .map(|z| z.name())
            .collect()
    }

    #[test]
    fn every_zone_of_the_table_is_in_the_bundled_database() {
        let p = parsed();
        assert!(p.unknown.is_empty(), "unknown zones: {:?}", p.unknown);
        // The table as bundled: 3,295 lines, none empty.
        assert_eq!(p.zones.len(), 3295);
        assert!(p.zones.iter().all(|z| !z.is_empty()));
        assert_eq!(p.longest, 9);
    }

    #[test]
    fn longest_prefix_wins() {
        for (number, expected) in [
            // Area codes, one per US zone, and Canada.
            ("+12125550100", vec!["America/New_York"]),
            ("+13125550100", vec!["America/Chicago"]),
            ("+13035550100", vec!["America/Denver"]),
            ("+16235550100", vec!["America/Phoenix"]),
            ("+14155550100", vec!["America/Los_Angeles"]),
            ("+19075550100", vec!["America/Adak", "America/Anchorage"]),
            ("+18085550100", vec!["Pacific/Honolulu"]),
            ("+14165550100", vec!["America/Toronto"]),
            // An exchange overrides its area code: 1-219-226 is in Central time.
            ("+12192265555", vec!["America/Chicago"]),
            ("+12195555555", vec!["America/New_York"]),
            // An area code across two zones (South Dakota: Mountain and Central).
            (
                "+16055550100",
                vec!["America/Denver", "America/North_Dakota/Center"],
            ),
            // Arizona keeps MST all year.
            ("+14805550100", vec!["America/Phoenix"]),
            // Countries.
            ("+442071838750", vec!["Europe/London"]),
            ("+4915123456789", vec!["Europe/Berlin"]),
            ("+74951234567", vec!["Europe/Moscow"]),
            ("+79161234567", vec!["Europe/Moscow"]),
            ("+61212345678", vec!["Australia/Sydney"]),
        ] {
            assert_eq!(zones(number), expected, "{number}");
        }
        // An unknown area code falls back to the whole plan; a +7 number the table does not
        // place (+7 2..) to all of Russia and Kazakhstan.
        assert_eq!(zones("+15551234567").len(), 42);
        assert_eq!(zones("+72001234567").len(), 16);
        // Non-geographic: no line.
        assert!(zones("+80012345678").is_empty());
    }

    #[test]
    fn policy_json_and_scope() {
        let d = RecipientHours::default();
        let j = serde_json::to_value(d).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"applies_to": "north_america", "start": "08:00", "end": "21:00"})
        );
        let back: RecipientHours = serde_json::from_value(j).unwrap();
        assert_eq!(back, d);
        let us = PhoneNumber::parse("+14155550100").unwrap();
        let uk = PhoneNumber::parse("+442071838750").unwrap();
        assert_eq!(d.windows(&us).len(), 1);
        assert!(d.windows(&uk).is_empty());
        let everywhere = RecipientHours {
            applies_to: AppliesTo::Everywhere,
            ..d
        };
        assert_eq!(everywhere.windows(&uk).len(), 1);
        let off = RecipientHours {
            applies_to: AppliesTo::Off,
            ..d
        };
        assert!(off.windows(&us).is_empty());
        for bad in [
            serde_json::json!({"applies_to": "mars", "start": "08:00", "end": "21:00"}),
            serde_json::json!({"applies_to": "off", "start": "8:00", "end": "21:00"}),
            serde_json::json!({"applies_to": "off", "start": "08:00", "end": "08:00"}),
            serde_json::json!({"applies_to": "off", "start": "08:00", "end": "21:00", "x": 1}),
            serde_json::json!({"applies_to": "off", "start": "08:00"}),
        ] {
            assert!(
                serde_json::from_value::<RecipientHours>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
