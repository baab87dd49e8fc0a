//! `make run`: the whole product on 127.0.0.1, with no AWS account and no phone.
//!
//! Starts moto (the AWS emulator) as a child process, creates what template.yaml creates,
//! seeds a demo Agency account (agent with a phone number, webhook URL pointing at the local
//! receiver, a fresh API key), and serves:
//! - the API gateway stand-in, calling the functions' `handle` with API Gateway v2 events;
//! - the voice provider simulator, calling back into the gateway's `/hooks/voice-provider`;
//! - the webhook receiver, verifying signatures and logging every delivery;
//! - the SQS poller, feeding the delivery handler like Lambda's event source mapping.
//!
//! Ctrl-C (or SIGTERM) stops everything it started. See docs/local-stack.md.
//!

use aws_adapters::DynamoStore;
use aws_adapters::SecretsManager;
use aws_config::SdkConfig;
use bvai_admin::{Admin, AdminError};
use domain::clock::{Clock, SystemClock};
use domain::config::{self, Env};
use domain::ids::AccountId;
use domain::ports::store::AccountStore;
use emulator::{Group, Moto};
use local_stack::gateway::{self, Gateway, GatewayConfig, Route};
use local_stack::poller::{sqs_handler, Poller, PollerConfig, SqsHandler};
use local_stack::provider_sim::{ProviderSim, SimConfig, SimTimings};
use local_stack::receiver::{Receiver, ReceiverConfig};
use local_stack::resources::{self, ResourceNames, Resources};
use local_stack::server::Listener;
use local_stack::stack::*;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

type Fallible<T> = Result<T, String>;

fn main() -> ExitCode {
    local_stack::init_console_logging();
    let config = match StackConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let moto_port = match config.moto_port {
        0 => match emulator::free_port() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: no free port for the emulator: {e}");
                return ExitCode::FAILURE;
            }
        },
        p => p,
    };
    prepare_environment(moto_port);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, moto_port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The process environment the SDK and the functions' `Deps::from_env` read. Set before the
/// runtime starts any thread. The AWS variables point at the local emulator only: the local
/// stack must never reach a real AWS account, whatever the shell has configured.
fn prepare_environment(moto_port: u16) {
    let endpoint = format!("http://127.0.0.1:{moto_port}");
    let names = ResourceNames::local();
    for (k, v) in emulator::sdk_environment(&endpoint) {
        std::env::set_var(k, v);
    }
    for (k, v) in [
        // LOCAL ONLY: lets the webhook URL be http://127.0.0.1 (the receiver).
        (config::WEBHOOK_ALLOW_INSECURE_LOCAL, "1"),
        (config::TABLE_NAME, names.table.as_str()),
        (config::PROVIDER_SECRET_NAME, names.provider_secret.as_str()),
        (config::API_KEY_SECRET_PREFIX, LOCAL_API_KEY_SECRET_PREFIX),
        (config::WEBHOOK_SECRET_PREFIX, LOCAL_WEBHOOK_SECRET_PREFIX),
        (config::ACCOUNT_ID_CLAIM, DEMO_ACCOUNT_CLAIM),
    ] {
        std::env::set_var(k, v);
    }
    for k in emulator::SDK_VARIABLES_REMOVED {
        std::env::remove_var(k);
    }
}

/// The environment the functions read, as the template sets it, with the local values. The
/// names and the local-development flag are in the process environment already
/// (`prepare_environment`); what is only known once the stack runs is laid over it here.
fn function_env(config: &StackConfig, resources: &Resources, provider_url: &str) -> Env {
    let millis = |d: Duration| d.as_millis().to_string();
    let delays = config
        .webhook_retry_delays
        .iter()
        .map(|d| format!("{}ms", d.as_millis()))
        .collect::<Vec<_>>()
        .join(",");
    Env::process()
        .with(config::TABLE_NAME, resources.table.clone())
        .with(config::EVENTS_QUEUE_URL, resources.queue_url.clone())
        .with(
            config::RETRIES_QUEUE_URL,
            resources.retries_queue_url.clone(),
        )
        .with(config::PROVIDER_BASE_URL, provider_url)
        .with(config::PROVIDER_TIMEOUT_MS, millis(config.provider_timeout))
        .with(config::WEBHOOK_TIMEOUT_MS, millis(config.webhook_timeout))
        .with(config::WEBHOOK_RETRY_DELAYS, delays)
}

