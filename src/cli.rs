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
    /// Run the HTTP server: a status page at / and a health check at /healthz.
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
    /// Measure kefu on this machine.
    #[command(subcommand)]
    Bench(BenchCommand),
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
    /// Fill an empty database with the demo shop.
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
}
