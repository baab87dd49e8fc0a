//! When an account allows calls: an IANA time zone and, per weekday, a start and end wall-clock
//! time or nothing ("off").
//!
//! Wall-clock semantics: "09:00-17:00 America/New_York" means nine to five on the clocks in New
//! York, whatever the UTC offset that day. A window whose end is before its start runs past
//! midnight into the next day (`22:00-02:00`). `24:00` as an end means midnight. On the spring
//! DST day a start that does not exist on the clocks opens at the first instant that does; on
//! the autumn day an ambiguous start opens at its first occurrence.

use crate::zone::Zone;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, Timelike, Utc, Weekday,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MINUTES_PER_DAY: u16 = 24 * 60;
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One day's window as minutes since local midnight: `[start, end)`; `end < start` wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    pub start: u16,
    pub end: u16,
}

impl DayWindow {
    fn wraps(&self) -> bool {
        self.end < self.start
    }
}

/// The account's calling window. `None` on the account means always open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CallingWindowJson", into = "CallingWindowJson")]
pub struct CallingWindow {
    pub time_zone: Zone,
    /// Monday first.
    pub days: [Option<DayWindow>; 7],
}

/// The JSON form: `{"time_zone": "Europe/Berlin", "days": {"mon": {"start": "09:00", "end": "17:00"}, "sat": "off"}}`.
/// A weekday that is absent is off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallingWindowJson {
    pub time_zone: String,
    pub days: BTreeMap<String, DayJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DayJson {
    Off(String),
    Hours { start: String, end: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("unknown IANA time zone {0:?}")]
    TimeZone(String),
    #[error("unknown weekday {0:?}; use mon, tue, wed, thu, fri, sat, sun")]
    Weekday(String),
    #[error("invalid time {0:?}; use HH:MM (24-hour), end may be 24:00")]
    Time(String),
    #[error("{0}: start and end are equal; use 00:00-24:00 for the whole day")]
    Empty(String),
    #[error("{0:?} is not a window; use {{\"start\": \"HH:MM\", \"end\": \"HH:MM\"}} or \"off\"")]
    Day(String),
}

pub(crate) fn parse_hhmm(s: &str, allow_24: bool) -> Result<u16, WindowError> {
    let bad = || WindowError::Time(s.to_string());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if allow_24 && h == 24 && m == 0 {
        return Ok(MINUTES_PER_DAY);
    }
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub(crate) fn fmt_hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

impl TryFrom<CallingWindowJson> for CallingWindow {
    type Error = WindowError;
    fn try_from(j: CallingWindowJson) -> Result<Self, WindowError> {
        let time_zone: Zone = j
            .time_zone
            .parse()
            .map_err(|_| WindowError::TimeZone(j.time_zone.clone()))?;
        let mut days = [None; 7];
        for (name, day) in j.days {
            let idx = DAY_NAMES
                .iter()
                .position(|d| *d == name.to_ascii_lowercase())
                .ok_or_else(|| WindowError::Weekday(name.clone()))?;
            days[idx] = match day {
                DayJson::Off(s) if s == "off" => None,
                DayJson::Off(s) => return Err(WindowError::Day(s)),
                DayJson::Hours { start, end } => {
                    let s = parse_hhmm(&start, false)?;
                    let e = parse_hhmm(&end, true)?;
                    if s == e {
                        return Err(WindowError::Empty(name));
                    }
                    Some(DayWindow { start: s, end: e })
                }
            };
        }
        Ok(CallingWindow { time_zone, days })
    }
}

impl From<CallingWindow> for CallingWindowJson {
    fn from(w: CallingWindow) -> Self {
        let days = w
            .days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let v = match d {
                    None => DayJson::Off("off".into()),
                    Some(d) => DayJson::Hours {
                        start: fmt_hhmm(d.start),
                        end: fmt_hhmm(d.end),
                    },
                };
                (DAY_NAMES[i].to_string(), v)
            })
            .collect();
        CallingWindowJson {
            time_zone: w.time_zone.name().to_string(),
            days,
        }
    }
}

fn weekday_index(w: Weekday) -> usize {
    w.num_days_from_monday() as usize
}

