//! settings' metric lines (`lambda_glue::metrics`; names in docs/deploy.md, "Metrics"):
//!
//! - `Rotations` by `Kind` (`api_key`, `signing_secret`), with `CanceledScheduledCalls` on a
//!   key rotation (what the old key had scheduled);
//! - `Recoveries` and `RecoveredEvents` (a recovery's size), `Redeliveries`.
//!
//! Properties: `account_id` only. Never a key, a secret, a hash or the webhook URL.

use domain::model::Account;
use lambda_glue::metrics::Line;

pub const FUNCTION: &str = "settings";

/// A committed rotation of the account's API key (`canceled`: the old key's scheduled calls
/// canceled) or signing secret (`canceled` is `None`).
pub fn rotation(kind: &'static str, account: &Account, canceled: Option<u64>) -> Line {
    let line = Line::new(FUNCTION)
        .dim("Kind", kind)
        .count("Rotations", 1)
        .prop("account_id", account.id.as_str());
    match canceled {
        Some(n) => line.count("CanceledScheduledCalls", n),
        None => line,
    }
}

/// A recovery that queued `recovered` events again.
pub fn recovery(account: &Account, recovered: usize) -> Line {
    Line::new(FUNCTION)
        .count("Recoveries", 1)
        .count("RecoveredEvents", recovered as u64)
        .prop("account_id", account.id.as_str())
}

/// A redelivery queued.
pub fn redelivery(account: &Account) -> Line {
    Line::new(FUNCTION)
        .count("Redeliveries", 1)
        .prop("account_id", account.id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_glue::metrics::check;

    #[test]
    fn lines_are_emf_and_carry_the_account_never_its_key_secret_or_url() {
        let mut account = Account::new(
            "acct_1",
            "Acme",
            domain::model::Plan::Agency,
            chrono::Utc::now(),
        );
        account.api_key = Some(domain::model::ApiKeyInfo {
            hash: "hash_0123456789abcdef".into(),
            prefix: "bvai_live_ab".into(),
            last4: "wxyz".into(),
            created_at: chrono::Utc::now(),
        });
        account.webhook_url = Some("https://hooks.example/in?token=tok_SECRET".into());
        let lines = [
            rotation("api_key", &account, Some(3)),
            rotation("signing_secret", &account, None),
            recovery(&account, 42),
            redelivery(&account),
        ]
        .map(|l| l.render("BuildVoiceAI/test", 1));
        for line in &lines {
            let v = check(line).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (v["Function"].as_str(), v["account_id"].as_str()),
                (Some(FUNCTION), Some("acct_1"))
            );
            for secret in [
                "hash_0123",
                "bvai_live",
                "wxyz",
                "tok_SECRET",
                "hooks.example",
                "Acme",
            ] {
                assert!(!line.contains(secret), "{secret} in {line}");
            }
        }
        let v = check(&lines[0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (v["Kind"].as_str(), v["CanceledScheduledCalls"].as_u64()),
            (Some("api_key"), Some(3))
        );
        let v = check(&lines[2]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["RecoveredEvents"], 42);
    }
}