async fn bind(port: u16, var: &str) -> Fallible<Listener> {
    Listener::bind(port).await.map_err(|e| {
        format!("cannot listen on 127.0.0.1:{port} ({var}): {e}; set {var} to another port, or 0 for any free port")
    })
}

async fn run(config: StackConfig, moto_port: u16) -> Fallible<()> {
    std::fs::create_dir_all(&config.local_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.local_dir.display()))?;
    // Every port first, so a port in use fails before anything starts.
    let api = bind(config.api_port, API_PORT).await?;
    let receiver = bind(config.receiver_port, RECEIVER_PORT).await?;
    let provider = bind(config.provider_port, PROVIDER_PORT).await?;

    let moto_log = config.local_dir.join("moto.log");
    tracing::info!(target: "local_stack", "starting the AWS emulator (moto) on 127.0.0.1:{moto_port}");
    let venv = config.venv.clone();
    let mut moto = tokio::task::spawn_blocking(move || {
        Moto::start(
            &Moto::binary(&venv),
            moto_port,
            &moto_log,
            Duration::from_secs(30),
            Group::Own,
        )
    })
    .await
    .map_err(|e| format!("starting the emulator: {e}"))?
    .map_err(|e| format!("{e} (is port {moto_port} free? set {MOTO_PORT} to another port or 0)"))?;
    let result = serve(config, &mut moto, api, receiver, provider).await;
    moto.stop();
    tracing::info!(target: "local_stack", "emulator stopped");
    result
}

/// What every function's `Deps` is built from, as in one AWS account: the SDK configuration
/// and the environment the template would give each function, here with the local stack's
/// names, URLs and timings laid over the process environment.
struct Ctx {
    sdk: SdkConfig,
    env: Env,
}

