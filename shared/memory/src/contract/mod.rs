//! Port contracts: the behaviour every adapter of a port must show, as functions over the
//! port trait, so the same assertions run against the in-memory adapters (this crate's unit
//! tests) and against DynamoDB, SQS and Secrets Manager on the local emulator (the
//! integration tests call them with a `DynamoStore`, `SqsQueue` or `SecretsManager`).
//!
//! One file per port, one function per promise: each promise sets up what it needs itself,
//! under fresh random ids (accounts, calls, events, secret names), so it runs alone, in any
//! order, many times against one table and in parallel with other tests. That is what lets
//! [`store_contract_tests!`](crate::store_contract_tests) (and the secrets and queue
//! counterparts) give every promise its own test on each adapter: a broken promise fails
//! its own test and hides none of the others. [`store`], [`secrets`] and [`queue`] run a
//! port's promises one after the other on one adapter (the fault wrapper's test).
//!
//! `now` is the time the records are written at; pass the real time against a real table
//! (TTL deletions work on real time there) and any time against memory. A broken promise is
//! a [`ContractError::Violated`] naming it; an unexpected port error is returned as it came.

use chrono::{DateTime, SubsecRound, Utc};
use domain::error::{QueueError, SecretError, StoreError};
use domain::ids::{AccountId, EventId};
use domain::model::{ApiKeyInfo, Call, CallStatus, Direction, EventRecord, IdempotencyRecord};
use domain::ports::queue::EventQueue;
use domain::ports::secrets::SecretStore;
use domain::ports::store::Store;
use uuid::Uuid;

/// Why a contract failed.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("contract violated: {0}")]
    Violated(String),
    #[error("unexpected store error: {0}")]
    Store(#[from] StoreError),
    #[error("unexpected secrets error: {0}")]
    Secret(#[from] SecretError),
    #[error("unexpected queue error: {0}")]
    Queue(#[from] QueueError),
}

/// A promise's result: `Ok` when the adapter kept it.
pub type Kept = Result<(), ContractError>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::contract::ContractError::Violated(format!($($fmt)+)));
        }
    };
}

/// `ensure!` that two values are equal, showing both.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:expr) => {
        // A match keeps temporaries alive for the comparison, as `assert_eq!` does.
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return Err($crate::contract::ContractError::Violated(format!(
                        "{}: got {:?}, expected {:?}",
                        $what, l, r
                    )));
                }
            }
        }
    };
}

pub mod accounts;
pub mod attempts;
pub mod call_events;
pub mod call_list;
pub mod calls;
pub mod deliveries;
pub mod due;
pub mod endpoints;
pub mod event_store;
pub mod queue;
pub mod rate_counters;
pub mod scheduled;
pub mod secrets;
pub mod suppressions;

fn is_conflict<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

/// A fresh account id (`unique` names accounts too).
fn unique_account(prefix: &str) -> AccountId {
    unique(prefix).into()
}

fn violated(what: &str) -> ContractError {
    ContractError::Violated(what.to_string())
}

fn key_info(hash: &str, at: DateTime<Utc>) -> ApiKeyInfo {
    ApiKeyInfo {
        hash: hash.to_string(),
        prefix: "bvai_".into(),
        last4: "abcd".into(),
        created_at: at,
    }
}

fn call(account_id: impl Into<AccountId>, at: DateTime<Utc>) -> Call {
    Call::new(
        Uuid::new_v4(),
        account_id,
        Uuid::new_v4(),
        Direction::Outbound,
        CallStatus::Queued,
        "+14155550123",
        at,
    )
}

fn idempotency_record(call: &Call, key: &str, expires_at: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        lease_until: None,
        account_id: call.account_id.clone(),
        key: key.to_string(),
        request_hash: "hash-1".into(),
        call_id: call.id,
        response: None,
        // Whole seconds: the TTL attribute keeps no more.
        expires_at: expires_at.trunc_subsecs(0),
    }
}

