//! `bvai-admin`: the operator CLI. Works against AWS and the local emulator alike (AWS SDK
//! default configuration; set `AWS_ENDPOINT_URL` for the emulator). Prints JSON (or the key)
//! on stdout; errors are one line on stderr with exit status 1.

use bvai_admin::{self as admin, AdminError};
use clap::{Args, Parser, Subcommand, ValueEnum};
use domain::config;
use domain::ids::AccountId;
use domain::model::Plan;
use domain::number_type::NumberType;
use domain::recipient_hours::AppliesTo;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "bvai-admin",
    version,
    about = "Operator CLI for BuildVoiceAI API & Webhooks (accounts, agents, keys, calling windows, the events DLQ)"
)]
struct Cli {
    /// DynamoDB table name.
    #[arg(long, env = config::TABLE_NAME, global = true)]
    table: Option<String>,
    /// Secrets Manager name prefix of account API keys (the account id is appended): the
    /// stack's ApiKeySecretPrefix output, buildvoiceai/<stage>/api-key/. Required (or --stage)
    /// unless AWS_ENDPOINT_URL points at the local emulator.
    #[arg(long, env = config::API_KEY_SECRET_PREFIX, global = true)]
    secret_prefix: Option<String>,
    /// The deployed stage (template.yaml's Stage): the secret prefix becomes
    /// buildvoiceai/<stage>/api-key/.
    #[arg(long, env = "STAGE", global = true)]
    stage: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum AppliesToArg {
    /// +1 numbers only.
    NorthAmerica,
    /// Every number whose time zones are known.
    Everywhere,
    /// Never (only the account's calling window applies).
    Off,
}

impl From<AppliesToArg> for AppliesTo {
    fn from(a: AppliesToArg) -> AppliesTo {
        match a {
            AppliesToArg::NorthAmerica => AppliesTo::NorthAmerica,
            AppliesToArg::Everywhere => AppliesTo::Everywhere,
            AppliesToArg::Off => AppliesTo::Off,
        }
    }
}

/// The number types refused by default (`domain::number_type`).
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum NumberTypeArg {
    /// Premium rate (+1 900, +44 9, ...).
    PremiumRate,
    /// Shared cost (+33 81, +49 180, ...).
    SharedCost,
    /// Personal numbering (+44 70, +1 500, ...).
    PersonalNumber,
    /// Universal access numbers (+44 30, +44 33, ...).
    Uan,
    /// Pagers (+44 76, +49 16[489], ...).
    Pager,
}

impl From<NumberTypeArg> for NumberType {
    fn from(t: NumberTypeArg) -> NumberType {
        match t {
            NumberTypeArg::PremiumRate => NumberType::PremiumRate,
            NumberTypeArg::SharedCost => NumberType::SharedCost,
            NumberTypeArg::PersonalNumber => NumberType::PersonalNumber,
            NumberTypeArg::Uan => NumberType::Uan,
            NumberTypeArg::Pager => NumberType::Pager,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanArg {
    Agency,
    Pro,
    Starter,
}

impl From<PlanArg> for Plan {
    fn from(p: PlanArg) -> Plan {
        match p {
            PlanArg::Agency => Plan::Agency,
            PlanArg::Pro => Plan::Pro,
            PlanArg::Starter => Plan::Starter,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create the table with the production layout (for the emulator; idempotent).
    CreateTable,
    /// Create an account (API access on, no key, no webhook).
    CreateAccount {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        plan: PlanArg,
    },
    /// Create an agent of an account; prints it as JSON.
    CreateAgent {
        #[arg(long)]
        account: AccountId,
        #[arg(long)]
        name: String,
        /// The voice provider's id of this agent.
        #[arg(long)]
        provider_agent_id: String,
        /// The number the agent calls from (E.164); without one it cannot place calls.
        #[arg(long)]
        phone: Option<String>,
        /// Also make it the account's default agent.
        #[arg(long)]
        default: bool,
    },
    /// Set or clear the account's calling window.
    SetCallingWindow(WindowArgs),
    /// Set or clear the account's webhook URL (https; http/loopback only with
    /// WEBHOOK_ALLOW_INSECURE_LOCAL=1, for the local stack).
    SetWebhook {
        #[arg(long)]
        account: AccountId,
        #[arg(long, conflicts_with = "clear", required_unless_present = "clear")]
        url: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Set the account's recipient hours: calls only when the local time is inside
    /// START-END in every time zone the called number may be in (default: 08:00-21:00 for
    /// North American numbers). `--default` returns to the default.
    SetRecipientHours {
        #[arg(long)]
        account: AccountId,
        /// Which numbers the hours apply to.
        #[arg(
            long,
            value_enum,
            conflicts_with = "default",
            required_unless_present = "default"
        )]
        applies_to: Option<AppliesToArg>,
        /// Start of the allowed hours, HH:MM in the recipient's zone.
        #[arg(long, default_value = "08:00", conflicts_with = "default")]
        start: String,
        /// End of the allowed hours, HH:MM (24:00 for midnight; before START runs past midnight).
        #[arg(long, default_value = "21:00", conflicts_with = "default")]
        end: String,
        /// Back to the default policy.
        #[arg(long)]
        default: bool,
    },
    /// Suspend the account (the operators' kill switch): every API and settings request but the
    /// settings GET gets 403 account_suspended, no held call is dialed; webhooks keep flowing.
    Suspend {
        #[arg(long)]
        account: AccountId,
        /// Why (kept for operators, never shown to the customer).
        #[arg(long)]
        reason: String,
    },
    /// Lift a suspension.
    Resume {
        #[arg(long)]
        account: AccountId,
    },
    /// Set the account's requests per minute per API key (default: API_RATE_LIMIT_PER_MINUTE).
    SetRateLimit {
        #[arg(long)]
        account: AccountId,
        #[arg(long, conflicts_with = "default", required_unless_present = "default")]
        per_minute: Option<u32>,
        /// Back to the default limit.
        #[arg(long)]
        default: bool,
    },
    /// Set which numbers the account may call, all of it at once: its countries (ISO 3166-1
    /// alpha-2, e.g. "US,GB") or all, whether the non-geographic premium, satellite and
    /// international-network codes (+800 +808 +870 +878 +881 +882 +883 +888 +979) are allowed,
    /// and which number types refused by default (premium rate, shared cost, personal
    /// numbers, UAN, pagers) are. What a run leaves out is refused.
    SetDestinations {
        #[arg(long)]
        account: AccountId,
        #[arg(
            long,
            conflicts_with = "all_countries",
            required_unless_present = "all_countries"
        )]
        countries: Option<String>,
        /// Every country may be called (no country list).
        #[arg(long)]
        all_countries: bool,
        /// Allow the non-geographic codes (refused unless set).
        #[arg(long)]
        allow_non_geographic: bool,
        /// Allow numbers of this type (refused unless set); repeat it or separate types with
        /// commas.
        #[arg(long = "allow-type", value_enum, value_delimiter = ',')]
        allow_types: Vec<NumberTypeArg>,
    },
    /// Print an account as JSON: settings, key prefix and last 4 only, agents.
    ShowAccount {
        #[arg(long)]
        id: AccountId,
    },
    /// Generate a new API key (the previous key stops working) and print it once.
    GenerateKey {
        #[arg(long)]
        account: AccountId,
    },
    /// The events dead-letter queue: delivery messages webhook-delivery failed on repeatedly.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Args)]
struct DlqQueues {
    /// URL of the events dead-letter queue (stack output EventsDeadLetterQueueUrl).
    #[arg(long, env = "EVENTS_DLQ_URL")]
    dlq_url: String,
    /// URL of the events queue that redrive sends back to (stack output EventsQueueUrl).
    #[arg(long, env = config::EVENTS_QUEUE_URL)]
    queue_url: String,
    /// At most this many messages.
    #[arg(long, default_value_t = 100)]
    max: usize,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Print the dead-lettered delivery messages as JSON (event, account, attempt, series,
    /// sent / first received, receive count). They stay in the DLQ.
    List(DlqQueues),
    /// Send the dead-lettered delivery messages back to the events queue, unchanged, and
    /// remove them from the DLQ. Fix the cause first.
    Redrive(DlqQueues),
}

#[derive(Args)]
#[group(required = true, multiple = false, id = "window")]
struct WindowSource {
    /// A JSON file with the window.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The window as JSON, e.g. '{"time_zone":"America/New_York","days":{"mon":{"start":"09:00","end":"17:00"}}}'.
    #[arg(long)]
    json: Option<String>,
    /// Remove the window (calls allowed at any time).
    #[arg(long)]
    clear: bool,
}

#[derive(Args)]
struct WindowArgs {
    #[arg(long)]
    account: AccountId,
    #[command(flatten)]
    source: WindowSource,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(v: &serde_json::Value) -> Result<(), AdminError> {
    let s = serde_json::to_string_pretty(v).map_err(|e| AdminError::Other(e.to_string()))?;
    println!("{s}");
    Ok(())
}

async fn run(cli: Cli) -> Result<(), AdminError> {
    // The DLQ commands need no table.
    let cli = match cli.command {
        Command::Dlq(dlq) => return run_dlq(dlq).await,
        _ => cli,
    };
    let table = cli
        .table
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| AdminError::Invalid("no table: pass --table or set TABLE_NAME".into()))?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let prefix = admin::resolve_secret_prefix(
        cli.secret_prefix.as_deref(),
        cli.stage.as_deref(),
        endpoint.as_deref(),
    )?;
    let admin = admin::from_environment(&table, &prefix).await;
    match cli.command {
        Command::CreateTable => {
            admin.create_table().await?;
            eprintln!("table {table} is ready");
        }
        Command::CreateAccount { id, name, plan } => {
            let account = admin.create_account(&id, &name, plan.into()).await?;
            print_json(&admin.show_account(&account.id).await?)?;
        }
        Command::CreateAgent {
            account,
            name,
            provider_agent_id,
            phone,
            default,
        } => {
            let agent = admin
                .create_agent(
                    &account,
                    &name,
                    &provider_agent_id,
                    phone.as_deref(),
                    default,
                )
                .await?;
            print_json(&serde_json::json!({
                "id": agent.id,
                "account_id": agent.account_id,
                "name": agent.name,
                "provider_agent_id": agent.provider_agent_id,
                "phone_number": agent.phone_number.as_ref().map(|p| p.as_str()),
                "default": default,
            }))?;
        }
        Command::SetCallingWindow(args) => {
            let window = if args.source.clear {
                None
            } else if let Some(path) = args.source.file {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    AdminError::Invalid(format!("cannot read {}: {e}", path.display()))
                })?;
                Some(admin::parse_calling_window(&text)?)
            } else {
                let json = args.source.json.unwrap_or_default();
                Some(admin::parse_calling_window(&json)?)
            };
            let account = admin.set_calling_window(&args.account, window).await?;
            print_json(&serde_json::json!({
                "account_id": account.id,
                "calling_window": account.calling_window,
            }))?;
        }
        Command::SetWebhook {
            account,
            url,
            clear,
        } => {
            let url = if clear { None } else { url };
            let allow_insecure = config::allow_insecure_local(&config::Env::process())
                .map_err(|e| AdminError::Invalid(e.to_string()))?;
            let account = admin
                .set_webhook_url(&account, url.as_deref(), allow_insecure)
                .await?;
            print_json(&serde_json::json!({
                "account_id": account.id,
                "webhook_url": account.webhook_url,
            }))?;
        }
        Command::SetRecipientHours {
            account,
            applies_to,
            start,
            end,
            default,
        } => {
            let policy = match applies_to {
                Some(a) if !default => Some(admin::parse_recipient_hours(a.into(), &start, &end)?),
                _ => None,
            };
            let account = admin.set_recipient_hours(&account, policy).await?;
            print_json(&serde_json::json!({
                "account_id": account.id,
                "recipient_hours": admin::recipient_hours_json(&account),
            }))?;
        }
        Command::Suspend { account, reason } => {
            let account = admin.suspend(&account, &reason).await?;
            print_json(&serde_json::json!({
                "account_id": account.id,
                "suspended": account.guardrails.suspended,
            }))?;
        }
        Command::Resume { account } => {
            let account = admin.resume(&account).await?;
            print_json(&serde_json::json!({
                "account_id": account.id,
                "suspended": account.guardrails.suspended,
            }))?;
        }
        Command::SetRateLimit {
            account,
            per_minute,
            default,
        } => {
            let limit = if default { None } else { per_minute };
            let account = admin.set_rate_limit(&account, limit).await?;
            print_json(&serde_json::json!({
                "account_id": account.id,
                "rate_limit_per_minute": account.guardrails.rate_limit_per_minute,
            }))?;
        }
        Command::SetDestinations {
            account,
            countries,
            all_countries,
            allow_non_geographic,
            allow_types,
        } => {
            let countries = if all_countries { None } else { countries };
            let types: Vec<NumberType> = allow_types.into_iter().map(Into::into).collect();
            let account = admin
                .set_destinations(&account, countries.as_deref(), allow_non_geographic, &types)
                .await?;
            print_json(&serde_json::json!({
                "account_id": account.id,
                "allowed_countries": account.guardrails.allowed_countries,
                "non_geographic_allowed": account.guardrails.non_geographic_allowed,
                "allowed_number_types": account.guardrails.allowed_number_types,
            }))?;
        }
        Command::Dlq(dlq) => run_dlq(dlq).await?,
        Command::ShowAccount { id } => print_json(&admin.show_account(&id).await?)?,
        Command::GenerateKey { account } => {
            let key = admin.generate_key(&account).await?;
            eprintln!(
                "new API key for {account} (shown only this once; the previous key no longer works):"
            );
            println!("{key}");
        }
    }
    Ok(())
}

async fn run_dlq(command: DlqCommand) -> Result<(), AdminError> {
    let (DlqCommand::List(q) | DlqCommand::Redrive(q)) = &command;
    for (flag, url) in [("--dlq-url", &q.dlq_url), ("--queue-url", &q.queue_url)] {
        if url.trim().is_empty() {
            return Err(AdminError::Invalid(format!("{flag} is empty")));
        }
    }
    let dlq = admin::dead_letters_from_environment(&q.dlq_url, &q.queue_url).await;
    match &command {
        DlqCommand::List(q) => {
            print_json(&serde_json::Value::Array(dlq.list(q.max).await?))?;
        }
        DlqCommand::Redrive(q) => {
            let done = dlq.redrive(q.max).await?;
            print_json(&serde_json::json!({
                "redriven": done.moved,
                "left_unreadable": done.unreadable,
            }))?;
        }
    }
    Ok(())
}