async fn serve(
    config: StackConfig,
    moto: &mut Moto,
    api: Listener,
    receiver: Listener,
    provider: Listener,
) -> Fallible<()> {
    // The functions' own configuration (region, credentials and endpoint from the variables
    // `emulator::sdk_environment` set above), so that `make run` builds it as Lambda does.
    let sdk = aws_adapters::lambda_sdk_config(&Env::process())
        .map_err(|e| format!("the SDK configuration: {e}"))?;
    let provider_key = format!("sim_provider_key_{}", uuid::Uuid::new_v4().simple());
    let resources = resources::ensure(&sdk, &ResourceNames::local(), &provider_key)
        .await
        .map_err(|e| format!("creating the emulator's resources: {e}"))?;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &resources.table,
    ));
    let secrets = Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(
        &sdk,
    )));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    // Demo data.
    let receiver_url = format!("{}{RECEIVER_PATH}", receiver.url());
    let admin = Admin::new(
        (*store).clone(),
        secrets.clone(),
        LOCAL_API_KEY_SECRET_PREFIX,
        clock.clone(),
    );
    let seeded = seed(&admin, &receiver_url)
        .await
        .map_err(|e| format!("seeding the demo account: {e}"))?;
    // The demo account's signing secret (created with its webhook URL), for the receiver. A
    // rotation from the page is verified through its overlap (24 h); restart the stack after.
    let signing_secret = demo_signing_secret(store.as_ref(), secrets.as_ref(), clock.as_ref())
        .await
        .map_err(|e| format!("the demo account's signing secret: {e}"))?;

    // Receiver and provider simulator.
    let receiver_log = config.local_dir.join("webhooks.jsonl");
    let receiver_server = Receiver::new(ReceiverConfig {
        api_key: seeded.api_key.clone(),
        signing_secret: signing_secret.clone(),
        log_path: receiver_log.clone(),
        fail_first: config.receiver_fail_first,
    })
    .map_err(|e| e.to_string())?
    .serve(receiver);
    let provider_url = provider.url();
    let mut sim_config = SimConfig::new(
        resources.provider_secret.api_key.clone(),
        format!("{}{PROVIDER_CALLBACK_PATH}", api.url()),
    );
    sim_config.timings = SimTimings::with_call_length(config.sim_call_length);
    sim_config.accept_hold = config.sim_accept_hold;
    let provider_server = ProviderSim::new(sim_config, clock.clone())
        .map_err(|e| e.to_string())?
        .serve(provider);

    let ctx = Ctx {
        sdk: sdk.clone(),
        env: function_env(&config, &resources, &provider_url),
    };

    // The gateway with every function's routes.
    let mut routes = trigger_call_routes(&ctx).await?;
    routes.extend(settings_routes(&ctx).await?);
    routes.extend(call_completed_routes(&ctx).await?);
    // The API contract, for tools and people (LOCAL ONLY: not a route of the deployed API).
    routes.push(local_stack::openapi::route().map_err(|e| e.to_string())?);
    let wired: Vec<String> = routes.iter().map(Route::route_key).collect();
    // The integration page (page/), at the gateway's root: literal GET routes, one per file.
    let page_dir = local_stack::page::dir();
    routes.extend(local_stack::page::routes(&page_dir).map_err(|e| e.to_string())?);
    let mut local_claims = serde_json::Map::new();
    local_claims.insert(DEMO_ACCOUNT_CLAIM.into(), DEMO_ACCOUNT_ID.into());
    let gateway = Gateway::new(
        routes,
        GatewayConfig {
            local_claims,
            ..GatewayConfig::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let api_url = api.url();
    let api_server = Arc::new(gateway).serve(api);

    // The SQS pollers feeding the delivery handler, one per event source mapping (the
    // first-attempts queue and the retries lane), one function (one `Deps`) behind both.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handler = delivery_handler(&ctx).await?;
    let poller = Poller::new(
        aws_sdk_sqs::Client::new(&sdk),
        &resources.queue_url,
        config.poller.clone(),
        handler.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let retries_poller = Poller::new(
        aws_sdk_sqs::Client::new(&sdk),
        &resources.retries_queue_url,
        PollerConfig {
            concurrency: local_stack::poller::RETRIES_CONCURRENCY,
            ..config.poller.clone()
        },
        handler,
    )
    .await
    .map_err(|e| e.to_string())?;
    let retries_poller_task = tokio::spawn(retries_poller.run(stop_rx.clone()));
    let poller_task = tokio::spawn(poller.run(stop_rx.clone()));

    // The reconciler on its schedule (EventBridge's `rate(1 minute)` in AWS).
    let reconciler = Arc::new(
        reconciler::Deps::from_env(&ctx.sdk, &ctx.env)
            .await
            .map_err(|e| format!("reconciler: {e}"))?,
    );
    let reconciler_task = tokio::spawn(local_stack::reconcile_timer::every(
        config.reconcile_every,
        stop_rx,
        move || {
            let deps = reconciler.clone();
            async move {
                reconciler::run(&deps).await;
            }
        },
    ));

    let stack_file = config.local_dir.join("stack.json");
    StackFile {
        api_base_url: api_url.clone(),
        account_id: DEMO_ACCOUNT_ID.into(),
        api_key: seeded.api_key.clone(),
        webhook_signing_secret: signing_secret.clone(),
        agent_id: seeded.agent_id.clone(),
        provider_agent_id: DEMO_PROVIDER_AGENT_ID.into(),
        receiver_url: receiver_url.clone(),
        receiver_log: receiver_log.display().to_string(),
        provider_url: provider_url.clone(),
        provider_api_key: resources.provider_secret.api_key.clone(),
        emulator_url: moto.endpoint().to_string(),
        table: resources.table.clone(),
        queue_url: resources.queue_url.clone(),
        dead_letter_queue_url: resources.dead_letter_queue_url.clone(),
    }
    .write(&stack_file)
    .map_err(|e| format!("cannot write {}: {e}", stack_file.display()))?;

    print_banner(&Banner {
        api_url: &api_url,
        provider_url: &provider_url,
        receiver_url: &receiver_url,
        receiver_log: &receiver_log.display().to_string(),
        emulator_url: moto.endpoint(),
        moto_log: &config.local_dir.join("moto.log").display().to_string(),
        stack_file: &stack_file.display().to_string(),
        api_key: &seeded.api_key,
        routes: &wired,
        config: &config,
    });

    let why = tokio::select! {
        s = stop_signal() => s,
        status = emulator_exit(moto) => format!("the emulator exited unexpectedly ({status})"),
    };
    tracing::info!(target: "local_stack", "stopping ({why})");
    let _ = stop_tx.send(true);
    let _ = poller_task.await;
    let _ = retries_poller_task.await;
    let _ = reconciler_task.await;
    api_server.stop().await;
    provider_server.stop().await;
    receiver_server.stop().await;
    Ok(())
}

/// Resolves when the emulator exits on its own (it should not while the stack runs). A child
/// process offers no exit notification to await here, so it is polled.
async fn emulator_exit(moto: &mut Moto) -> String {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if let Some(status) = moto.try_exited() {
            return status;
        }
    }
}

async fn stop_signal() -> String {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C".into(),
                _ = term.recv() => "SIGTERM".into(),
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C".into()
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C".into()
    }
}