fn event_record(call: &Call, payload: String, at: DateTime<Utc>) -> EventRecord {
    EventRecord {
        id: EventId::new_v4(),
        account_id: call.account_id.clone(),
        call_id: call.id,
        event_type: domain::event_type::EventType::CallCompleted,
        payload,
        created_at: at,
    }
}

/// Every promise of the storage ports, file by file: the one list that [`store`] (all of
/// them in a row) and [`store_contract_tests!`](crate::store_contract_tests) (one test
/// each) are made from. Hands the list to the macro named in brackets, after the arguments
/// in parentheses.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_promises {
    ([$($callback:tt)*] $args:tt) => {
        $($callback)*! {
            $args
            accounts {
                create_once,
                a_save_moves_the_key_grant,
                a_stale_save_writes_nothing,
                recipient_hours_ride_on_the_grant,
                saving_a_missing_account_conflicts,
                agents_sorted_by_name_and_scoped,
                a_provider_id_belongs_to_one_agent,
            }
            rate_counters {
                uses_count_per_window,
                a_window_after_idle_windows_starts_from_one,
                concurrent_uses_count_once_each,
                a_settings_write_keeps_the_count,
                a_rotation_moves_the_count,
                an_unknown_key_is_none_and_writes_nothing,
                scoped_uses_count_per_account_scope_and_window,
            }
            calls {
                create_writes_the_call_and_its_key,
                a_taken_key_answers_and_writes_no_call,
                an_existing_call_id_conflicts_and_takes_no_key,
                an_expired_key_is_free,
                dialing_remembers_the_answer_once,
                failing_is_for_queued_calls_only,
                callbacks_move_forward_only,
                completion_happens_once_with_its_event,
                completing_with_an_existing_event_conflicts,
                an_inbound_call_is_created_once,
            }
            event_store {
                marking_an_unknown_event_enqueued_conflicts,
                a_large_payload_is_compressed_and_round_trips,
                a_payload_too_large_even_compressed_is_refused,
            }
            call_events {
                a_call_moves_with_its_event,
                an_existing_event_conflicts_and_moves_nothing,
                a_call_settles_with_its_event,
                an_unsubscribed_failure_records_its_call_completed,
            }
            deliveries {
                pages_neither_skip_nor_repeat,
                the_outcome_filter,
                newer_rows_do_not_shift_later_pages,
                a_cursor_past_the_retention_ends_the_log,
                between_is_oldest_first_with_bounds_included,
                between_never_serves_expired_rows,
                between_an_inverted_range_is_empty,
            }
            attempts {
                one_winner_per_attempt,
                a_claim_is_taken_over_after_its_lease,
                nothing_finished_nothing_delivered,
                a_finished_attempt_is_never_claimed_again,
                a_delivered_attempt_closes_its_series_only,
                series_claims_lists_every_claim,
            }
            due {
                a_queued_call_and_its_key_are_due_at_their_lease,
                dial_unknown_moves_the_deadline_and_answers_the_key,
                a_settled_call_leaves_the_index_and_a_callback_revives_it,
                a_dead_requests_key_is_answered_once,
                an_ended_call_is_claimed_once_and_completion_files_its_event,
                an_events_repair_is_claimed_once,
                a_poison_item_is_quarantined,
            }
            scheduled {
                a_scheduled_call_is_scheduled_work,
                the_claim_wins_once,
                a_claimed_call_can_be_rescheduled,
                a_cancel_wins_over_a_later_claim,
            }
            suppressions {
                adds_are_idempotent_and_per_account,
                pages_in_number_order,
                a_removal_says_whether_the_number_was_there,
            }
            call_list {
                pages_hold_every_call_once_newest_first,
                the_status_filter,
                the_creation_time_range,
                an_account_without_calls_lists_none,
            }
            endpoints {
                no_record_is_healthy,
                timeouts_count_on_per_url,
                clearing_removes_that_record_only,
            }
        }
    };
}

/// The secrets port's promises (see [`__store_promises!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __secrets_promises {
    ([$($callback:tt)*] $args:tt) => {
        $($callback)*! {
            $args
            secrets {
                an_unknown_secret_is_not_found,
                writes_move_the_current_value,
                a_version_is_written_once,
                make_current_moves_the_current_value,
                unknown_versions_are_not_found,
                a_short_version_id_is_refused,
                put_version_creates_a_secret,
            }
        }
    };
}

