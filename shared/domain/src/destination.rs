//! Which numbers an account may call (toll-fraud protection).
//!
//! 1. The non-geographic country codes in [`NON_GEOGRAPHIC`] (international premium rate,
//!    satellite, international networks, shared cost, freephone, ...) are refused with 422
//!    `destination_not_allowed` unless an operator allowed them for the account
//!    (`bvai-admin set-destinations --allow-non-geographic`). They reach no subscriber in a
//!    country, their rates are set by whoever holds the range, and they are the usual
//!    targets of international revenue share fraud.
//! 2. Premium-rate, shared-cost, personal-numbering, UAN and pager numbers of every country
//!    (`domain::number_type`, from libphonenumber's metadata: +1 900, +44 70, +44 9, ...) are
//!    refused the same way unless an operator allowed their type for the account
//!    (`bvai-admin set-destinations --allow-type premium_rate`). The message names the type.
//! 3. An account may also have a list of allowed countries (ISO 3166-1 alpha-2, set by
//!    `bvai-admin`); then only numbers of those countries may be called. A number's country is
//!    read from its calling code (`crate::country::countries_of`); within the North American plan (+1) the
//!    Caribbean and Pacific members are told apart by area code, while the United States and
//!    Canada share their ranges and count as one (`US` or `CA` admits both). New accounts
//!    start with one ([`default_countries`]); accounts without one may call every country.

use crate::country::{countries_of, is_known_country};
use crate::error::ApiError;
use crate::model::Guardrails;
use crate::number_type::NumberType;
use crate::phone::PhoneNumber;
use crate::ErrorCode;

/// The refused non-geographic calling codes and what they are (ITU-T E.164 assignments).
pub const NON_GEOGRAPHIC: &[(u16, &str)] = &[
    (800, "International Freephone (UIFN)"),
    (808, "International Shared Cost Service"),
    (870, "Inmarsat (satellite)"),
    (878, "Universal Personal Telecommunications"),
    (
        881,
        "Global Mobile Satellite System (Iridium, Globalstar, ...)",
    ),
    (882, "International Networks"),
    (883, "International Networks"),
    (888, "Telecommunications for Disaster Relief (OCHA)"),
    (979, "International Premium Rate Service"),
];

/// The non-geographic service a number belongs to, if any.
pub fn non_geographic(phone: &PhoneNumber) -> Option<&'static str> {
    let code = phone.country_code();
    NON_GEOGRAPHIC
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, what)| *what)
}

/// An operator's country list checked and normalised (upper case, sorted, no duplicates).
pub fn parse_countries(list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let iso = raw.to_ascii_uppercase();
        if !is_known_country(&iso) {
            return Err(format!(
                "{raw:?} is not an ISO 3166-1 alpha-2 country code with a geographic calling code"
            ));
        }
        out.push(iso);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err("the country list is empty".into());
    }
    Ok(out)
}

/// The allowed-country list a new account starts with: the countries of its agents' numbers
/// (every country a number's calling code or area code may belong to: `US` and `CA` for a
/// +1 415 number, `GB GG IM JE` for +44), or `CA` and `US` when none has a geographic number.
/// Sorted, no duplicates.
pub fn default_countries<'a>(
    agent_numbers: impl IntoIterator<Item = &'a PhoneNumber>,
) -> Vec<String> {
    let mut out: Vec<String> = agent_numbers
        .into_iter()
        .flat_map(countries_of)
        .map(str::to_string)
        .collect();
    if out.is_empty() {
        out = vec!["CA".into(), "US".into()];
    }
    out.sort();
    out.dedup();
    out
}

/// An operator's list of number types (`--allow-type`) sorted, without duplicates.
pub fn normalise_types(types: &[NumberType]) -> Vec<NumberType> {
    let mut out = types.to_vec();
    out.sort();
    out.dedup();
    out
}

