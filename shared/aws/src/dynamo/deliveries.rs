//! The delivery log in DynamoDB (layout in the port's docs).
use super::item::{ttl, Item, ItemBuilder, ItemReader};
use super::{backend, keys, DynamoStore, GSI1, TTL_ATTRIBUTE};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::AccountId;
use domain::model::{DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome, DeliveryTrigger};
use domain::ports::store::deliveries::*;
use std::collections::HashMap;

fn retention() -> chrono::Duration {
    chrono::Duration::days(RETENTION_DAYS)
}

fn attempt_item(a: &DeliveryAttempt) -> Item {
    let (pk, sk) = keys::delivery(&a.account_id, a.attempted_at, &a.event_id, a.attempt);
    ItemBuilder::keyed((pk, sk.clone()))
        .s("type", "delivery")
        .s(
            "gsi1pk",
            keys::delivery_by_outcome(&a.account_id, a.outcome.as_str(), LogShard::of(&a.event_id)),
        )
        .s("gsi1sk", sk)
        .s("account_id", &a.account_id)
        .s("event_id", a.event_id.to_string())
        .s("call_id", a.call_id.to_string())
        .n("attempt", a.attempt)
        .time("attempted_at", a.attempted_at)
        .opt_s("url", a.url.clone())
        .s("outcome", a.outcome.as_str())
        .opt_n("http_status", a.http_status)
        .n("duration_ms", a.duration_ms)
        .opt_s("error_class", a.error_class.map(|c| c.as_str()))
        .opt_s("response_excerpt", a.response_excerpt.clone())
        .opt_time("next_attempt_at", a.next_attempt_at)
        .s("trigger", a.trigger.as_str())
        .n(TTL_ATTRIBUTE, ttl(a.attempted_at + retention()))
        .build()
}

fn attempt_from(item: &Item) -> Result<DeliveryAttempt, StoreError> {
    let r = ItemReader(item);
    let outcome = r.s("outcome")?;
    let error_class = r
        .opt_s("error_class")?
        .map(|c| {
            DeliveryErrorClass::parse(c)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery error class {c}")))
        })
        .transpose()?;
    Ok(DeliveryAttempt {
        account_id: r.s("account_id")?.into(),
        event_id: r.uuid("event_id")?,
        call_id: r.uuid("call_id")?,
        attempt: r.n("attempt")?,
        attempted_at: r.time("attempted_at")?,
        url: r.opt_s("url")?.map(str::to_string),
        outcome: DeliveryOutcome::parse(outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery outcome {outcome}")))?,
        http_status: r.opt_n("http_status")?,
        duration_ms: r.n("duration_ms")?,
        error_class,
        response_excerpt: r.opt_s("response_excerpt")?.map(str::to_string),
        next_attempt_at: r.opt_time("next_attempt_at")?,
        // Rows written before triggers were recorded are automatic deliveries.
        trigger: match r.opt_s("trigger")? {
            None => DeliveryTrigger::Automatic,
            Some(t) => DeliveryTrigger::parse(t)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery trigger {t}")))?,
        },
    })
}

fn is_expired(item: &Item, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let expires: Option<i64> = ItemReader(item).opt_n(TTL_ATTRIBUTE)?;
    Ok(expires.is_some_and(|t| t <= now.timestamp()))
}

#[async_trait]
impl DeliveryLog for DynamoStore {
    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attempt_item(attempt)))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn deliveries(
        &self,
        account_id: &AccountId,
        query: &DeliveryQuery,
        now: DateTime<Utc>,
    ) -> Result<DeliveryPage, StoreError> {
        let limit = query.limit.clamp(1, MAX_PAGE_SIZE);
        // Rows older than the retention are expired by construction: bound the range there so
        // expired rows the TTL sweeper has not removed yet are not even read.
        let from = format!(
            "{}{}",
            keys::DELIVERY_PREFIX,
            domain::clock::rfc3339_millis(now - retention())
        );
        let after = query.after.as_ref().map(|c| c.sort_key().to_string());
        if after.as_deref().is_some_and(|sk| sk <= from.as_str()) {
            // The cursor's row has expired since its page was read, and so has everything
            // older: the log ends here (and the query would start outside its key range).
            return Ok(DeliveryPage {
                attempts: Vec::new(),
                next_cursor: None,
            });
        }
        // '$' follows '#': every `DELIVERY#...` key sorts below this bound. After a cursor, up
        // to its row (BETWEEN includes it; it was served already and is skipped).
        let to = after.clone().unwrap_or_else(|| "DELIVERY$".to_string());
        // One row more than the page: if it exists there is a next page, and the cursor is the
        // last row shown, so the next page neither skips nor repeats a row. Each shard's
        // newest `want` rows hold the log's newest `want`.
        let want = limit + 1;
        let shards = LogShard::all().map(|shard| {
            let range = Range {
                partition: match query.outcome {
                    Some(o) => {
                        Partition::Outcome(keys::delivery_by_outcome(account_id, o.as_str(), shard))
                    }
                    None => Partition::Log(keys::delivery_log(account_id, shard)),
                },
                from: from.clone(),
                to: to.clone(),
                skip: after.clone(),
                newest_first: true,
                want: Some(want),
            };
            self.log_rows(range, now)
        });
        let rows = merge(futures::future::try_join_all(shards).await?, true, want);
        Ok(DeliveryPage::from_rows(rows, limit, query.outcome))
    }

    async fn deliveries_between(
        &self,
        account_id: &AccountId,
        outcome: DeliveryOutcome,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let Some((from, to)) = delivery_key_range(since, until, now) else {
            return Ok(Vec::new());
        };
        let shards = LogShard::all().map(|shard| {
            self.log_rows(
                Range {
                    partition: Partition::Outcome(keys::delivery_by_outcome(
                        account_id,
                        outcome.as_str(),
                        shard,
                    )),
                    from: from.clone(),
                    to: to.clone(),
                    skip: None,
                    newest_first: false,
                    want: None,
                },
                now,
            )
        });
        let rows = merge(
            futures::future::try_join_all(shards).await?,
            false,
            usize::MAX,
        );
        Ok(rows.into_iter().map(|(_, a)| a).collect())
    }
}