/// The queue port's promises (see [`__store_promises!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __queue_promises {
    ([$($callback:tt)*] $args:tt) => {
        $($callback)*! {
            $args
            queue {
                every_delay_is_accepted,
                send_many_answers_each_message,
            }
        }
    };
}

/// One `#[tokio::test]` per storage promise, in one module per file of the contract
/// (`accounts::create_once`, ...), each on the store `$store` builds (evaluated once per
/// test: make it a fresh one) and at the time `$now`:
///
/// ```ignore
/// in_memory::store_contract_tests!(store: MemoryStore::new(), now: Utc::now());
/// ```
///
/// The expressions are evaluated inside the generated modules, which see the invoking
/// module's items (`use super::*`).
#[macro_export]
macro_rules! store_contract_tests {
    (store: $store:expr, now: $now:expr $(,)?) => {
        $crate::__store_promises!([$crate::__contract_tests] (store: $store, now: $now));
    };
}

/// One `#[tokio::test]` per promise of the secrets port, on the adapter `$secrets` builds.
#[macro_export]
macro_rules! secrets_contract_tests {
    (secrets: $secrets:expr $(,)?) => {
        $crate::__secrets_promises!([$crate::__contract_tests] (adapter: $secrets));
    };
}

/// One `#[tokio::test]` per promise of the queue port, on the adapter `$queue` builds.
#[macro_export]
macro_rules! queue_contract_tests {
    (queue: $queue:expr $(,)?) => {
        $crate::__queue_promises!([$crate::__contract_tests] (adapter: $queue));
    };
}

/// The tests of [`store_contract_tests!`](crate::store_contract_tests) and its
/// counterparts, from a promise list.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ((store: $store:expr, now: $now:expr) $($port:ident { $($promise:ident),* $(,)? })*) => {
        $(
            mod $port {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[tokio::test]
                    async fn $promise() {
                        let store = $store;
                        let now = $now;
                        if let Err(e) = $crate::contract::$port::$promise(&store, now).await {
                            panic!("{}::{}: {e}", stringify!($port), stringify!($promise));
                        }
                    }
                )*
            }
        )*
    };
    ((adapter: $adapter:expr) $($port:ident { $($promise:ident),* $(,)? })*) => {
        $(
            mod $port {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[tokio::test]
                    async fn $promise() {
                        let adapter = $adapter;
                        if let Err(e) = $crate::contract::$port::$promise(&adapter).await {
                            panic!("{}::{}: {e}", stringify!($port), stringify!($promise));
                        }
                    }
                )*
            }
        )*
    };
}

/// `store`, and one function per file running that file's promises in a row, from the list.
macro_rules! run_in_a_row {
    ((store) $($port:ident { $($promise:ident),* $(,)? })*) => {
        $(
            #[doc = concat!("Every promise of [`", stringify!($port), "`](mod@", stringify!($port), "), one after the other on one store.")]
            pub async fn $port(store: &dyn Store, now: DateTime<Utc>) -> Kept {
                $( $port::$promise(store, now).await?; )*
                Ok(())
            }
        )*

        /// Every storage promise, one after the other on one store.
        pub async fn store(store: &dyn Store, now: DateTime<Utc>) -> Kept {
            $( $port(store, now).await?; )*
            Ok(())
        }
    };
    (($kind:ident: $port_trait:path) $port:ident { $($promise:ident),* $(,)? }) => {
        #[doc = concat!("Every promise of [`", stringify!($port), "`](mod@", stringify!($port), "), one after the other on one adapter.")]
        pub async fn $kind(adapter: &dyn $port_trait) -> Kept {
            $( $port::$promise(adapter).await?; )*
            Ok(())
        }
    };
}

__store_promises!([run_in_a_row](store));
__secrets_promises!([run_in_a_row](secrets: SecretStore));
__queue_promises!([run_in_a_row](queue: EventQueue));