impl CallingWindow {
    /// Whether a call may be placed at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = self.time_zone.local(now);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let today = weekday_index(local.weekday());
        let yesterday = (today + 6) % 7;
        if let Some(d) = self.days[today] {
            let open_today = if d.wraps() {
                minute >= d.start
            } else {
                minute >= d.start && minute < d.end
            };
            if open_today {
                return true;
            }
        }
        if let Some(d) = self.days[yesterday] {
            if d.wraps() && minute < d.end {
                return true;
            }
        }
        false
    }

    /// The next instant after `now` at which the window opens, or `None` if every day is off.
    pub fn next_opening(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local_date = self.time_zone.local(now).date();
        // Eight days ahead covers a window that is open one day a week.
        (0..=8)
            .filter_map(|offset| {
                let date = local_date + Duration::days(offset);
                let day = self.days[weekday_index(date.weekday())]?;
                let opens = self.resolve(date, day.start)?;
                (opens > now).then_some(opens)
            })
            .min()
    }

    /// The UTC instant of a local wall time, following the DST rules in the module doc.
    fn resolve(&self, date: NaiveDate, minute: u16) -> Option<DateTime<Utc>> {
        let mut t = date.and_time(NaiveTime::from_hms_opt(
            (minute / 60) as u32,
            (minute % 60) as u32,
            0,
        )?);
        // A gap is at most a few hours long; step forward to the first wall time that exists.
        for _ in 0..=(4 * 60) {
            match self.time_zone.from_local(t) {
                LocalResult::Single(dt) => return Some(dt),
                LocalResult::Ambiguous(first, _) => return Some(first),
                LocalResult::None => t += Duration::minutes(1),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(tz: &str, days: &[(&str, &str, &str)]) -> CallingWindow {
        let mut map = serde_json::Map::new();
        for (d, s, e) in days {
            map.insert(d.to_string(), serde_json::json!({"start": s, "end": e}));
        }
        serde_json::from_value(serde_json::json!({"time_zone": tz, "days": map})).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const WEEKDAYS_9_17: &[(&str, &str, &str)] = &[
        ("mon", "09:00", "17:00"),
        ("tue", "09:00", "17:00"),
        ("wed", "09:00", "17:00"),
        ("thu", "09:00", "17:00"),
        ("fri", "09:00", "17:00"),
    ];

    #[test]
    fn open_and_next_opening_table() {
        // (window, now, open?, next opening if closed)
        let ny = window("America/New_York", WEEKDAYS_9_17);
        let night = window("Europe/Berlin", &[("fri", "22:00", "02:00")]);
        let sunday_only = window("Asia/Tokyo", &[("sun", "10:00", "11:00")]);
        let whole_day = window("UTC", &[("wed", "00:00", "24:00")]);
        let cases: &[(&CallingWindow, &str, bool, Option<&str>)] = &[
            // Monday 2025-06-16, EDT (UTC-4): 09:00 local is 13:00Z.
            (&ny, "2025-06-16T13:00:00Z", true, None),
            (
                &ny,
                "2025-06-16T12:59:59Z",
                false,
                Some("2025-06-16T13:00:00Z"),
            ),
            (&ny, "2025-06-16T20:59:00Z", true, None),
            (
                &ny,
                "2025-06-16T21:00:00Z",
                false,
                Some("2025-06-17T13:00:00Z"),
            ),
            // Friday evening -> Monday morning (weekend skipped).
            (
                &ny,
                "2025-06-20T22:00:00Z",
                false,
                Some("2025-06-23T13:00:00Z"),
            ),
            // Saturday 01:30 local (05:30Z): Friday's window does not wrap, so closed.
            (
                &ny,
                "2025-06-21T05:30:00Z",
                false,
                Some("2025-06-23T13:00:00Z"),
            ),
            // Across midnight: Friday 22:00 to Saturday 02:00 Berlin (CEST, UTC+2).
            (&night, "2025-06-20T20:00:00Z", true, None),
            (&night, "2025-06-20T23:30:00Z", true, None), // Saturday 01:30 local
            (
                &night,
                "2025-06-21T00:00:00Z",
                false,
                Some("2025-06-27T20:00:00Z"),
            ), // Sat 02:00
            (
                &night,
                "2025-06-20T19:59:00Z",
                false,
                Some("2025-06-20T20:00:00Z"),
            ),
            // Week wrap-around: from Monday to the next Sunday.
            (
                &sunday_only,
                "2025-06-16T03:00:00Z",
                false,
                Some("2025-06-22T01:00:00Z"),
            ),
            (&sunday_only, "2025-06-22T01:30:00Z", true, None),
            (
                &sunday_only,
                "2025-06-22T02:00:00Z",
                false,
                Some("2025-06-29T01:00:00Z"),
            ),
            (&whole_day, "2025-06-18T23:59:59Z", true, None),
            (
                &whole_day,
                "2025-06-19T00:00:00Z",
                false,
                Some("2025-06-25T00:00:00Z"),
            ),
        ];
        for (w, now, open, next) in cases {
            let now = utc(now);
            assert_eq!(w.is_open(now), *open, "is_open at {now}");
            if !open {
                assert_eq!(w.next_opening(now), next.map(utc), "next_opening at {now}");
            }
        }
    }

    #[test]
    fn dst_spring_forward() {
        // 2025-03-09: New York clocks jump 02:00 -> 03:00. A 02:30 start does not exist that
        // day and opens at 03:00 EDT (07:00Z). A 09:00 start is 13:00Z (EDT) vs 14:00Z the day
        // before (EST).
        let early = window("America/New_York", &[("sun", "02:30", "04:00")]);
        assert_eq!(
            early.next_opening(utc("2025-03-09T05:00:00Z")),
            Some(utc("2025-03-09T07:00:00Z"))
        );
        assert!(early.is_open(utc("2025-03-09T07:00:00Z")));
        assert!(!early.is_open(utc("2025-03-09T06:59:00Z")));
        let nine = window(
            "America/New_York",
            &[("sat", "09:00", "17:00"), ("sun", "09:00", "17:00")],
        );
        assert_eq!(
            nine.next_opening(utc("2025-03-08T00:00:00Z")),
            Some(utc("2025-03-08T14:00:00Z"))
        );
        assert_eq!(
            nine.next_opening(utc("2025-03-08T23:00:00Z")),
            Some(utc("2025-03-09T13:00:00Z"))
        );
    }

    #[test]
    fn dst_fall_back() {
        // 2025-11-02: New York clocks go 02:00 EDT -> 01:00 EST; 01:30 happens twice. The window
        // opens at the first 01:30 (05:30Z) and is open during both.
        let w = window("America/New_York", &[("sun", "01:30", "03:00")]);
        assert_eq!(
            w.next_opening(utc("2025-11-02T04:00:00Z")),
            Some(utc("2025-11-02T05:30:00Z"))
        );
        assert!(w.is_open(utc("2025-11-02T05:30:00Z"))); // 01:30 EDT
        assert!(w.is_open(utc("2025-11-02T06:30:00Z"))); // 01:30 EST, second time
        assert!(w.is_open(utc("2025-11-02T07:59:00Z"))); // 02:59 EST
        assert!(!w.is_open(utc("2025-11-02T08:00:00Z"))); // 03:00 EST
                                                          // Berlin, 2025-10-26: 03:00 CEST -> 02:00 CET; a 09:00 window is 08:00Z after the change.
        let b = window("Europe/Berlin", &[("sun", "09:00", "10:00")]);
        assert_eq!(
            b.next_opening(utc("2025-10-25T12:00:00Z")),
            Some(utc("2025-10-26T08:00:00Z"))
        );
    }

    #[test]
    fn all_off_never_opens() {
        let w = window("UTC", &[]);
        assert!(!w.is_open(utc("2025-06-16T12:00:00Z")));
        assert_eq!(w.next_opening(utc("2025-06-16T12:00:00Z")), None);
    }

    #[test]
    fn rejects_bad_definitions() {
        let bad = [
            serde_json::json!({"time_zone": "Mars/Olympus", "days": {}}),
            serde_json::json!({"time_zone": "UTC", "days": {"funday": "off"}}),
            serde_json::json!({"time_zone": "UTC", "days": {"mon": {"start": "9:00", "end": "17:00"}}}),
            serde_json::json!({"time_zone": "UTC", "days": {"mon": {"start": "24:00", "end": "17:00"}}}),
            serde_json::json!({"time_zone": "UTC", "days": {"mon": {"start": "09:00", "end": "09:00"}}}),
            serde_json::json!({"time_zone": "UTC", "days": {"mon": "closed"}}),
            serde_json::json!({"time_zone": "UTC", "days": {}, "extra": 1}),
        ];
        for b in bad {
            assert!(
                serde_json::from_value::<CallingWindow>(b.clone()).is_err(),
                "{b}"
            );
        }
    }

    #[test]
    fn json_round_trip() {
        let w = window(
            "Europe/Berlin",
            &[("mon", "09:00", "17:30"), ("fri", "22:00", "02:00")],
        );
        let j = serde_json::to_value(&w).unwrap();
        assert_eq!(j["time_zone"], "Europe/Berlin");
        assert_eq!(j["days"]["mon"]["end"], "17:30");
        assert_eq!(j["days"]["tue"], "off");
        let back: CallingWindow = serde_json::from_value(j).unwrap();
        assert_eq!(back, w);
    }
}