/// Which partition of the log a range reads: one shard of the log on the table, or one shard
/// of an outcome key on `gsi1`.
enum Partition {
    Log(String),
    Outcome(String),
}

/// One shard's part of a read: sort keys `from..=to`, the row `skip` left out (a cursor's
/// own row), in one direction, at most `want` rows (all when `None`).
struct Range {
    partition: Partition,
    from: String,
    to: String,
    skip: Option<String>,
    newest_first: bool,
    want: Option<usize>,
}

/// The shards' rows in log order (by sort key, newest first or oldest first), the first `want`.
fn merge(
    shards: Vec<Vec<(String, DeliveryAttempt)>>,
    newest_first: bool,
    want: usize,
) -> Vec<(String, DeliveryAttempt)> {
    let mut rows: Vec<(String, DeliveryAttempt)> = shards.into_iter().flatten().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if newest_first {
        rows.reverse();
    }
    rows.truncate(want);
    rows
}

impl DynamoStore {
    /// One shard's rows of a range, with their sort keys, expired rows left out.
    async fn log_rows(
        &self,
        range: Range,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DeliveryAttempt)>, StoreError> {
        let (index, pk_attr, sk_attr, pk) = match range.partition {
            Partition::Log(pk) => (None, "pk", "sk", pk),
            Partition::Outcome(pk) => (Some(GSI1), "gsi1pk", "gsi1sk", pk),
        };
        let want = range.want.unwrap_or(usize::MAX);
        let mut rows: Vec<(String, DeliveryAttempt)> = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            // The skipped row may be among those read: one more.
            let limit = (want - rows.len()).saturating_add(usize::from(range.skip.is_some()));
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(format!(
                    "{pk_attr} = :pk AND {sk_attr} BETWEEN :from AND :to"
                ))
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":from", AttributeValue::S(range.from.clone()))
                .expression_attribute_values(":to", AttributeValue::S(range.to.clone()))
                .scan_index_forward(!range.newest_first)
                .set_exclusive_start_key(start.take());
            if range.want.is_some() {
                q = q.limit(i32::try_from(limit).unwrap_or(i32::MAX));
            }
            let out = q.send().await.map_err(backend)?;
            for item in out.items() {
                if is_expired(item, now)? {
                    continue;
                }
                let sk = ItemReader(item).s("sk")?.to_string();
                if range.skip.as_deref() == Some(sk.as_str()) {
                    continue;
                }
                rows.push((sk, attempt_from(item)?));
            }
            match out.last_evaluated_key() {
                Some(k) if rows.len() < want => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use chrono::TimeZone;

    fn attempt() -> DeliveryAttempt {
        DeliveryAttempt {
            trigger: Default::default(),
            account_id: "acct_1".into(),
            event_id: domain::EventId::new_v4(),
            call_id: domain::CallId::new_v4(),
            attempt: 2,
            attempted_at: Utc.with_ymd_and_hms(2025, 6, 15, 14, 30, 1).unwrap()
                + chrono::Duration::milliseconds(250),
            url: Some("https://example.com/hook".into()),
            outcome: DeliveryOutcome::Failed,
            http_status: Some(503),
            duration_ms: 120,
            error_class: Some(DeliveryErrorClass::HttpStatus),
            response_excerpt: Some("unavailable".into()),
            next_attempt_at: Some(Utc.with_ymd_and_hms(2025, 6, 15, 14, 35, 1).unwrap()),
        }
    }

    #[test]
    fn item_round_trips_with_keys_index_and_ttl() {
        let a = attempt();
        let item = attempt_item(&a);
        assert_eq!(attempt_from(&item).unwrap(), a);
        let s = |k: &str| item[k].as_s().unwrap().clone();
        let LogShard::Shard(n) = LogShard::of(&a.event_id) else {
            panic!("rows are written to a shard")
        };
        assert_eq!(s("pk"), format!("ACCOUNT#acct_1#LOG#{n}"));
        assert_eq!(
            s("sk"),
            format!("DELIVERY#2025-06-15T14:30:01.250Z#{}#02", a.event_id)
        );
        assert_eq!(s("gsi1pk"), format!("ACCOUNT#acct_1#OUTCOME#failed#{n}"));
        assert_eq!(s("gsi1sk"), s("sk"));
        let ttl: i64 = item[TTL_ATTRIBUTE].as_n().unwrap().parse().unwrap();
        assert_eq!(
            ttl,
            (a.attempted_at + chrono::Duration::days(30)).timestamp()
        );
        let mut minimal = a.clone();
        minimal.url = None;
        minimal.http_status = None;
        minimal.error_class = None;
        minimal.response_excerpt = None;
        minimal.next_attempt_at = None;
        minimal.outcome = DeliveryOutcome::Skipped;
        assert_eq!(attempt_from(&attempt_item(&minimal)).unwrap(), minimal);
    }

    #[test]
    fn json_view_uses_z_times_and_snake_case() {
        let a = attempt();
        let v = serde_json::to_value(a.view()).unwrap();
        assert_eq!(v["attempted_at"], "2025-06-15T14:30:01Z");
        assert_eq!(v["next_attempt_at"], "2025-06-15T14:35:01Z");
        assert_eq!(v["outcome"], "failed");
        assert_eq!(v["error_class"], "http_status");
        assert_eq!(v["http_status"], 503);
        assert_eq!(v["attempt"], 2);
        assert_eq!(v["event_id"], a.event_id.to_string());
        assert!(v.get("account_id").is_none());
    }

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let a = attempt();
        let sk = keys::delivery(&"acct_1".into(), a.attempted_at, &a.event_id, 2).1;
        let c = DeliveryCursor::new(Some(DeliveryOutcome::Failed), sk);
        let encoded = c.encode();
        assert!(encoded
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
        assert_eq!(DeliveryCursor::decode(&encoded).unwrap(), c);

        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for bad in [
            String::new(),
            "not a cursor".into(),
            "%%%".into(),
            "a".repeat(600),
            b64("[]"),
            b64("{}"),
            b64(r#"{"v":1,"outcome":null,"sk":"AGENT#x"}"#),
            b64(r#"{"v":1,"outcome":null,"sk":"DELIVERY#x"}"#),
            b64(r#"{"v":1,"outcome":"bogus","sk":"DELIVERY#x"}"#),
            b64(&format!(
                r#"{{"v":2,"outcome":null,"sk":"{}"}}"#,
                c.sort_key()
            )),
            b64(&format!(
                r#"{{"v":1,"outcome":null,"sk":"{}","pk":"ACCOUNT#other"}}"#,
                c.sort_key()
            )),
            // A valid shape with a non-canonical time spelling.
            b64(&format!(
                r#"{{"v":1,"outcome":null,"sk":"DELIVERY#2025-06-15T14:30:01+00:00#{}#02"}}"#,
                a.event_id
            )),
        ] {
            assert!(DeliveryCursor::decode(&bad).is_err(), "{bad:?}");
        }
    }
}
