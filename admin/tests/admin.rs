//! Operator tasks against the emulator: the library functions, and the `bvai-admin` binary
//! run as a process (its output, exit codes and one-line errors).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use aws_adapters::DynamoStore;
use bvai_admin::{parse_calling_window, Admin, AdminError};
use domain::ids::{AccountId, CallId, EventId};
use domain::model::Plan;
use domain::number_type::NumberType;
use domain::ports::secrets::SecretStore;
use domain::ports::store::AccountStore;
use integration_tests::fixtures::secret_prefix;
use integration_tests::Emulator;
use serde_json::Value;
use std::process::{Command, Output};
use std::sync::Arc;

async fn admin(emulator: &Emulator) -> (Admin, DynamoStore, String) {
    let store = emulator.table().await;
    let prefix = secret_prefix();
    let admin = Admin::new(
        store.clone(),
        Arc::new(emulator.secrets()),
        prefix.clone(),
        Arc::new(domain::clock::SystemClock),
    );
    (admin, store, prefix)
}

fn account_id() -> String {
    format!("acct_{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn accounts_agents_windows_and_keys() {
    let emulator = Emulator::connect().await;
    let (admin, store, prefix) = admin(&emulator).await;
    admin
        .create_table()
        .await
        .expect("create_table is idempotent");
    let id = AccountId::from(account_id());

    let account = admin
        .create_account(id.as_str(), "Northwind", Plan::Agency)
        .await
        .expect("create");
    assert_eq!(account.plan, Plan::Agency);
    assert!(account.api_enabled);
    // A new account may call US and Canadian numbers until its agents say otherwise.
    assert_eq!(
        account.guardrails.allowed_countries,
        Some(vec!["CA".to_string(), "US".to_string()])
    );
    assert!(account.guardrails.countries_from_agents);
    assert!(matches!(
        admin.create_account(id.as_str(), "Again", Plan::Pro).await,
        Err(AdminError::AlreadyExists(m)) if m.contains(id.as_str())
    ));
    assert!(matches!(
        admin.create_account("bad id!", "X", Plan::Pro).await,
        Err(AdminError::Invalid(_))
    ));
    assert!(matches!(
        admin
            .create_account(account_id().as_str(), "  ", Plan::Pro)
            .await,
        Err(AdminError::Invalid(_))
    ));

    // Agents.
    let provider_agent = format!("prov_{}", uuid::Uuid::new_v4().simple());
    assert!(matches!(
        admin.create_agent(&"acct_missing_x".into(), "A", "p", None, false).await,
        Err(AdminError::NotFound(m)) if m.contains("acct_missing_x")
    ));
    assert!(matches!(
        admin.create_agent(&id, "A", &provider_agent, Some("555 1234"), false).await,
        Err(AdminError::Invalid(m)) if m.starts_with("--phone")
    ));
    let agent = admin
        .create_agent(
            &id,
            "Sales Qualifier",
            &provider_agent,
            Some("+14155550100"),
            true,
        )
        .await
        .expect("agent");
    assert_eq!(
        store
            .account(&id)
            .await
            .expect("read")
            .expect("exists")
            .default_agent_id,
        Some(agent.id)
    );
    assert_eq!(
        store
            .agent_by_provider_id(&provider_agent)
            .await
            .expect("read")
            .map(|a| a.id),
        Some(agent.id)
    );
    assert!(matches!(
        admin
            .create_agent(&id, "Copy", &provider_agent, None, false)
            .await,
        Err(AdminError::AlreadyExists(_))
    ));
    let second = admin
        .create_agent(&id, "No Phone", &format!("{provider_agent}_2"), None, false)
        .await
        .expect("agent without phone");
    assert_eq!(second.phone_number, None);
    // The new account's countries follow its agents' numbers: a UK agent adds GB (and the
    // Crown Dependencies of +44), still with the +1 agent's US and CA.
    admin
        .create_agent(
            &id,
            "London",
            &format!("{provider_agent}_3"),
            Some("+442079460000"),
            false,
        )
        .await
        .expect("UK agent");
    let followed = admin.account(&id).await.expect("read");
    assert_eq!(
        followed.guardrails.allowed_countries,
        Some(
            ["CA", "GB", "GG", "IM", "JE", "US"]
                .map(String::from)
                .to_vec()
        )
    );
    assert_eq!(followed.default_agent_id, Some(agent.id), "unchanged");

    // Calling window and webhook URL.
    let window = parse_calling_window(
        r#"{"time_zone": "America/New_York", "days": {"mon": {"start": "09:00", "end": "17:00"}}}"#,
    )
    .expect("window");
    let saved = admin
        .set_calling_window(&id, Some(window.clone()))
        .await
        .expect("set window");
    assert_eq!(saved.calling_window, Some(window));
    let cleared = admin.set_calling_window(&id, None).await.expect("clear");
    assert_eq!(cleared.calling_window, None);
    assert!(matches!(
        admin
            .set_webhook_url(&id, Some("http://example.com/h"), false)
            .await,
        Err(AdminError::Invalid(_))
    ));
    let hooked = admin
        .set_webhook_url(&id, Some("https://example.com/h"), false)
        .await
        .expect("webhook");
    assert_eq!(hooked.webhook_url.as_deref(), Some("https://example.com/h"));
    // The local switch admits http and loopback only: never a private or metadata address.
    for private in [
        "http://10.0.0.5/h",
        "http://192.168.1.10/h",
        "http://169.254.169.254/latest/meta-data",
    ] {
        assert!(
            matches!(
                admin.set_webhook_url(&id, Some(private), true).await,
                Err(AdminError::Invalid(_))
            ),
            "{private}"
        );
    }
    let local = admin
        .set_webhook_url(&id, Some("http://127.0.0.1:3001/webhooks"), true)
        .await
        .expect("loopback with the local switch");
    assert_eq!(
        local.webhook_url.as_deref(),
        Some("http://127.0.0.1:3001/webhooks")
    );
    admin
        .set_webhook_url(&id, Some("https://example.com/h"), false)
        .await
        .expect("webhook");

    // Guardrails: the key's rate limit and the destinations, on the account and its grant.
    assert!(matches!(
        admin.set_rate_limit(&id, Some(0)).await,
        Err(AdminError::Invalid(_))
    ));
    let limited = admin.set_rate_limit(&id, Some(5)).await.expect("limit");
    assert_eq!(limited.guardrails.rate_limit_per_minute, Some(5));
    assert!(matches!(
        admin.set_destinations(&id, Some("GB,ZZ"), false, &[]).await,
        Err(AdminError::Invalid(m)) if m.contains("ZZ")
    ));
    let dest = admin
        .set_destinations(
            &id,
            Some("us, gb"),
            true,
            &[
                NumberType::Pager,
                NumberType::PremiumRate,
                NumberType::Pager,
            ],
        )
        .await
        .expect("destinations");
    assert_eq!(
        dest.guardrails.allowed_countries,
        Some(vec!["GB".to_string(), "US".to_string()])
    );
    assert!(dest.guardrails.non_geographic_allowed);
    assert_eq!(
        dest.guardrails.allowed_number_types,
        vec![NumberType::PremiumRate, NumberType::Pager]
    );
    assert!(
        !dest.guardrails.countries_from_agents,
        "an operator's list no longer follows the agents"
    );
    let shown = admin.show_account(&id).await.expect("show");
    assert_eq!(shown["rate_limit_per_minute"], 5);
    assert_eq!(shown["allowed_countries"], serde_json::json!(["GB", "US"]));
    assert_eq!(shown["non_geographic_allowed"], true);
    assert_eq!(
        shown["allowed_number_types"],
        serde_json::json!(["premium_rate", "pager"])
    );
    assert_eq!(shown["countries_from_agents"], false);
    admin
        .create_agent(
            &id,
            "Kingston",
            &format!("{provider_agent}_4"),
            Some("+18765550100"),
            false,
        )
        .await
        .expect("JM agent");
    assert_eq!(
        admin
            .account(&id)
            .await
            .expect("read")
            .guardrails
            .allowed_countries,
        Some(vec!["GB".to_string(), "US".to_string()]),
        "an agent added after set-destinations leaves the operator's list alone"
    );
    let open = admin
        .set_destinations(&id, None, false, &[])
        .await
        .expect("open");
    assert_eq!(open.guardrails.allowed_countries, None);
    assert!(!open.guardrails.non_geographic_allowed);
    assert!(open.guardrails.allowed_number_types.is_empty());
    let back = admin.set_rate_limit(&id, None).await.expect("default");
    assert_eq!(back.guardrails.rate_limit_per_minute, None);

    // Keys: the grant follows the newest key; the secret holds the plaintext.
    let key1 = admin.generate_key(&id).await.expect("key");
    assert!(key1.starts_with(domain::api_key::KEY_PREFIX));
    let grant = store
        .key_grant(&domain::api_key::hash(&key1))
        .await
        .expect("read")
        .expect("grant");
    assert_eq!(grant.account_id, id);
    assert_eq!(grant.default_agent_id, Some(agent.id));
    admin.set_rate_limit(&id, Some(9)).await.expect("limit");
    let grant = store
        .key_grant(&domain::api_key::hash(&key1))
        .await
        .expect("read")
        .expect("grant");
    assert_eq!(
        grant.guardrails.rate_limit_per_minute,
        Some(9),
        "the grant carries the operator's limit"
    );
    let secrets = emulator.secrets();
    assert_eq!(
        secrets
            .get(&domain::ports::secrets::account_key_secret_name(
                &prefix, &id
            ))
            .await
            .expect("secret"),
        key1
    );
    let key2 = admin.generate_key(&id).await.expect("key");
    assert_ne!(key1, key2);
    assert!(store
        .key_grant(&domain::api_key::hash(&key1))
        .await
        .expect("read")
        .is_none());

    // show_account never reveals a secret.
    let shown = admin.show_account(&id).await.expect("show");
    let text = shown.to_string();
    assert!(!text.contains(&key2) && !text.contains(&key1));
    assert!(
        !text.contains(&domain::api_key::hash(&key2)),
        "not even the hash"
    );
    assert_eq!(shown["api_key"]["last4"], &key2[key2.len() - 4..]);
    assert_eq!(shown["api_key"]["prefix"], domain::api_key::KEY_PREFIX);
    assert_eq!(shown["plan"], "agency");
    assert_eq!(shown["webhook_url"], "https://example.com/h");
    assert_eq!(shown["default_agent_id"], agent.id.to_string());
    let names: Vec<&str> = shown["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["Kingston", "London", "No Phone", "Sales Qualifier"]
    );
    assert!(matches!(
        admin.show_account(&"acct_nope".into()).await,
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        admin.generate_key(&"acct_nope".into()).await,
        Err(AdminError::NotFound(_))
    ));
}

/// Runs the CLI against the emulator named by `AWS_ENDPOINT_URL` (inherited).
/// An account stored before the new-account default (no country list, as `Account::new`
/// writes it) keeps calling every country: adding agents does not give it a list.
#[tokio::test]
async fn an_existing_account_keeps_every_country() {
    let emulator = Emulator::connect().await;
    let (admin, store, _) = admin(&emulator).await;
    let id = AccountId::from(account_id());
    let old = domain::model::Account::new(&id, "Before", Plan::Agency, chrono::Utc::now());
    store.create_account(&old).await.expect("create as before");
    admin
        .create_agent(
            &id,
            "Ava",
            &format!("prov_{}", uuid::Uuid::new_v4().simple()),
            Some("+442079460000"),
            true,
        )
        .await
        .expect("agent");
    let after = admin.account(&id).await.expect("read");
    assert_eq!(after.guardrails.allowed_countries, None);
    assert!(!after.guardrails.countries_from_agents);
    assert!(after.guardrails.allowed_number_types.is_empty());
    let shown = admin.show_account(&id).await.expect("show");
    assert_eq!(shown["allowed_countries"], Value::Null);
}

fn cli(table: Option<&str>, prefix: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bvai-admin"));
    cmd.env_remove("TABLE_NAME")
        .env("API_KEY_SECRET_PREFIX", prefix)
        .env_remove("WEBHOOK_ALLOW_INSECURE_LOCAL");
    if let Some(t) = table {
        cmd.args(["--table", t]);
    }
    cmd.args(args).output().expect("run bvai-admin")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok_json(o: &Output) -> Value {
    assert!(o.status.success(), "failed: {}", stderr(o));
    serde_json::from_str(&stdout(o)).expect("JSON on stdout")
}

/// An error is one line on stderr and exit status 1.
fn assert_error(o: &Output, needle: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout {} stderr {}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
}

#[tokio::test]
async fn the_cli_binary_end_to_end() {
    let emulator = Emulator::connect().await;
    let table = Emulator::unique("cli-table");
    let prefix = secret_prefix();
    let t = Some(table.as_str());
    let id = account_id();

    let o = cli(t, &prefix, &["create-table"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&table));
    // The table exists with the production layout (the store can use it).
    let store = DynamoStore::new(emulator.dynamodb(), &table);

    let created = ok_json(&cli(
        t,
        &prefix,
        &[
            "create-account",
            "--id",
            &id,
            "--name",
            "Northwind Sales",
            "--plan",
            "agency",
        ],
    ));
    assert_eq!(created["id"], id.as_str());
    assert_eq!(created["plan"], "agency");
    assert_eq!(created["api_key"], Value::Null);
    assert_eq!(
        created["allowed_countries"],
        serde_json::json!(["CA", "US"])
    );
    assert_eq!(created["countries_from_agents"], true);
    assert_eq!(created["allowed_number_types"], serde_json::json!([]));
    assert_error(
        &cli(
            t,
            &prefix,
            &[
                "create-account",
                "--id",
                &id,
                "--name",
                "X",
                "--plan",
                "pro",
            ],
        ),
        "already exists",
    );
    // Usage errors are clap's (exit 2) and name the problem.
    let o = cli(
        t,
        &prefix,
        &[
            "create-account",
            "--id",
            &id,
            "--name",
            "X",
            "--plan",
            "gold",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gold"));

    let agent = ok_json(&cli(
        t,
        &prefix,
        &[
            "create-agent",
            "--account",
            &id,
            "--name",
            "Ava",
            "--provider-agent-id",
            &format!("prov_{id}"),
            "--phone",
            "+14155550100",
            "--default",
        ],
    ));
    assert_eq!(agent["phone_number"], "+14155550100");
    assert_eq!(agent["default"], true);
    assert_error(
        &cli(
            t,
            &prefix,
            &[
                "create-agent",
                "--account",
                &id,
                "--name",
                "B",
                "--provider-agent-id",
                "p2",
                "--phone",
                "12345",
            ],
        ),
        "--phone",
    );

    let window = r#"{"time_zone": "Europe/Berlin", "days": {"mon": {"start": "09:00", "end": "17:00"}, "sat": "off"}}"#;
    let set = ok_json(&cli(
        t,
        &prefix,
        &["set-calling-window", "--account", &id, "--json", window],
    ));
    assert_eq!(set["calling_window"]["time_zone"], "Europe/Berlin");
    let file = std::env::temp_dir().join(format!("window-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, window).expect("write window file");
    let file_arg = file.display().to_string();
    ok_json(&cli(
        t,
        &prefix,
        &["set-calling-window", "--account", &id, "--file", &file_arg],
    ));
    let _ = std::fs::remove_file(&file);
    assert_error(
        &cli(
            t,
            &prefix,
            &[
                "set-calling-window",
                "--account",
                &id,
                "--json",
                r#"{"time_zone": "Mars/Olympus", "days": {}}"#,
            ],
        ),
        "invalid calling window",
    );
    assert_error(
        &cli(
            t,
            &prefix,
            &[
                "set-calling-window",
                "--account",
                &id,
                "--file",
                "/nonexistent/w.json",
            ],
        ),
        "cannot read",
    );
    let o = cli(
        t,
        &prefix,
        &[
            "set-calling-window",
            "--account",
            &id,
            "--json",
            window,
            "--clear",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "--json and --clear conflict");
    let cleared = ok_json(&cli(
        t,
        &prefix,
        &["set-calling-window", "--account", &id, "--clear"],
    ));
    assert_eq!(cleared["calling_window"], Value::Null);

    // Recipient hours: the default until set, then the operator's, then the default again.
    let shown = ok_json(&cli(t, &prefix, &["show-account", "--id", &id]));
    assert_eq!(
        shown["recipient_hours"],
        serde_json::json!({"applies_to": "north_america", "start": "08:00", "end": "21:00", "default": true})
    );
    let set = ok_json(&cli(
        t,
        &prefix,
        &[
            "set-recipient-hours",
            "--account",
            &id,
            "--applies-to",
            "everywhere",
            "--start",
            "09:00",
            "--end",
            "20:30",
        ],
    ));
    assert_eq!(
        set["recipient_hours"],
        serde_json::json!({"applies_to": "everywhere", "start": "09:00", "end": "20:30", "default": false})
    );
    let stored = store.account(&AccountId::from(&id)).await.unwrap().unwrap();
    assert_eq!(
        stored.guardrails.recipient_hours.map(|p| p.hours_label()),
        Some("09:00-20:30".to_string())
    );
    let off = ok_json(&cli(
        t,
        &prefix,
        &[
            "set-recipient-hours",
            "--account",
            &id,
            "--applies-to",
            "off",
        ],
    ));
    assert_eq!(off["recipient_hours"]["applies_to"], "off");
    assert_eq!(off["recipient_hours"]["start"], "08:00");
    assert_error(
        &cli(
            t,
            &prefix,
            &[
                "set-recipient-hours",
                "--account",
                &id,
                "--applies-to",
                "everywhere",
                "--start",
                "8am",
            ],
        ),
        "invalid recipient hours",
    );
    let o = cli(
        t,
        &prefix,
        &[
            "set-recipient-hours",
            "--account",
            &id,
            "--applies-to",
            "mars",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown --applies-to is a usage error"
    );
    let o = cli(
        t,
        &prefix,
        &[
            "set-recipient-hours",
            "--account",
            &id,
            "--applies-to",
            "off",
            "--default",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "--applies-to and --default conflict"
    );
    let back = ok_json(&cli(
        t,
        &prefix,
        &["set-recipient-hours", "--account", &id, "--default"],
    ));
    assert_eq!(back["recipient_hours"]["default"], true);
    assert_eq!(
        store
            .account(&AccountId::from(&id))
            .await
            .unwrap()
            .unwrap()
            .guardrails
            .recipient_hours,
        None
    );

    let o = cli(t, &prefix, &["generate-key", "--account", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let key = stdout(&o).trim().to_string();
    assert!(key.starts_with("bvai_live_"), "{key}");
    assert_eq!(stdout(&o).lines().count(), 1, "only the key on stdout");
    assert!(stderr(&o).contains("shown only this once"));
    assert_eq!(
        store
            .key_grant(&domain::api_key::hash(&key))
            .await
            .expect("read")
            .map(|g| g.account_id),
        Some(AccountId::from(&id))
    );

    let o = cli(t, &prefix, &["show-account", "--id", &id]);
    let shown = ok_json(&o);
    assert!(
        !stdout(&o).contains(&key),
        "show-account never prints the key"
    );
    assert_eq!(shown["api_key"]["last4"], &key[key.len() - 4..]);
    assert_eq!(shown["agents"][0]["name"], "Ava");
    assert_eq!(shown["default_agent_id"], agent["id"]);

    assert_error(
        &cli(t, &prefix, &["show-account", "--id", "acct_nope"]),
        "account acct_nope not found",
    );
    assert_error(
        &cli(None, &prefix, &["show-account", "--id", &id]),
        "TABLE_NAME",
    );
    assert_error(
        &cli(
            t,
            &prefix,
            &[
                "set-webhook",
                "--account",
                &id,
                "--url",
                "http://127.0.0.1:3001/webhooks",
            ],
        ),
        "https",
    );
    let hooked = ok_json(&cli(
        t,
        &prefix,
        &[
            "set-webhook",
            "--account",
            &id,
            "--url",
            "https://example.com/hook",
        ],
    ));
    assert_eq!(hooked["webhook_url"], "https://example.com/hook");
    let limited = ok_json(&cli(
        t,
        &prefix,
        &["set-rate-limit", "--account", &id, "--per-minute", "30"],
    ));
    assert_eq!(limited["rate_limit_per_minute"], 30);
    let dest = ok_json(&cli(
        t,
        &prefix,
        &[
            "set-destinations",
            "--account",
            &id,
            "--countries",
            "US,CA",
            "--allow-non-geographic",
        ],
    ));
    assert_eq!(dest["allowed_countries"], serde_json::json!(["CA", "US"]));
    assert_eq!(dest["non_geographic_allowed"], true);
    assert_eq!(dest["allowed_number_types"], serde_json::json!([]));
    assert_error(
        &cli(
            t,
            &prefix,
            &["set-destinations", "--account", &id, "--countries", "XX"],
        ),
        "XX",
    );
    // --allow-type: repeated or comma-separated; what a run leaves out is refused again.
    let typed = ok_json(&cli(
        t,
        &prefix,
        &[
            "set-destinations",
            "--account",
            &id,
            "--countries",
            "US",
            "--allow-type",
            "pager,premium_rate",
            "--allow-type",
            "uan",
        ],
    ));
    assert_eq!(
        typed["allowed_number_types"],
        serde_json::json!(["premium_rate", "uan", "pager"])
    );
    assert_eq!(typed["non_geographic_allowed"], false);
    let stored = store
        .account(&AccountId::from(&id))
        .await
        .expect("read")
        .expect("account");
    assert_eq!(
        stored.guardrails.allowed_number_types,
        vec![NumberType::PremiumRate, NumberType::Uan, NumberType::Pager]
    );
    let shown = ok_json(&cli(t, &prefix, &["show-account", "--id", &id]));
    assert_eq!(
        shown["allowed_number_types"],
        serde_json::json!(["premium_rate", "uan", "pager"])
    );
    let o = cli(
        t,
        &prefix,
        &[
            "set-destinations",
            "--account",
            &id,
            "--all-countries",
            "--allow-type",
            "toll_free",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "a usage error: {}", stderr(&o));
    assert!(
        stderr(&o).contains("toll_free") && stderr(&o).contains("premium_rate"),
        "names the value and the choices: {}",
        stderr(&o)
    );
    let cleared = ok_json(&cli(
        t,
        &prefix,
        &["set-destinations", "--account", &id, "--all-countries"],
    ));
    assert_eq!(cleared["allowed_number_types"], serde_json::json!([]));
    assert_eq!(cleared["allowed_countries"], Value::Null);
    // A table that does not exist is a clear one-line error too.
    assert_error(
        &cli(
            Some("no-such-table-xyz"),
            &prefix,
            &["show-account", "--id", &id],
        ),
        "no-such-table-xyz",
    );
}

/// `dlq list` and `dlq redrive` as an operator runs them, against two queues in the emulator:
/// list shows each dead-lettered delivery readably and leaves it there; redrive moves the
/// delivery messages back to the events queue unchanged, once, and leaves a foreign body.
#[tokio::test]
async fn dlq_list_and_redrive() {
    use domain::ports::queue::DeliveryMessage;
    let emulator = Emulator::connect().await;
    let sqs = emulator.sqs();
    let (dlq, events) = (emulator.queue().await, emulator.queue().await);
    let first = DeliveryMessage::first(EventId::new_v4(), account_id(), CallId::new_v4());
    let mut retry = DeliveryMessage::first(EventId::new_v4(), account_id(), CallId::new_v4());
    retry.attempt = 3;
    retry.redelivery = Some(uuid::Uuid::new_v4());
    for body in [
        first.to_body().unwrap(),
        retry.to_body().unwrap(),
        "not ours: token=hunter2".to_string(),
    ] {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bvai-admin"));
        cmd.env_remove("TABLE_NAME")
            .env_remove("EVENTS_DLQ_URL")
            .env_remove("EVENTS_QUEUE_URL")
            .args(args)
            .output()
            .expect("run bvai-admin")
    };
    let queues = ["--dlq-url", dlq.as_str(), "--queue-url", events.as_str()];
    let list = |queues: &[&str]| {
        let mut args = vec!["dlq", "list"];
        args.extend_from_slice(queues);
        let v = ok_json(&run(&args));
        v.as_array().expect("a JSON array").clone()
    };

    let listed = list(&queues);
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(
        !format!("{listed:?}").contains("hunter2"),
        "a foreign body is never printed"
    );
    let by_event = |id: EventId| {
        listed
            .iter()
            .find(|v| v["event_id"] == id.to_string())
            .cloned()
            .expect("listed")
    };
    let r = by_event(retry.event_id);
    assert_eq!(r["account_id"], retry.account_id.as_str());
    assert_eq!(r["attempt"], 3);
    assert_eq!(r["series"], retry.series());
    assert_eq!(by_event(first.event_id)["series"], "original");
    for v in &listed {
        assert!(
            v["message_id"].is_string() && v["sent_at"].is_string(),
            "{v}"
        );
        assert!(v["first_received_at"].is_string(), "{v}");
        assert!(v["receive_count"].as_u64().unwrap_or(0) >= 1, "{v}");
    }
    assert_eq!(
        listed
            .iter()
            .filter(|v| v.get("unreadable_body_bytes").is_some())
            .count(),
        1
    );
    assert_eq!(list(&queues).len(), 3, "listing removes nothing");

    let mut args = vec!["dlq", "redrive"];
    args.extend_from_slice(&queues);
    let done = ok_json(&run(&args));
    assert_eq!(
        done,
        serde_json::json!({"redriven": 2, "left_unreadable": 1})
    );
    let mut moved = integration_tests::sqs::drain(&sqs, &events).await;
    moved.sort_by_key(|m| m.attempt);
    assert_eq!(
        moved,
        vec![first, retry],
        "each message back once, unchanged"
    );
    let left = list(&queues);
    assert_eq!(left.len(), 1, "only the foreign body stays: {left:?}");
    assert!(left[0].get("unreadable_body_bytes").is_some());
    // A second redrive moves nothing more.
    assert_eq!(
        ok_json(&run(&args)),
        serde_json::json!({"redriven": 0, "left_unreadable": 1})
    );
    assert!(integration_tests::sqs::drain(&sqs, &events)
        .await
        .is_empty());

    assert_error(
        &run(&["dlq", "list", "--dlq-url", " ", "--queue-url", &events]),
        "--dlq-url is empty",
    );
}

/// The secret prefix is the stage's, never a silent default, outside the emulator: without
/// --secret-prefix or --stage the CLI refuses before touching AWS; with --stage it writes the
/// key where the deployed functions read it (buildvoiceai/<stage>/api-key/<account>).
#[tokio::test]
async fn the_cli_requires_the_stages_secret_prefix_outside_the_emulator() {
    let emulator = Emulator::connect().await;
    let table = Emulator::unique("cli-prefix-table");
    let bare = |args: &[&str], endpoint: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bvai-admin"));
        cmd.env_remove("TABLE_NAME")
            .env_remove("API_KEY_SECRET_PREFIX")
            .env_remove("STAGE")
            .env_remove("AWS_ENDPOINT_URL")
            .args(["--table", &table]);
        if let Some(e) = endpoint {
            cmd.env("AWS_ENDPOINT_URL", e);
        }
        cmd.args(args).output().expect("run bvai-admin")
    };
    // Pointed at AWS (no endpoint override): refused, whatever the command.
    for args in [
        &["show-account", "--id", "acct_x"][..],
        &["generate-key", "--account", "acct_x"][..],
    ] {
        assert_error(&bare(args, None), "--stage");
    }
    assert_error(
        &bare(
            &[
                "--secret-prefix",
                "buildvoiceai/dev/api-key/",
                "--stage",
                "prod",
                "show-account",
                "--id",
                "x",
            ],
            None,
        ),
        "is not the prefix of --stage",
    );

    // Against the emulator, --stage gives the stage's prefix.
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("the emulator's endpoint");
    let stage = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let id = account_id();
    let ok = |args: &[&str]| {
        let o = bare(args, Some(&endpoint));
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        o
    };
    ok(&["--stage", &stage, "create-table"]);
    ok(&[
        "--stage",
        &stage,
        "create-account",
        "--id",
        &id,
        "--name",
        "Stage Co",
        "--plan",
        "agency",
    ]);
    let key = stdout(&ok(&["--stage", &stage, "generate-key", "--account", &id]));
    let key = key.trim();
    let stored = emulator
        .secrets()
        .get(&format!("buildvoiceai/{stage}/api-key/{id}"))
        .await
        .expect("the key is under the stage's prefix");
    assert_eq!(stored, key);
    assert!(
        emulator
            .secrets()
            .get(&format!(
                "{}{id}",
                domain::config::DEFAULT_API_KEY_SECRET_PREFIX
            ))
            .await
            .is_err(),
        "nothing under the local default prefix"
    );
}

/// Issue 26, item 4: `bvai-admin suspend` and `resume` on the emulator: the suspension lands
/// on the account and on its key grant (what trigger-call reads), with the operator's reason;
/// an empty reason is refused; resume clears both.
#[tokio::test]
async fn suspend_and_resume_an_account() {
    let emulator = Emulator::connect().await;
    let table = Emulator::unique("cli-suspend-table");
    let prefix = secret_prefix();
    let t = Some(table.as_str());
    let id = account_id();
    assert!(cli(t, &prefix, &["create-table"]).status.success());
    ok_json(&cli(
        t,
        &prefix,
        &[
            "create-account",
            "--id",
            &id,
            "--name",
            "Susp",
            "--plan",
            "agency",
        ],
    ));
    let key = cli(t, &prefix, &["generate-key", "--account", &id]);
    assert!(key.status.success(), "{}", stderr(&key));
    let store = DynamoStore::new(emulator.dynamodb(), &table);
    let hash = store
        .account(&AccountId::from(&id))
        .await
        .unwrap()
        .unwrap()
        .api_key
        .unwrap()
        .hash;
    assert_error(
        &cli(t, &prefix, &["suspend", "--account", &id, "--reason", "  "]),
        "--reason",
    );
    let out = ok_json(&cli(
        t,
        &prefix,
        &["suspend", "--account", &id, "--reason", "chargeback 4711"],
    ));
    assert_eq!(out["suspended"]["reason"], "chargeback 4711");
    let grant = store.key_grant(&hash).await.unwrap().expect("grant");
    assert_eq!(
        grant.guardrails.suspended.map(|s| s.reason),
        Some("chargeback 4711".to_string())
    );
    let out = ok_json(&cli(t, &prefix, &["resume", "--account", &id]));
    assert_eq!(out["suspended"], Value::Null);
    let grant = store.key_grant(&hash).await.unwrap().expect("grant");
    assert_eq!(grant.guardrails.suspended, None);
    assert_eq!(
        store
            .account(&AccountId::from(&id))
            .await
            .unwrap()
            .unwrap()
            .guardrails
            .suspended,
        None
    );
}
