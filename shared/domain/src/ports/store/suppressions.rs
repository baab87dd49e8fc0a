//! The do-not-call list: per account, the numbers that must not be called
//! (`PUT`/`DELETE /api/integrations/api-webhooks/suppressions/{phone}`). trigger-call refuses
//! them (422 `number_suppressed`), and a scheduled call to one is cancelled when it is due or
//! read (see docs/settings-api.md, "Do-not-call list").
//!
//! Layout: one item per number in the account's partition (`pk = ACCOUNT#{id}`,
//! `sk = SUPPRESSION#{E.164}`), so a check is one GetItem and the list one range query in
//! number order. Phone numbers are personal data: adapters and callers never log them.

use crate::error::StoreError;
use crate::ids::AccountId;
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use port_macro::port;

/// Largest page the list serves (`limit` is clamped to it).
pub const MAX_SUPPRESSION_PAGE: usize = 100;
/// Page size when the caller gives none.
pub const DEFAULT_SUPPRESSION_PAGE: usize = 50;

/// One suppressed number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// E.164.
    pub phone: String,
    pub created_at: DateTime<Utc>,
}

/// One page of the list, in number order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionPage {
    pub items: Vec<Suppression>,
    /// Opaque ([`encode_cursor`]); `None` on the last page.
    pub next_cursor: Option<String>,
}

impl SuppressionPage {
    /// A page from up to `limit + 1` numbers read in order: the extra one only says there is
    /// a next page, which starts after the last number returned. Both adapters page this way.
    pub fn from_rows(mut rows: Vec<Suppression>, limit: usize) -> SuppressionPage {
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|s| encode_cursor(&s.phone))
        } else {
            None
        };
        SuppressionPage {
            items: rows,
            next_cursor,
        }
    }
}

/// The cursor of a page ending at `phone`: unpadded base64url (no `+` to escape in a query).
pub fn encode_cursor(phone: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(phone)
}

/// The number a cursor continues after; `None` for anything not made by [`encode_cursor`]
/// from an E.164 number.
pub fn decode_cursor(cursor: &str) -> Option<String> {
    if cursor.len() > 64 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let s = String::from_utf8(bytes).ok()?;
    crate::phone::PhoneNumber::parse(&s)
        .ok()
        .map(|p| p.as_str().to_string())
}

#[port]
#[async_trait]
pub trait SuppressionStore: Send + Sync {
    /// Adds the number (idempotent: suppressing it again keeps the first `created_at`).
    /// Returns whether it was new.
    async fn suppress(
        &self,
        account_id: &AccountId,
        phone: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Removes the number; whether it was on the list.
    async fn unsuppress(&self, account_id: &AccountId, phone: &str) -> Result<bool, StoreError>;
    /// Whether the number is on the account's list (one strongly consistent read).
    async fn is_suppressed(&self, account_id: &AccountId, phone: &str) -> Result<bool, StoreError>;
    /// Up to `limit` (clamped to 1..=[`MAX_SUPPRESSION_PAGE`]) numbers after `after`, in order.
    async fn suppressions(
        &self,
        account_id: &AccountId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError>;
}