/// The demo account's current signing secret, created if it has none yet.
async fn demo_signing_secret(
    store: &DynamoStore,
    secrets: &SecretsManager,
    clock: &dyn Clock,
) -> Result<String, String> {
    use domain::webhook::signing_secret;
    let account = store
        .account(&AccountId::new(DEMO_ACCOUNT_ID))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the demo account is missing")?;
    let account = signing_secret::ensure(
        store,
        secrets,
        LOCAL_WEBHOOK_SECRET_PREFIX,
        &account,
        clock.now(),
        false,
    )
    .await
    .map_err(|e| e.to_string())?;
    let version = account
        .webhook_secret
        .map(|s| s.version)
        .ok_or("no signing secret")?;
    let secret = signing_secret::SecretCache::new()
        .get(
            secrets,
            LOCAL_WEBHOOK_SECRET_PREFIX,
            &AccountId::new(DEMO_ACCOUNT_ID),
            &version,
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(secret.expose().to_string())
}

struct Seeded {
    api_key: String,
    agent_id: String,
}

/// The demo Agency account: API access on, a default agent with a phone number, the webhook
/// URL pointing at the local receiver, and a fresh key.
async fn seed(admin: &Admin, receiver_url: &str) -> Result<Seeded, AdminError> {
    match admin
        .create_account(
            DEMO_ACCOUNT_ID,
            DEMO_ACCOUNT_NAME,
            domain::model::Plan::Agency,
        )
        .await
    {
        Ok(_) | Err(AdminError::AlreadyExists(_)) => {}
        Err(e) => return Err(e),
    }
    let existing = admin
        .store()
        .agents(&AccountId::new(DEMO_ACCOUNT_ID))
        .await
        .map_err(|e| AdminError::Other(e.to_string()))?
        .into_iter()
        .find(|a| a.provider_agent_id == DEMO_PROVIDER_AGENT_ID);
    let agent = match existing {
        Some(a) => a,
        None => {
            admin
                .create_agent(
                    &AccountId::new(DEMO_ACCOUNT_ID),
                    DEMO_AGENT_NAME,
                    DEMO_PROVIDER_AGENT_ID,
                    Some(DEMO_AGENT_PHONE),
                    true,
                )
                .await?
        }
    };
    // Recipient hours off, so the demo's calls (and the browser test's) are placed at any
    // hour; `bvai-admin set-recipient-hours` switches them on (docs/local-stack.md).
    admin
        .set_recipient_hours(
            &AccountId::new(DEMO_ACCOUNT_ID),
            Some(bvai_admin::parse_recipient_hours(
                domain::recipient_hours::AppliesTo::Off,
                "08:00",
                "21:00",
            )?),
        )
        .await?;
    // LOCAL ONLY: an http loopback webhook URL (WEBHOOK_ALLOW_INSECURE_LOCAL).
    admin
        .set_webhook_url(&AccountId::new(DEMO_ACCOUNT_ID), Some(receiver_url), true)
        .await?;
    let api_key = admin.generate_key(&AccountId::new(DEMO_ACCOUNT_ID)).await?;
    Ok(Seeded {
        api_key,
        agent_id: agent.id.to_string(),
    })
}

/// Wraps `f(req, &deps)` as a gateway handler.
macro_rules! lambda_handler {
    ($deps:expr, $f:path) => {{
        let deps = $deps;
        gateway::handler(move |req| {
            let deps = deps.clone();
            async move { $f(req, &deps).await }
        })
    }};
}

fn routes(table: Vec<(&str, &str)>, handler: gateway::HttpHandler) -> Fallible<Vec<Route>> {
    table
        .iter()
        .map(|(m, p)| Route::new(m, p, handler.clone()).map_err(|e| e.to_string()))
        .collect()
}

/// trigger-call's routes, its dependencies built as in its `main.rs`. LOCAL ONLY: its
/// dashboard routes (`trigger_call::DASHBOARD_ROUTES`, the integration page's calling-rules
/// check) get the demo account's claims injected, as the settings routes do.
async fn trigger_call_routes(ctx: &Ctx) -> Fallible<Vec<Route>> {
    let deps = Arc::new(
        trigger_call::Deps::from_env(&ctx.sdk, &ctx.env)
            .await
            .map_err(|e| format!("trigger-call: {e}"))?,
    );
    let dashboard = local_stack::stack::trigger_call_dashboard_routes();
    Ok(routes(
        local_stack::stack::trigger_call_routes(),
        lambda_handler!(deps, trigger_call::handle),
    )?
    .into_iter()
    .map(|r| {
        if dashboard.contains(&r.route_key()) {
            r.with_injected_claims()
        } else {
            r
        }
    })
    .collect())
}

/// The settings API. LOCAL ONLY: the gateway injects the demo account's claims where API
/// Gateway's JWT authorizer would put the dashboard session's.
async fn settings_routes(ctx: &Ctx) -> Fallible<Vec<Route>> {
    let deps = Arc::new(
        settings::Deps::from_env(&ctx.sdk, &ctx.env)
            .await
            .map_err(|e| format!("settings: {e}"))?,
    );
    Ok(routes(
        local_stack::stack::settings_routes(),
        lambda_handler!(deps, settings::handle),
    )?
    .into_iter()
    .map(Route::with_injected_claims)
    .collect())
}

/// The provider's end-of-call callback.
async fn call_completed_routes(ctx: &Ctx) -> Fallible<Vec<Route>> {
    let deps = Arc::new(
        call_completed::Deps::from_env(&ctx.sdk, &ctx.env)
            .await
            .map_err(|e| format!("call-completed: {e}"))?,
    );
    routes(
        local_stack::stack::call_completed_routes(),
        lambda_handler!(deps, call_completed::handle),
    )
}

/// Webhook delivery, fed by the poller exactly as Lambda's SQS event source would.
async fn delivery_handler(ctx: &Ctx) -> Fallible<SqsHandler> {
    let deps = Arc::new(
        webhook_delivery::Deps::from_env(&ctx.sdk, &ctx.env)
            .await
            .map_err(|e| format!("webhook-delivery: {e}"))?,
    );
    Ok(sqs_handler(move |event| {
        let deps = deps.clone();
        async move { webhook_delivery::handle(event, &deps).await }
    }))
}

struct Banner<'a> {
    api_url: &'a str,
    provider_url: &'a str,
    receiver_url: &'a str,
    receiver_log: &'a str,
    emulator_url: &'a str,
    moto_log: &'a str,
    stack_file: &'a str,
    api_key: &'a str,
    routes: &'a [String],
    config: &'a StackConfig,
}

