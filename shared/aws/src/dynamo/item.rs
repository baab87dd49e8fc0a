//! Reading and writing attribute maps without ceremony.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// Builds an item attribute by attribute; `None` values are left out.
#[derive(Default)]
pub struct ItemBuilder(Item);

impl ItemBuilder {
    pub fn keyed((pk, sk): (String, String)) -> Self {
        let mut b = ItemBuilder::default();
        b.0.insert("pk".into(), AttributeValue::S(pk));
        b.0.insert("sk".into(), AttributeValue::S(sk));
        b
    }
    pub fn s(mut self, k: &str, v: impl Into<String>) -> Self {
        self.0.insert(k.into(), AttributeValue::S(v.into()));
        self
    }
    pub fn opt_s(self, k: &str, v: Option<impl Into<String>>) -> Self {
        match v {
            Some(v) => self.s(k, v),
            None => self,
        }
    }
    pub fn n(mut self, k: &str, v: impl ToString) -> Self {
        self.0.insert(k.into(), AttributeValue::N(v.to_string()));
        self
    }
    pub fn opt_n(self, k: &str, v: Option<impl ToString>) -> Self {
        match v {
            Some(v) => self.n(k, v),
            None => self,
        }
    }
    pub fn b(mut self, k: &str, v: bool) -> Self {
        self.0.insert(k.into(), AttributeValue::Bool(v));
        self
    }
    pub fn time(self, k: &str, t: DateTime<Utc>) -> Self {
        self.s(k, domain::clock::rfc3339_millis(t))
    }
    pub fn opt_time(self, k: &str, t: Option<DateTime<Utc>>) -> Self {
        match t {
            Some(t) => self.time(k, t),
            None => self,
        }
    }
    pub fn build(self) -> Item {
        self.0
    }
}

pub fn key_map((pk, sk): (String, String)) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk)),
    ])
}

/// Typed reads from an item; missing or mistyped attributes are `Corrupt` errors naming them.
pub struct ItemReader<'a>(pub &'a Item);

impl<'a> ItemReader<'a> {
    fn corrupt(&self, k: &str, what: &str) -> StoreError {
        let pk = self
            .0
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            .unwrap_or("?");
        StoreError::Corrupt(format!("{pk}: attribute {k} {what}"))
    }
    pub fn opt_s(&self, k: &str) -> Result<Option<&'a str>, StoreError> {
        match self.0.get(k) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.corrupt(k, "is not a string")),
        }
    }
    pub fn s(&self, k: &str) -> Result<&'a str, StoreError> {
        self.opt_s(k)?.ok_or_else(|| self.corrupt(k, "is missing"))
    }
    pub fn opt_n<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, StoreError> {
        match self.0.get(k) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(n)) => n
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(k, "is not a number")),
            Some(_) => Err(self.corrupt(k, "is not a number")),
        }
    }
    pub fn n<T: std::str::FromStr>(&self, k: &str) -> Result<T, StoreError> {
        self.opt_n(k)?.ok_or_else(|| self.corrupt(k, "is missing"))
    }
    pub fn b(&self, k: &str) -> Result<bool, StoreError> {
        match self.0.get(k) {
            Some(AttributeValue::Bool(b)) => Ok(*b),
            None => Ok(false),
            Some(_) => Err(self.corrupt(k, "is not a boolean")),
        }
    }
    pub fn opt_time(&self, k: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_s(k)?
            .map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| self.corrupt(k, "is not an RFC 3339 time"))
            })
            .transpose()
    }
    pub fn time(&self, k: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(k)?
            .ok_or_else(|| self.corrupt(k, "is missing"))
    }
    /// A UUID attribute, as whichever id type it holds (`CallId`, `EventId`, ...).
    pub fn opt_uuid<T: From<uuid::Uuid>>(&self, k: &str) -> Result<Option<T>, StoreError> {
        self.opt_s(k)?
            .map(|s| {
                s.parse::<uuid::Uuid>()
                    .map(T::from)
                    .map_err(|_| self.corrupt(k, "is not a UUID"))
            })
            .transpose()
    }
    pub fn uuid<T: From<uuid::Uuid>>(&self, k: &str) -> Result<T, StoreError> {
        self.opt_uuid(k)?
            .ok_or_else(|| self.corrupt(k, "is missing"))
    }
    pub fn opt_json<T: serde::de::DeserializeOwned>(
        &self,
        k: &str,
    ) -> Result<Option<T>, StoreError> {
        self.opt_s(k)?
            .map(|s| {
                serde_json::from_str(s)
                    .map_err(|e| self.corrupt(k, &format!("is not valid JSON ({e})")))
            })
            .transpose()
    }
}

/// Epoch seconds for the TTL attribute.
pub fn ttl(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// A Put inside a transaction, with its condition and values.
pub(crate) fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: &[(&str, AttributeValue)],
) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if let Some(c) = condition {
        p = p.condition_expression(c);
    }
    for (k, v) in values {
        p = p.expression_attribute_values(*k, v.clone());
    }
    Ok(TransactWriteItem::builder()
        .put(p.build().map_err(|e| StoreError::Backend(e.to_string()))?)
        .build())
}

/// A Delete inside a transaction.
pub(crate) fn delete(table: &str, key: Item) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key))
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        )
        .build())
}