/// 422 `destination_not_allowed` (field `phone`) unless the account may call `phone`.
pub fn check(phone: &PhoneNumber, guardrails: &Guardrails) -> Result<(), ApiError> {
    if let Some(what) = non_geographic(phone) {
        if !guardrails.non_geographic_allowed {
            return Err(refused(format!(
                "calls to +{} ({what}) are not allowed for this account",
                phone.country_code()
            )));
        }
        return Ok(());
    }
    if let Some(found) = crate::number_type::type_of(phone) {
        let t = found.number_type;
        if !guardrails.allowed_number_types.contains(&t) {
            return Err(refused(format!(
                "{} numbers are {} (number type {t}); this account may not call them",
                found.range,
                t.label()
            )));
        }
    }
    if let Some(allowed) = &guardrails.allowed_countries {
        let countries = countries_of(phone);
        let admitted = countries.iter().any(|c| {
            allowed.iter().any(|a| {
                a == c
                    || (phone.country_code() == 1
                        && matches!((a.as_str(), *c), ("US" | "CA", "US" | "CA")))
            })
        });
        if !admitted {
            return Err(refused(format!(
                "calls to this number's country ({}) are not allowed for this account; allowed: {}",
                countries.join("/"),
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn refused(message: String) -> ApiError {
    ApiError::unprocessable(ErrorCode::DestinationNotAllowed, Some("phone"), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    #[test]
    fn non_geographic_codes_are_refused_unless_allowed() {
        let g = Guardrails::default();
        for n in [
            "+979123456789",
            "+870773123456",
            "+881612345678",
            "+882161234567",
            "+883510012345",
            "+80812345678",
            "+80012345678",
        ] {
            let e = check(&p(n), &g).unwrap_err();
            assert_eq!(e.code(), "destination_not_allowed", "{n}");
            assert_eq!(e.field(), Some("phone"));
            assert_eq!(e.status(), 422);
        }
        let open = Guardrails {
            non_geographic_allowed: true,
            ..Guardrails::default()
        };
        assert!(check(&p("+979123456789"), &open).is_ok());
        assert!(check(&p("+15551234567"), &g).is_ok());
        assert!(check(&p("+442071838750"), &g).is_ok());
    }

    #[test]
    fn every_code_has_countries_or_is_non_geographic() {
        for n in ["+15551234567", "+4915123456789", "+6831234", "+35312345678"] {
            assert!(!countries_of(&p(n)).is_empty(), "{n}");
        }
        assert!(countries_of(&p("+979123456789")).is_empty());
    }

    #[test]
    fn the_country_list_admits_only_its_countries() {
        let g = Guardrails {
            allowed_countries: Some(vec!["US".into(), "GB".into()]),
            ..Guardrails::default()
        };
        assert!(check(&p("+15551234567"), &g).is_ok());
        assert!(check(&p("+442071838750"), &g).is_ok());
        // Jamaica shares +1 but is its own country.
        assert_eq!(
            check(&p("+18765551234"), &g).unwrap_err().code(),
            "destination_not_allowed"
        );
        assert!(check(&p("+4915123456789"), &g).is_err());
        let ca = Guardrails {
            allowed_countries: Some(vec!["CA".into()]),
            ..Guardrails::default()
        };
        assert!(check(&p("+14165551234"), &ca).is_ok());
        let jm = Guardrails {
            allowed_countries: Some(vec!["JM".into()]),
            ..Guardrails::default()
        };
        assert!(check(&p("+18765551234"), &jm).is_ok());
        assert!(check(&p("+15551234567"), &jm).is_err());
    }

    #[test]
    fn each_refused_number_type_is_named_in_the_refusal() {
        let g = Guardrails::default();
        let cases = [
            (
                "+19002345678",
                "+1 900 numbers are premium-rate numbers (number type premium_rate)",
            ),
            ("+19765550123", "+1 976 numbers are premium-rate numbers"),
            (
                "+12129761234",
                "+1 212 976 numbers are premium-rate numbers",
            ),
            ("+449012345678", "+44 90 numbers are premium-rate numbers"),
            (
                "+4918012345",
                "+49 180 numbers are shared-cost numbers (number type shared_cost)",
            ),
            (
                "+447012345678",
                "+44 70 numbers are personal numbers (number type personal_number)",
            ),
            (
                "+443001234567",
                "+44 30 numbers are universal access numbers (number type uan)",
            ),
            (
                "+4916412345",
                "+49 164 numbers are pager numbers (number type pager)",
            ),
        ];
        for (n, want) in cases {
            let e = check(&p(n), &g).unwrap_err();
            assert_eq!(e.code(), "destination_not_allowed", "{n}");
            assert_eq!(e.field(), Some("phone"), "{n}");
            assert_eq!(e.status(), 422, "{n}");
            assert!(e.to_string().contains(want), "{n}: {e}");
            assert!(
                e.to_string().ends_with("this account may not call them"),
                "{n}: {e}"
            );
        }
    }

    #[test]
    fn a_country_list_does_not_admit_a_refused_type() {
        let us = Guardrails {
            allowed_countries: Some(vec!["US".into()]),
            ..Guardrails::default()
        };
        for n in ["+19002345678", "+19765550123", "+13129761234"] {
            let e = check(&p(n), &us).unwrap_err();
            assert!(e.to_string().contains("premium-rate"), "{n}: {e}");
        }
        assert!(check(&p("+14155550123"), &us).is_ok());
    }

    #[test]
    fn ordinary_numbers_pass() {
        let g = Guardrails::default();
        for n in [
            "+14155550123",
            "+442079460000",
            "+447700900123",
            "+447911123456",
            "+4930123456",
            "+33612345678",
            "+18005551234",
        ] {
            assert!(check(&p(n), &g).is_ok(), "{n}");
        }
    }

    #[test]
    fn an_allowed_type_passes_and_only_that_type() {
        let premium = Guardrails {
            allowed_number_types: vec![NumberType::PremiumRate],
            ..Guardrails::default()
        };
        assert!(check(&p("+19002345678"), &premium).is_ok());
        assert!(check(&p("+449012345678"), &premium).is_ok());
        assert!(check(&p("+12129761234"), &premium).is_ok());
        let e = check(&p("+447012345678"), &premium).unwrap_err();
        assert!(e.to_string().contains("personal_number"), "{e}");
        // The country list still applies to an allowed type.
        let premium_us = Guardrails {
            allowed_countries: Some(vec!["US".into()]),
            ..premium.clone()
        };
        assert!(check(&p("+19002345678"), &premium_us).is_ok());
        let e = check(&p("+449012345678"), &premium_us).unwrap_err();
        assert!(e.to_string().contains("country (GB/GG/IM/JE)"), "{e}");
        let all = Guardrails {
            allowed_number_types: NumberType::ALL.to_vec(),
            ..Guardrails::default()
        };
        for n in [
            "+447012345678",
            "+443001234567",
            "+4916412345",
            "+4918012345",
        ] {
            assert!(check(&p(n), &all).is_ok(), "{n}");
        }
    }

    #[test]
    fn new_account_countries() {
        assert_eq!(default_countries([]), vec!["CA", "US"]);
        let agents = [p("+14155550100"), p("+442079460000"), p("+14165550100")];
        assert_eq!(
            default_countries(&agents),
            vec!["CA", "GB", "GG", "IM", "JE", "US"]
        );
        assert_eq!(default_countries(&[p("+18765550100")]), vec!["JM"]);
        // A non-geographic agent number names no country.
        assert_eq!(default_countries(&[p("+882161234567")]), vec!["CA", "US"]);
        assert_eq!(
            normalise_types(&[
                NumberType::Pager,
                NumberType::PremiumRate,
                NumberType::Pager
            ]),
            vec![NumberType::PremiumRate, NumberType::Pager]
        );
    }

    #[test]
    fn country_lists_are_validated_and_normalised() {
        assert_eq!(parse_countries("gb, US,us").unwrap(), vec!["GB", "US"]);
        assert!(parse_countries("ZZ").is_err());
        assert!(parse_countries(" , ").is_err());
        assert!(parse_countries("JM").is_ok());
    }
}