fn print_banner(b: &Banner) {
    let calls_back = format!("{}{PROVIDER_CALLBACK_PATH}", b.api_url);
    println!();
    println!("local stack ready");
    println!();
    println!(
        "  Page           {}/  (the integration page, signed in as the demo account)",
        b.api_url
    );
    println!("  API            {}", b.api_url);
    for r in b.routes {
        println!("                   {r}");
    }
    let t = SimTimings::with_call_length(b.config.sim_call_length);
    let ended = t.answer_after + t.call_length;
    println!(
        "  Provider sim   {}  (calls back to {calls_back}:",
        b.provider_url
    );
    println!(
        "                   call_started {:?}, call_ended {:?}, call_analyzed {:?} after a call is placed)",
        t.answer_after,
        ended,
        ended + t.analysis_after
    );
    println!(
        "  Receiver       {}  (every request appended to {})",
        b.receiver_url, b.receiver_log
    );
    println!(
        "  Emulator       {}  (moto; log {})",
        b.emulator_url, b.moto_log
    );
    println!(
        "  Reconciler     every {:?} (RECONCILE_EVERY): late events, lost analyses, unknown dials",
        b.config.reconcile_every
    );
    println!(
        "  Demo account   {DEMO_ACCOUNT_ID} (Agency), default agent \"{DEMO_AGENT_NAME}\" {DEMO_AGENT_PHONE}"
    );
    println!("  Stack file     {}", b.stack_file);
    println!();
    println!("  Demo API key (shown once here; also in the stack file):");
    println!("    {}", b.api_key);
    println!();
    println!("  Place a call:");
    println!(
        "    curl -sS -X POST {}{} -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{{\"phone\": \"+14155550123\", \"name\": \"Jane Smith\", \"metadata\": {{\"source\": \"make-run\"}}}}'",
        b.api_url,
        trigger_call::TRIGGER_CALL,
        b.api_key
    );
    println!();
    println!("  Then watch this log: the simulated provider calls back (call_started, call_ended,");
    println!("  call_analyzed), the poller hands the call.completed event to delivery, and the");
    println!("  receiver prints each webhook with its signature check. See docs/local-stack.md.");
    println!("  Ctrl-C stops everything.");
    println!();
}
