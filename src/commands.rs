//! What each command does: open the store, call into the crates, report.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use kefu_bot::demo::{self, DemoConfig};
use kefu_bot::import::{self, Progress, Summary};
use kefu_bot::shop::Currency;
use kefu_bot::store::{ConnectOptions, Store};

use crate::cli::{
    BenchCommand, Cli, Command, ConfigCommand, DemoCommand, DemoSize, ImportCommand,
    TelegramCommand,
};
use crate::config::{self, Settings};
use crate::{server, telemetry};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let loaded = config::load(cli.config.as_deref(), &env)?;
    let settings = loaded.settings;
    telemetry::init(&settings.log.level);
    match cli.command {
        Command::Config(ConfigCommand::Check) => config_check(&settings, loaded.file.as_deref()),
        Command::Migrate => {
            let store = connect(&settings).await?;
            let applied = store.migrate().await.context("migrating the database")?;
            println!(
                "{} database at {}: {applied} migration(s) applied, schema up to date",
                store.backend().as_str(),
                redact_url(&settings.database.url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(command) => {
            let store = open(&settings).await?;
            let started = Instant::now();
            let indexed = matches!(
                command,
                ImportCommand::Faq { .. } | ImportCommand::Products { .. }
            );
            let summary = import(&store, &settings, command).await?;
            print!("{summary}");
            println!("done in {:.1} s", started.elapsed().as_secs_f64());
            if indexed {
                index_knowledge(&store, &settings).await?;
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(DemoCommand::Load { size }) => {
            let installed = crate::model_install::install_at_start(&settings).await;
            let store = open(&settings).await?;
            load_demo(&store, &size).await?;
            write_demo_words(&settings)?;
            if installed {
                rebuild_index_for_model(&settings).await?;
            }
            index_knowledge(&store, &settings).await?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(DemoCommand::Generate { size, out }) => {
            let cfg = demo_config(&size);
            let started = Instant::now();
            let summary = tokio::task::spawn_blocking(move || {
                demo::write_csv(&cfg, &out, &|what, n| tracing::info!(what, n, "generating"))
                    .with_context(|| format!("writing the demo shop to {}", out.display()))
            })
            .await??;
            println!(
                "wrote {} customers, {} products, {} orders ({} line items), {} tracking events, {} FAQ articles in {:.1} s",
                summary.customers,
                summary.products,
                summary.orders,
                summary.order_lines,
                summary.tracking_events,
                summary.documents,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let mut settings = settings;
            if args.demo && settings.shop.name == crate::config::DEFAULT_SHOP_NAME {
                settings.shop.name = "Lotus & Pine".into();
            }
            // Before the index is opened, so this start already searches with the model.
            let installed = crate::model_install::install_at_start(&settings).await;
            let store = open(&settings).await?;
            if installed {
                rebuild_index_for_model(&settings).await?;
            }
            if args.demo {
                if store.stats().await?.is_empty_shop() {
                    load_demo(
                        &store,
                        &DemoSize {
                            seed: 2026,
                            customers: 2_400,
                            orders: 21_000,
                            today: None,
                        },
                    )
                    .await?;
                    write_demo_words(&settings)?;
                } else {
                    tracing::info!("the database already holds a shop; not loading the demo");
                }
            }
            let addr = match args.listen {
                Some(addr) => addr,
                None => settings.listen_addr()?,
            };
            // Documents may have changed while kefu was down (imports, edits): the agent
            // brings the index up to date before the first message.
            let engine = if settings.llm_settings().is_some() {
                crate::cli::Engine::Llm
            } else {
                crate::cli::Engine::Offline
            };
            let agent = crate::chat::agent_on(store, &settings, engine, None).await?;
            let agent = crate::code_mail::with_code_sender(agent, &settings)?;
            server::serve(agent, settings, addr, args.demo).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Chat(args) => crate::chat::run(&settings, args).await,
        Command::Eval(args) => crate::eval::run(&settings, args).await,
        Command::Knowledge(command) => crate::knowledge::run(&settings, command).await,
        Command::Model(command) => crate::model_install::command(&settings, command).await,
        Command::Bench(BenchCommand::Knowledge {
            chunks,
            queries,
            dimension,
            dir,
        }) => crate::knowledge::bench(&settings, chunks, queries, dimension, dir).await,
        Command::Bench(BenchCommand::Agent {
            conversations,
            turns,
            dir,
        }) => crate::bench_agent::run(&settings, conversations, turns, dir).await,
        Command::Bench(BenchCommand::Widget {
            sessions,
            rate,
            secs,
            dir,
        }) => crate::bench_channels::widget(sessions, rate, secs, dir).await,
        Command::Bench(BenchCommand::Telegram { secs, senders }) => {
            crate::bench_channels::telegram(secs, senders).await
        }
        Command::Campaign(command) => crate::campaign::run(&settings, command)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Segments(command) => crate::segments::run(&settings, command)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Bench(BenchCommand::Rfm {
            customers,
            lines,
            dir,
        }) => crate::segments::bench(&settings, customers, lines, dir)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Bench(BenchCommand::Campaign {
            recipients,
            deliver_secs,
            dir,
        }) => crate::campaign::bench(&settings, recipients, deliver_secs, dir)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Telegram(TelegramCommand::Link { email, minutes }) => {
            telegram_link(&settings, &email, minutes).await
        }
        Command::Bench(BenchCommand::Import { lines, runs, dir }) => {
            bench_import(lines, runs, dir.as_deref()).await
        }
    }
}

/// Prints a one-time `t.me` deep link (or, without a bot token, the `/start` command) that
/// links a Telegram user to the customer.
async fn telegram_link(settings: &Settings, email: &str, minutes: i64) -> anyhow::Result<ExitCode> {
    use teloxide::requests::Requester;
    if minutes <= 0 {
        anyhow::bail!("--minutes must be positive");
    }
    let address = kefu_bot::shop::Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open(settings).await?;
    let Some(customer) = store.customer_by_email(&address).await? else {
        anyhow::bail!("no customer with the e-mail address {address}");
    };
    let token = store
        .create_link_token(customer.id, chrono::Duration::minutes(minutes))
        .await?;
    let username = match settings.telegram_config() {
        Ok(Some(config)) => {
            let url = config
                .api_url
                .parse()
                .with_context(|| format!("telegram.api_url `{}`", config.api_url))?;
            let bot = teloxide::Bot::new(config.token).set_api_url(url);
            Some(
                bot.get_me()
                    .await
                    .context("asking Telegram for the bot's name (getMe)")?
                    .username()
                    .to_string(),
            )
        }
        _ => None,
    };
    match username {
        Some(bot) => println!("https://t.me/{bot}?start={token}"),
        None => println!("/start {token}"),
    }
    eprintln!("valid once, for {minutes} minutes, for {address}");
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        max_connections: settings.database.max_connections,
        ..ConnectOptions::default()
    };
    Store::connect(&settings.database.url, &options)
        .await
        .with_context(|| {
            format!(
                "connecting to the database at {}",
                redact_url(&settings.database.url)
            )
        })
}

/// Connects and migrates.
pub async fn open(settings: &Settings) -> anyhow::Result<Store> {
    let store = connect(settings).await?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn config_check(settings: &Settings, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    match file {
        Some(path) => println!(
            "# settings from defaults, {} and KEFU__* environment variables",
            path.display()
        ),
        None => println!(
            "# settings from defaults and KEFU__* environment variables (no kefu.toml found)"
        ),
    }
    let mut shown = settings.clone();
    shown.database.url = redact_url(&shown.database.url);
    println!("{}", shown.redacted_toml()?);
    let findings = settings.check();
    let problems = findings.iter().filter(|f| f.problem).count();
    for f in &findings {
        println!(
            "{} [{}] {}",
            if f.problem { "MISSING" } else { "note" },
            f.section,
            f.message
        );
    }
    if problems == 0 {
        println!("configuration OK");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{problems} problem(s) found");
        Ok(ExitCode::FAILURE)
    }
}

/// A progress bar on stderr for files that take more than a moment; hidden when
/// stderr is not a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} [{wide_bar}] {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Self(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total_bytes: u64) {
        self.0.set_length(total_bytes);
    }
    fn advance(&self, bytes_read: u64) {
        self.0.set_position(bytes_read);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

async fn import(
    store: &Store,
    settings: &Settings,
    command: ImportCommand,
) -> anyhow::Result<Summary> {
    let bar = Bar::new();
    let result = match command {
        ImportCommand::Orders { file, format: _ } => {
            import::import_shopify_orders(store, &file, &bar).await
        }
        ImportCommand::Products {
            file,
            format: _,
            currency,
            lang,
        } => {
            let currency = Currency::parse(currency.as_deref().unwrap_or(&settings.shop.currency))
                .map_err(anyhow::Error::msg)?;
            let lang = kefu_knowledge::LanguageTag::parse(
                lang.as_deref().unwrap_or(&settings.shop.default_language),
            )
            .map_err(anyhow::Error::msg)?;
            import::import_shopify_products(store, &file, currency, lang.as_str(), &bar).await
        }
        ImportCommand::Shipments { file } => import::import_shipments(store, &file, &bar).await,
        ImportCommand::Customers { file } => import::import_customers(store, &file, &bar).await,
        ImportCommand::Events { file } => import::import_events(store, &file, &bar).await,
        ImportCommand::Faq { path, prune } => import::import_faq(store, &path, "faq", prune).await,
    };
    bar.finish();
    result.map_err(|e| anyhow::anyhow!("{e}\nnothing from this file was imported"))
}

/// Starts the knowledge index afresh after the embedding model was installed: one built
/// before holds no vectors, and the next sync fills the new one.
async fn rebuild_index_for_model(settings: &Settings) -> anyhow::Result<()> {
    crate::knowledge::open(settings, true)
        .await
        .context("the embedding model is installed, but the knowledge index could not be started afresh for it (run `kefu knowledge reindex --rebuild`)")?;
    Ok(())
}

/// Keeps the knowledge index in step after documents or products changed.
async fn index_knowledge(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let knowledge = crate::knowledge::open(settings, false)
        .await
        .context("the data is imported, but the knowledge index could not be opened (fix, then run `kefu knowledge reindex`)")?;
    crate::knowledge::sync(store, &knowledge, settings)
        .await
        .context("the data is imported, but indexing it failed (run `kefu knowledge reindex`)")
}

fn demo_config(size: &DemoSize) -> DemoConfig {
    DemoConfig {
        seed: size.seed,
        customers: size.customers,
        orders: size.orders,
        today: size
            .today
            .unwrap_or_else(|| chrono::Utc::now().date_naive()),
    }
}

/// The demo shop's own words (its teas and teaware across languages).
const DEMO_WORDS: &str = include_str!("../demo/synonyms.yaml");

/// Writes the demo shop's word groups to `knowledge.synonyms_path`, unless the shop
/// already has that file.
fn write_demo_words(settings: &Settings) -> anyhow::Result<()> {
    let path = &settings.knowledge.synonyms_path;
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, DEMO_WORDS).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("  the shop's own words: {}", path.display());
    Ok(())
}

async fn load_demo(store: &Store, size: &DemoSize) -> anyhow::Result<()> {
    let cfg = demo_config(size);
    let started = Instant::now();
    eprintln!(
        "loading the demo shop \"Lotus & Pine\" (seed {})…",
        cfg.seed
    );
    let summary = demo::load(store, &cfg, &|step| eprintln!("  {step}")).await?;
    println!(
        "demo shop loaded in {:.1} s: {} FAQ articles, {} products, {} customers, {} orders ({} line items), {} tracking events",
        started.elapsed().as_secs_f64(),
        summary.documents.total(),
        summary.products.total(),
        summary.customers.total(),
        summary.orders.orders.total(),
        summary.orders.lines,
        summary.tracking_events.total()
    );
    Ok(())
}

async fn bench_import(lines: usize, runs: usize, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let owned = dir.is_none();
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => tempfile_dir()?,
    };
    // The generator averages about 2.03 line items per order and 4.5 orders per customer.
    let orders = (lines as f64 / 2.033).round() as usize;
    let cfg = DemoConfig {
        seed: 1,
        customers: (orders / 4).max(1),
        orders,
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
    };
    let data = dir.join("data");
    let file = data.join("orders.csv");
    if !file.is_file() {
        eprintln!(
            "generating {orders} orders for {} customers…",
            cfg.customers
        );
        let started = Instant::now();
        let target = data.clone();
        let s = tokio::task::spawn_blocking(move || demo::write_csv(&cfg, &target, &|_, _| {}))
            .await??;
        eprintln!(
            "generated {} line items in {:.1} s",
            s.order_lines,
            started.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&file)?.len();
    let mut times = Vec::new();
    for run in 1..=runs.max(1) {
        let db = dir.join(format!("bench-{run}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let store = Store::open(
            &format!("sqlite://{}", db.display()),
            &ConnectOptions::default(),
        )
        .await?;
        let started = Instant::now();
        let summary = import::import_shopify_orders(&store, &file, &import::Quiet).await?;
        let elapsed = started.elapsed().as_secs_f64();
        store.close().await;
        let lines_imported = summary.section("order lines").created;
        println!(
            "run {run}: {lines_imported} line items, {} orders in {elapsed:.2} s ({:.0} lines/s)",
            summary.section("orders").created,
            lines_imported as f64 / elapsed
        );
        times.push(elapsed);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "import of {:.0} MB Shopify orders CSV into SQLite: median {median:.2} s over {} run(s)",
        size as f64 / 1e6,
        times.len()
    );
    if owned {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("kefu-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
