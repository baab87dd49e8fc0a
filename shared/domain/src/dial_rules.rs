//! May a call be placed now? The account's calling window and the recipient's quiet hours,
//! together, with the earliest instant at which all of them allow it.
//!
//! [`check`] is pure (no clock, no I/O): trigger-call asks it at the request's `now`; a
//! scheduler can ask it again at any later instant and hold a call until
//! [`Closed::next_allowed_at`].

use crate::calling_window::CallingWindow;
use crate::phone::PhoneNumber;
use crate::recipient_hours::RecipientHours;
use crate::zone::Zone;
use chrono::{DateTime, Duration, Utc};

/// Which rule refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The account's calling window (`outside_calling_window`).
    CallingWindow,
    /// The recipient's quiet hours in one of the zones the number may be in
    /// (`outside_recipient_hours`).
    RecipientHours,
}

/// A refusal: the rule that refused (the account's window is named first when both do) and
/// when a call may be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub rule: Rule,
    /// The earliest instant after `now` at which every rule allows the call; `None` when no
    /// such instant exists within [`HORIZON_DAYS`] (the windows never overlap).
    pub next_allowed_at: Option<DateTime<Utc>>,
    /// When the refusing rule alone opens next (for the account window:
    /// `next_window_opens_at`); `None` if it never opens.
    pub rule_opens_at: Option<DateTime<Utc>>,
    /// The recipient's zones that are closed at `now` (empty when the account window refused).
    pub closed_zones: Vec<Zone>,
}

/// How far ahead [`check`] looks for an instant at which every rule allows the call.
pub const HORIZON_DAYS: i64 = 400;
/// The most steps the search takes; each step moves to some rule's next opening, so this
/// bounds the work even for windows that never overlap.
pub const MAX_STEPS: usize = 4096;

/// Whether a call to `phone` may be placed at `now` under the account's calling window
/// (`None`: always open) and its recipient-hours policy; if not, which rule refused and the
/// earliest instant at which all rules pass.
pub fn check(
    account_window: Option<&CallingWindow>,
    recipient: &RecipientHours,
    phone: &PhoneNumber,
    now: DateTime<Utc>,
) -> Result<(), Closed> {
    let recipient_windows = recipient.windows(phone);
    let account_open = account_window.is_none_or(|w| w.is_open(now));
    let closed_zones: Vec<Zone> = recipient_windows
        .iter()
        .filter(|w| !w.is_open(now))
        .map(|w| w.time_zone)
        .collect();
    if account_open && closed_zones.is_empty() {
        return Ok(());
    }
    let all: Vec<&CallingWindow> = account_window
        .into_iter()
        .chain(recipient_windows.iter())
        .collect();
    let next_allowed_at = next_all_open(&all, now);
    if !account_open {
        return Err(Closed {
            rule: Rule::CallingWindow,
            next_allowed_at,
            rule_opens_at: account_window.and_then(|w| w.next_opening(now)),
            closed_zones: Vec::new(),
        });
    }
    let recipient_only: Vec<&CallingWindow> = recipient_windows.iter().collect();
    Err(Closed {
        rule: Rule::RecipientHours,
        next_allowed_at,
        rule_opens_at: next_all_open(&recipient_only, now),
        closed_zones,
    })
}

/// The earliest instant `>= now` at which every window is open, or `None` if there is none
/// within [`HORIZON_DAYS`] (or [`MAX_STEPS`]).
///
/// Each closed window moves the candidate to its own next opening; no instant at which all
/// are open is ever skipped (each window is closed everywhere it was jumped over), and every
/// step moves strictly forward, so the loop ends.
pub fn next_all_open(windows: &[&CallingWindow], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let horizon = now.checked_add_signed(Duration::days(HORIZON_DAYS))?;
    let mut t = now;
    for _ in 0..MAX_STEPS {
        match windows.iter().find(|w| !w.is_open(t)) {
            None => return Some(t),
            Some(closed) => {
                let next = closed.next_opening(t)?;
                if next <= t || next > horizon {
                    return None;
                }
                t = next;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calling_window::DayWindow;
    use crate::recipient_hours::AppliesTo;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    fn hours(applies_to: AppliesTo, start: u16, end: u16) -> RecipientHours {
        RecipientHours {
            applies_to,
            hours: DayWindow { start, end },
        }
    }

    fn window(tz: &str, days: &[(&str, &str, &str)]) -> CallingWindow {
        let mut map = serde_json::Map::new();
        for (d, s, e) in days {
            map.insert(d.to_string(), serde_json::json!({"start": s, "end": e}));
        }
        serde_json::from_value(serde_json::json!({"time_zone": tz, "days": map})).unwrap()
    }

    const EVERY_DAY_9_17: &[(&str, &str, &str)] = &[
        ("mon", "09:00", "17:00"),
        ("tue", "09:00", "17:00"),
        ("wed", "09:00", "17:00"),
        ("thu", "09:00", "17:00"),
        ("fri", "09:00", "17:00"),
        ("sat", "09:00", "17:00"),
        ("sun", "09:00", "17:00"),
    ];

    /// (number, now, allowed?, refused by, next_allowed_at): the default policy, no account
    /// window. Summer 2025 (DST in the US and Canada).
    #[test]
    fn default_policy_per_us_zone() {
        let d = RecipientHours::default();
        let cases: &[(&str, &str, Option<&str>)] = &[
            // Eastern (212, EDT -4): 08:00 local is 12:00Z; 07:59 is refused until then.
            ("+12125550100", "2025-06-16T12:00:00Z", None),
            (
                "+12125550100",
                "2025-06-16T11:59:00Z",
                Some("2025-06-16T12:00:00Z"),
            ),
            // 21:00 EDT is 01:00Z the next day: closed until 08:00 EDT.
            (
                "+12125550100",
                "2025-06-17T01:00:00Z",
                Some("2025-06-17T12:00:00Z"),
            ),
            // Central (312, CDT -5).
            (
                "+13125550100",
                "2025-06-16T12:30:00Z",
                Some("2025-06-16T13:00:00Z"),
            ),
            ("+13125550100", "2025-06-16T13:00:00Z", None),
            // Mountain (303, MDT -6).
            (
                "+13035550100",
                "2025-06-16T13:00:00Z",
                Some("2025-06-16T14:00:00Z"),
            ),
            // Arizona (623, MST -7 all year, no DST).
            (
                "+16235550100",
                "2025-06-16T14:00:00Z",
                Some("2025-06-16T15:00:00Z"),
            ),
            ("+16235550100", "2025-06-16T15:00:00Z", None),
            // Pacific (415, PDT -7): same as Arizona in summer.
            (
                "+14155550100",
                "2025-06-16T14:59:00Z",
                Some("2025-06-16T15:00:00Z"),
            ),
            // Alaska (907: Anchorage AKDT -8 and Adak HDT -9): Adak is last to reach 08:00.
            (
                "+19075550100",
                "2025-06-16T16:30:00Z",
                Some("2025-06-16T17:00:00Z"),
            ),
            ("+19075550100", "2025-06-16T17:00:00Z", None),
            // ...and Anchorage is first to reach 21:00 (05:00Z).
            (
                "+19075550100",
                "2025-06-17T05:00:00Z",
                Some("2025-06-17T17:00:00Z"),
            ),
            // Hawaii (808, HST -10, no DST).
            (
                "+18085550100",
                "2025-06-16T17:59:00Z",
                Some("2025-06-16T18:00:00Z"),
            ),
            // Canada (416 Toronto, EDT -4).
            (
                "+14165550100",
                "2025-06-16T11:00:00Z",
                Some("2025-06-16T12:00:00Z"),
            ),
            // 605 spans Denver (MDT -6) and Central (CDT -5): open only 14:00Z-02:00Z.
            (
                "+16055550100",
                "2025-06-16T13:30:00Z",
                Some("2025-06-16T14:00:00Z"),
            ),
            (
                "+16055550100",
                "2025-06-17T02:00:00Z",
                Some("2025-06-17T14:00:00Z"),
            ),
            ("+16055550100", "2025-06-17T01:59:00Z", None),
            // Outside North America the default does not apply.
            ("+442071838750", "2025-06-16T02:00:00Z", None),
        ];
        for (number, now, next) in cases {
            let got = check(None, &d, &phone(number), utc(now));
            match next {
                None => assert_eq!(got, Ok(()), "{number} at {now}"),
                Some(next) => {
                    let closed = got.expect_err(number);
                    assert_eq!(closed.rule, Rule::RecipientHours, "{number} at {now}");
                    assert_eq!(closed.next_allowed_at, Some(utc(next)), "{number} at {now}");
                    assert_eq!(closed.rule_opens_at, Some(utc(next)), "{number} at {now}");
                    assert!(!closed.closed_zones.is_empty());
                }
            }
        }
    }

    #[test]
    fn a_number_anywhere_in_the_plan_is_open_only_where_all_zones_overlap() {
        // +1 555: every NANP zone, Guam (+10) to Pago Pago (-11). In June, 08:00-21:00
        // holds everywhere from 22:00Z (08:00 Guam) to 23:30Z (21:00 St John's, -2:30).
        let d = RecipientHours::default();
        let closed = check(
            None,
            &d,
            &phone("+15551234567"),
            utc("2025-06-16T12:00:00Z"),
        )
        .expect_err("closed at noon UTC");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-16T22:00:00Z")));
        assert_eq!(
            check(
                None,
                &d,
                &phone("+15551234567"),
                utc("2025-06-16T23:29:00Z")
            ),
            Ok(())
        );
        let closed = check(
            None,
            &d,
            &phone("+15551234567"),
            utc("2025-06-16T23:30:00Z"),
        )
        .expect_err("closed from 21:00 in St John's");
        assert_eq!(
            closed
                .closed_zones
                .iter()
                .map(|z| z.name())
                .collect::<Vec<_>>(),
            vec!["America/St_Johns"]
        );
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-17T22:00:00Z")));
    }

    #[test]
    fn a_country_with_several_zones() {
        // Australia by its whole code (+61 8 5100...: Adelaide and Perth, both must be open):
        // in June (no DST), Adelaide +9:30 and Perth +8. 08:00 Perth is 00:00Z; 21:00
        // Adelaide is 11:30Z.
        let everywhere = hours(AppliesTo::Everywhere, 8 * 60, 21 * 60);
        let au = phone("+61861234567");
        let closed =
            check(None, &everywhere, &au, utc("2025-06-16T23:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-17T00:00:00Z")));
        assert_eq!(
            closed
                .closed_zones
                .iter()
                .map(|z| z.name())
                .collect::<Vec<_>>(),
            vec!["Australia/Perth"]
        );
        assert_eq!(
            check(None, &everywhere, &au, utc("2025-06-17T11:29:00Z")),
            Ok(())
        );
        let closed =
            check(None, &everywhere, &au, utc("2025-06-17T11:30:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-18T00:00:00Z")));
        // A +7 number the table does not place (+7 2..) matches only the line `7`: 16 zones from Moscow and
        // Bucharest (+3) to Kamchatka and Anadyr (+12). 08:00-21:00 holds in all of them
        // from 05:00Z (08:00 Moscow) to 09:00Z (21:00 Anadyr).
        let ru = phone("+72001234567");
        let closed =
            check(None, &everywhere, &ru, utc("2025-06-16T12:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-17T05:00:00Z")));
        assert_eq!(
            check(None, &everywhere, &ru, utc("2025-06-17T08:59:00Z")),
            Ok(())
        );
        // Brazil (+55 11, Sao Paulo only) is open at 12:00Z (09:00 local).
        assert_eq!(
            check(
                None,
                &everywhere,
                &phone("+5511912345678"),
                utc("2025-06-16T12:00:00Z")
            ),
            Ok(())
        );
        // Moscow landlines (+7 495) and Russian mobiles (+7 9) are Moscow only.
        let moscow = phone("+74951234567");
        assert_eq!(
            check(None, &everywhere, &moscow, utc("2025-06-16T12:00:00Z")),
            Ok(())
        );
    }

    #[test]
    fn dst_transitions_in_the_recipient_zone() {
        let d = RecipientHours::default();
        let ny = phone("+12125550100");
        // Spring forward, Sunday 2025-03-09: Saturday 21:00 EST is 02:00Z; Sunday 08:00 is
        // EDT, 12:00Z (not 13:00Z).
        let closed = check(None, &d, &ny, utc("2025-03-09T02:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-03-09T12:00:00Z")));
        // Fall back, Sunday 2025-11-02: Saturday 21:00 EDT is 01:00Z; Sunday 08:00 EST 13:00Z.
        let closed = check(None, &d, &ny, utc("2025-11-02T01:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-11-02T13:00:00Z")));
        // A night window 01:30-03:00 on the fall-back day holds both 01:30s (05:30Z, 06:30Z).
        let night = hours(AppliesTo::NorthAmerica, 90, 180);
        let closed = check(None, &night, &ny, utc("2025-11-02T04:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-11-02T05:30:00Z")));
        assert_eq!(
            check(None, &night, &ny, utc("2025-11-02T06:30:00Z")),
            Ok(())
        );
        // A 02:30 start does not exist on the spring day: it opens at 03:00 EDT (07:00Z).
        let gap = hours(AppliesTo::NorthAmerica, 150, 240);
        let closed = check(None, &gap, &ny, utc("2025-03-09T05:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-03-09T07:00:00Z")));
        // A window that lies entirely in the gap (02:10-02:50) does not open that day at all:
        // the search moves on to Monday 02:10 EDT (06:10Z) without looping.
        let lost = hours(AppliesTo::NorthAmerica, 130, 170);
        let closed = check(None, &lost, &ny, utc("2025-03-09T05:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-03-10T06:10:00Z")));
    }

    #[test]
    fn windows_across_midnight() {
        // Recipient hours 20:00-02:00 in Los Angeles (PDT -7): open 03:00Z-09:00Z.
        let late = hours(AppliesTo::NorthAmerica, 20 * 60, 2 * 60);
        let la = phone("+14155550100");
        assert_eq!(check(None, &late, &la, utc("2025-06-17T08:59:00Z")), Ok(()));
        let closed = check(None, &late, &la, utc("2025-06-17T09:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-18T03:00:00Z")));
        // An account window across midnight in Berlin (22:00-02:00 CEST = 20:00Z-00:00Z) and
        // the default recipient hours in New York (12:00Z-01:00Z): both open 20:00Z-00:00Z.
        let berlin_nights = window(
            "Europe/Berlin",
            &[
                ("mon", "22:00", "02:00"),
                ("tue", "22:00", "02:00"),
                ("wed", "22:00", "02:00"),
            ],
        );
        let ny = phone("+12125550100");
        let d = RecipientHours::default();
        let closed =
            check(Some(&berlin_nights), &d, &ny, utc("2025-06-16T12:00:00Z")).expect_err("closed");
        assert_eq!(closed.rule, Rule::CallingWindow);
        assert_eq!(closed.rule_opens_at, Some(utc("2025-06-16T20:00:00Z")));
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-16T20:00:00Z")));
        assert_eq!(
            check(Some(&berlin_nights), &d, &ny, utc("2025-06-16T23:59:00Z")),
            Ok(())
        );
    }

    #[test]
    fn both_rules_the_earliest_instant_both_are_open() {
        // Account: 09:00-17:00 every day in New York (13:00Z-21:00Z in June). Recipient in
        // Honolulu (08:00 HST = 18:00Z).
        let ny9 = window("America/New_York", EVERY_DAY_9_17);
        let d = RecipientHours::default();
        let hi = phone("+18085550100");
        // 14:00Z: account open, recipient closed until 18:00Z.
        let closed = check(Some(&ny9), &d, &hi, utc("2025-06-16T14:00:00Z")).expect_err("closed");
        assert_eq!(closed.rule, Rule::RecipientHours);
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-16T18:00:00Z")));
        // 10:00Z: both closed; the account window is named, opening at 13:00Z, but the call
        // is allowed only at 18:00Z.
        let closed = check(Some(&ny9), &d, &hi, utc("2025-06-16T10:00:00Z")).expect_err("closed");
        assert_eq!(closed.rule, Rule::CallingWindow);
        assert_eq!(closed.rule_opens_at, Some(utc("2025-06-16T13:00:00Z")));
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-16T18:00:00Z")));
        // 21:00Z: account closed; both open again next day 18:00Z.
        let closed = check(Some(&ny9), &d, &hi, utc("2025-06-16T21:00:00Z")).expect_err("closed");
        assert_eq!(closed.next_allowed_at, Some(utc("2025-06-17T18:00:00Z")));
        assert_eq!(
            check(Some(&ny9), &d, &hi, utc("2025-06-16T18:00:00Z")),
            Ok(())
        );
    }

    #[test]
    fn windows_that_never_overlap_end_the_search() {
        // Account 09:00-10:00 in Tokyo (00:00Z-01:00Z); recipient in New York 08:00-20:00.
        // In June (EDT) that is 12:00Z-00:00Z: no overlap. After New York falls back on
        // 2025-11-02 it is 13:00Z-01:00Z: the first overlap is Monday 2025-11-03 09:00
        // Tokyo, 00:00Z, months ahead.
        let tokyo = window(
            "Asia/Tokyo",
            &[
                ("mon", "09:00", "10:00"),
                ("tue", "09:00", "10:00"),
                ("wed", "09:00", "10:00"),
                ("thu", "09:00", "10:00"),
                ("fri", "09:00", "10:00"),
            ],
        );
        let ny = phone("+12125550100");
        let eight_to_eight = hours(AppliesTo::NorthAmerica, 8 * 60, 20 * 60);
        let closed = check(
            Some(&tokyo),
            &eight_to_eight,
            &ny,
            utc("2025-06-16T12:00:00Z"),
        )
        .expect_err("closed");
        assert_eq!(closed.rule, Rule::CallingWindow);
        assert_eq!(closed.next_allowed_at, Some(utc("2025-11-03T00:00:00Z")));
        // 08:00-19:00 never overlaps (EDT 12:00Z-23:00Z, EST 13:00Z-00:00Z): the search
        // ends within its bounds and says so.
        let short = hours(AppliesTo::NorthAmerica, 8 * 60, 19 * 60);
        let closed =
            check(Some(&tokyo), &short, &ny, utc("2025-06-16T12:00:00Z")).expect_err("closed");
        assert_eq!(closed.rule, Rule::CallingWindow);
        assert_eq!(closed.rule_opens_at, Some(utc("2025-06-17T00:00:00Z")));
        assert_eq!(closed.next_allowed_at, None);
        // An account window with no open day: no instant, no panic.
        let never = window("UTC", &[]);
        let closed =
            check(Some(&never), &short, &ny, utc("2025-06-16T12:00:00Z")).expect_err("closed");
        assert_eq!(closed.rule_opens_at, None);
        assert_eq!(closed.next_allowed_at, None);
        // The far end of time: no overflow.
        let end = DateTime::<Utc>::MAX_UTC;
        assert_eq!(next_all_open(&[&tokyo], end), None);
    }
}
