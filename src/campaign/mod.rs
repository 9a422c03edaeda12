//! `kefu campaign …`: validate, plan, run and control campaigns.

mod bench;
mod discord;
mod email;
mod telegram;
mod validate;
mod web;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indicatif::{ProgressBar, ProgressStyle};
use kefu_bot::shop::Channel;
use kefu_bot::store::{CampaignState, Store, row_state};
use kefu_campaigns::deliver::{DispatchOptions, Dispatcher, LinkBase, Sender};
use kefu_campaigns::plan::{self, Plan, PlanSettings};
use kefu_campaigns::rules::{LocalWindow, hhmm};
use kefu_campaigns::segments::Segments;
use kefu_campaigns::spec::{Campaign, FrequencyCap, Templates};
use kefu_channels::limiter::Limiter;
use kefu_channels::telegram::Outbound;
use sha2::{Digest, Sha256};

pub use discord::DiscordSender;
pub use email::EmailSender;
pub use telegram::TelegramSender;
pub use web::WebSender;

use crate::cli::{CampaignCommand, PlanArgs, RunArgs};
use crate::config::Settings;

pub async fn run(settings: &Settings, command: CampaignCommand) -> anyhow::Result<()> {
    match command {
        CampaignCommand::Validate { files } => validate::validate(settings, &files).await,
        CampaignCommand::Schema => validate::schema(),
        CampaignCommand::Plan(args) => plan_command(settings, args).await,
        CampaignCommand::Run(args) => run_command(settings, args).await,
        CampaignCommand::List => list(settings).await,
        CampaignCommand::Status { id } => status(settings, &id).await,
        CampaignCommand::Pause { id } => {
            let store = crate::commands::open(settings).await?;
            if store.set_campaign_state(&id, CampaignState::Paused).await? {
                println!(
                    "campaign `{id}` paused: nothing more is sent until `kefu campaign resume {id}`"
                );
                Ok(())
            } else {
                bail!(
                    "campaign `{id}` is not running ({})",
                    describe_state(&store, &id).await?
                )
            }
        }
        CampaignCommand::Resume { id } => {
            let store = crate::commands::open(settings).await?;
            if store
                .set_campaign_state(&id, CampaignState::Running)
                .await?
            {
                println!(
                    "campaign `{id}` resumed: `kefu serve` (or `kefu campaign run`) delivers it"
                );
                Ok(())
            } else {
                bail!(
                    "campaign `{id}` is not paused ({})",
                    describe_state(&store, &id).await?
                )
            }
        }
        CampaignCommand::Cancel { id } => {
            let store = crate::commands::open(settings).await?;
            match store.cancel_campaign(&id).await? {
                Some(rows) => {
                    println!(
                        "campaign `{id}` cancelled: {rows} message(s) not yet sent will not be sent"
                    );
                    Ok(())
                }
                None => bail!(
                    "campaign `{id}` cannot be cancelled ({})",
                    describe_state(&store, &id).await?
                ),
            }
        }
    }
}

async fn describe_state(store: &Store, id: &str) -> anyhow::Result<String> {
    Ok(match store.campaign(id).await? {
        Some(c) => format!("it is {}", c.state.as_str()),
        None => "no campaign has this id; `kefu campaign list` shows them".into(),
    })
}

/// A campaign file, read and checked.
pub struct Loaded {
    pub campaign: Campaign,
    pub text: String,
    pub segments: Segments,
}

pub fn load(settings: &Settings, path: &Path) -> anyhow::Result<Loaded> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let segments = Segments::load(&settings.campaigns.segments_file)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_rfm_window_days(settings.campaigns.rfm_window_days);
    let campaign = check(&path.display().to_string(), &text, &segments)?;
    Ok(Loaded {
        campaign,
        text,
        segments,
    })
}

/// Parses and validates a campaign file; every problem is reported as FILE:LINE:COLUMN.
fn check(file: &str, text: &str, segments: &Segments) -> anyhow::Result<Campaign> {
    let known = kefu_campaigns::spec::Known::with_segments(segments.names());
    kefu_campaigns::spec::validate(file, text, &known).map_err(|diagnostics| {
        anyhow::anyhow!(
            "{}\n{file} is not a valid campaign",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// The plan of a campaign as of `now`: a scheduled campaign's next send, or a triggered
/// campaign's events so far.
pub async fn make_plan(
    store: &Store,
    loaded: &Loaded,
    settings: &PlanSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<Plan> {
    let c = &loaded.campaign;
    Ok(if c.schedule.trigger.is_some() {
        let events = kefu_campaigns::triggers::events(store, c, &loaded.segments, now).await?;
        plan::plan_events(store, c, &loaded.segments, settings, now, &events).await?
    } else {
        plan::plan(store, c, &loaded.segments, settings, now).await?
    })
}

/// Shop-wide rules for planning, from the settings.
pub fn plan_settings(settings: &Settings) -> anyhow::Result<PlanSettings> {
    let c = &settings.campaigns;
    let time_zone = Tz::from_str(&settings.shop.time_zone).map_err(|_| {
        anyhow::anyhow!(
            "shop.time_zone `{}` is not an IANA time zone",
            settings.shop.time_zone
        )
    })?;
    let quiet_hours = Some(LocalWindow {
        start: hhmm(&c.quiet_hours_start)
            .map_err(|e| anyhow::anyhow!("campaigns.quiet_hours_start: {e}"))?,
        end: hhmm(&c.quiet_hours_end)
            .map_err(|e| anyhow::anyhow!("campaigns.quiet_hours_end: {e}"))?,
    });
    let mut rates = BTreeMap::new();
    if settings.web.enabled {
        // Messages in the chat widget are rows in kefu's own database.
        rates.insert(Channel::Web, WEB_PER_SECOND);
    }
    if settings.telegram.enabled {
        rates.insert(
            Channel::Telegram,
            f64::from(settings.telegram.max_per_second.max(1)),
        );
    }
    if settings.discord.enabled {
        rates.insert(
            Channel::Discord,
            f64::from(settings.discord.max_per_second.max(1)),
        );
    }
    if settings.email.enabled {
        rates.insert(
            Channel::Email,
            f64::from(settings.email.max_per_second.max(1)),
        );
    }
    Ok(PlanSettings {
        shop_name: settings.shop.name.clone(),
        shop_url: shop_url(settings),
        currency: settings.shop.currency.clone(),
        time_zone,
        default_language: settings.shop.default_language.clone(),
        quiet_hours,
        frequency_cap: FrequencyCap {
            max: c.frequency_cap_max,
            days: c.frequency_cap_days,
        },
        rates,
    })
}

fn shop_url(settings: &Settings) -> String {
    settings
        .http
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.http.listen))
}

fn parse_now(now: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
    match now {
        None => Ok(Utc::now()),
        Some(s) => Ok(DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--now `{s}` is not an RFC 3339 time (2026-12-01T10:00:00Z)"))?
            .with_timezone(&Utc)),
    }
}

async fn plan_command(settings: &Settings, args: PlanArgs) -> anyhow::Result<()> {
    let loaded = load(settings, &args.file)?;
    let store = crate::commands::open(settings).await?;
    let now = parse_now(args.now.as_deref())?;
    let ps = plan_settings(settings)?;
    let plan = make_plan(&store, &loaded, &ps, now).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print_plan(&plan);
        if let Some(existing) = store.campaign(&plan.campaign).await? {
            println!();
            println!(
                "note: campaign `{}` was planned on {} and is {}; `run` continues it rather than planning again",
                existing.id,
                existing.created_at.format("%Y-%m-%d %H:%M UTC"),
                existing.state.as_str()
            );
        }
    }
    store.close().await;
    if let Some(refusal) = &plan.refusal {
        bail!("this campaign cannot be delivered as written: {refusal}");
    }
    Ok(())
}

pub fn print_plan(plan: &Plan) {
    println!(
        "campaign {} — {} ({})",
        plan.campaign,
        plan.name,
        plan.kind.as_str()
    );
    println!("starts   {}", plan.starts_at.format("%Y-%m-%d %H:%M UTC"));
    println!(
        "audience {} customer(s); {} recipient(s), {} message(s); {} deferred by quiet hours or the send window",
        plan.audience, plan.recipients, plan.messages, plan.deferred
    );
    let table = |title: &str, map: &BTreeMap<String, usize>| {
        if map.is_empty() {
            return;
        }
        println!("{title}");
        let mut rows: Vec<_> = map.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, v) in rows {
            println!("  {k:<36} {v:>9}");
        }
    };
    table("by segment", &plan.by_segment);
    table("by channel", &plan.by_channel);
    table("by language", &plan.by_language);
    table("by variant", &plan.by_variant);
    table("left out", &plan.excluded);
    if !plan.steps.is_empty() {
        println!("schedule");
        for s in &plan.steps {
            let range = match (s.first_due, s.last_due) {
                (Some(a), Some(b)) if a == b => a.format("%Y-%m-%d %H:%M UTC").to_string(),
                (Some(a), Some(b)) => format!(
                    "{} … {}",
                    a.format("%Y-%m-%d %H:%M"),
                    b.format("%Y-%m-%d %H:%M UTC")
                ),
                _ => String::new(),
            };
            println!("  {:<24} {:>9}  {range}", s.step, s.messages);
        }
    }
    if !plan.delivery.is_empty() {
        println!("delivery");
        for d in &plan.delivery {
            println!(
                "  {:<10} {:>9} at {}/s: done by {}, longest wait {}",
                d.channel.as_str(),
                d.messages,
                d.per_second,
                d.finishes_at.format("%Y-%m-%d %H:%M:%S UTC"),
                d.longest_wait
            );
        }
    }
    if let Some(deadline) = plan.deadline {
        println!("deadline {}", deadline.format("%Y-%m-%d %H:%M UTC"));
    }
    if let Some(refusal) = &plan.refusal {
        println!("REFUSED  {refusal}");
    }
}

/// Campaign messages per second into the chat widget.
const WEB_PER_SECOND: f64 = 200.0;

/// The channels campaign delivery can send on, from the settings. `hub` is the widget's,
/// when this process serves it, so open widgets show campaign messages at once.
pub async fn senders(
    settings: &Settings,
    store: &Store,
    hub: Option<kefu_channels::hub::Hub>,
) -> anyhow::Result<Vec<Arc<dyn Sender>>> {
    let mut out: Vec<Arc<dyn Sender>> = Vec::new();
    if settings.web.enabled {
        out.push(Arc::new(WebSender {
            store: store.clone(),
            hub,
        }));
    }
    if let Some(config) = settings
        .telegram_config()
        .map_err(|e| anyhow::anyhow!("kefu.toml [telegram]: {e}"))?
    {
        let limiter = Arc::new(Limiter::new(settings.telegram_limits()));
        out.push(Arc::new(TelegramSender {
            out: Outbound::new(&config.token, &config.api_url, limiter)?,
            store: store.clone(),
        }));
    }
    out.extend(mail_and_discord_senders(settings, store).await?);
    Ok(out)
}

/// The senders that share no limiter with a support adapter: Discord and e-mail.
pub async fn mail_and_discord_senders(
    settings: &Settings,
    store: &Store,
) -> anyhow::Result<Vec<Arc<dyn Sender>>> {
    let mut out: Vec<Arc<dyn Sender>> = Vec::new();
    if (settings.discord.enabled || settings.email.enabled) && settings.http.public_url.is_none() {
        bail!(
            "campaign messages by e-mail and on Discord carry one-click unsubscribe links: set http.public_url to the address customers reach kefu at"
        );
    }
    let d = &settings.discord;
    if d.enabled {
        let token = d
            .bot_token
            .as_ref()
            .map(|t| t.expose().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow::anyhow!("kefu.toml [discord]: discord.bot_token is missing"))?;
        let rest = kefu_channels::discord::Rest::new(&token, &d.api_url)?
            .with_rate(d.max_per_second as usize);
        out.push(Arc::new(DiscordSender {
            rest,
            store: store.clone(),
            nonce_prefix: nonce_prefix(store).await?,
        }));
    }
    if let Some((smtp, from)) = settings
        .smtp_config()
        .map_err(|e| anyhow::anyhow!("kefu.toml [email]: {e}"))?
    {
        out.push(Arc::new(EmailSender {
            mailer: kefu_channels::email::Mailer::new(&smtp)?,
            store: store.clone(),
            from,
            shop_name: settings.shop.name.clone(),
        }));
    }
    Ok(out)
}

/// The start of this installation's Discord nonces (`k` and 7 hex digits of a hash of its
/// own secret): two shops, or a database started afresh, on one bot never share a nonce.
async fn nonce_prefix(store: &Store) -> anyhow::Result<String> {
    let secret = store.instance_secret("campaign-links").await?;
    let hash = Sha256::digest(format!("discord nonce\0{secret}").as_bytes());
    Ok(format!(
        "k{}",
        hash.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .get(..7)
            .unwrap_or("0000000")
    ))
}

/// Where tracked and one-click links point, and their key: this installation's own
/// secret, kept in the database, so every replica signs alike and nobody outside can
/// make up a link.
pub async fn link_base(settings: &Settings, store: &Store) -> anyhow::Result<LinkBase> {
    let key = store
        .instance_secret("campaign-links")
        .await
        .context("reading the key of campaign links")?;
    Ok(LinkBase {
        base: shop_url(settings),
        key: key.into_bytes(),
    })
}

pub async fn dispatch_options(
    settings: &Settings,
    store: &Store,
) -> anyhow::Result<DispatchOptions> {
    let mut nonce = [0u8; 6];
    let _ = getrandom::fill(&mut nonce);
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    Ok(DispatchOptions {
        owner: format!("{}-{nonce}", std::process::id()),
        in_flight: settings.campaigns.in_flight.max(1),
        max_attempts: settings.campaigns.max_attempts.max(1),
        lease: chrono::Duration::seconds(i64::from(settings.campaigns.lease_seconds.max(2))),
        links: link_base(settings, store).await?,
    })
}

async fn run_command(settings: &Settings, args: RunArgs) -> anyhow::Result<()> {
    let loaded = load(settings, &args.file)?;
    let store = crate::commands::open(settings).await?;
    let id = loaded.campaign.id.clone();
    let hash = plan::spec_hash(&loaded.text);
    match store.campaign(&id).await? {
        Some(existing) if existing.spec_hash == hash => {
            println!(
                "campaign `{id}` was planned on {}; continuing its delivery",
                existing.created_at.format("%Y-%m-%d %H:%M UTC")
            );
        }
        Some(_) => bail!(
            "campaign `{id}` was planned from a different version of this file; a planned campaign is not changed. \
             Cancel it (`kefu campaign cancel {id}`) and give the new version a new id"
        ),
        None => {
            let now = parse_now(args.now.as_deref())?;
            let ps = plan_settings(settings)?;
            let plan = make_plan(&store, &loaded, &ps, now).await?;
            print_plan(&plan);
            if loaded.campaign.schedule.trigger.is_some() {
                println!(
                    "triggered: the events so far are planned now; `kefu serve` adds new ones as they happen"
                );
            } else if loaded.campaign.schedule.repeat.is_some() {
                println!(
                    "recurring: this is the next occurrence; `kefu serve` plans each following one"
                );
            }
            if let Some(refusal) = &plan.refusal {
                bail!("not planned: {refusal}");
            }
            let templates = Templates::new(&loaded.campaign).map_err(|failures| {
                anyhow::anyhow!(
                    "templates do not compile: {}",
                    failures
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
            let bar = bar(plan.messages as u64, "writing the outbox");
            let written = plan::write(
                &store,
                &loaded.campaign,
                &loaded.text,
                &plan,
                &templates,
                &ps,
                |n| bar.set_position(n),
            )
            .await;
            bar.finish_and_clear();
            match written {
                Ok(n) => println!("planned: {n} message(s) in the outbox"),
                // Another replica planned it in the meantime: deliver that plan.
                Err(plan::PlanError::Store(kefu_bot::store::StoreError::Conflict(_)))
                    if store
                        .campaign(&id)
                        .await?
                        .is_some_and(|c| c.spec_hash == hash) =>
                {
                    println!(
                        "campaign `{id}` was planned by another process; continuing its delivery"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if args.detach {
        println!("`kefu serve` delivers it; `kefu campaign status {id}` follows it");
        return Ok(());
    }
    deliver(settings, &store, &id).await?;
    status_of(&store, &id).await?;
    store.close().await;
    Ok(())
}

fn bar(len: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:20} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

/// Delivers until the campaign is finished (or paused or cancelled elsewhere), or
/// Ctrl-C. Rows of other running campaigns that fall due meanwhile go out too.
async fn deliver(settings: &Settings, store: &Store, id: &str) -> anyhow::Result<()> {
    let senders = senders(settings, store, None).await?;
    let pending: i64 = store
        .outbox_counts(id)
        .await?
        .iter()
        .filter(|c| c.state == row_state::PENDING || c.state == row_state::SENDING)
        .map(|c| c.rows)
        .sum();
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        senders,
        dispatch_options(settings, store).await?,
    ));
    let counters = dispatcher.counters.clone();
    let bar = bar(pending.max(0) as u64, "sending");
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                let done = counters.sent.load(Ordering::Relaxed)
                    + counters.failed.load(Ordering::Relaxed)
                    + counters.skipped.load(Ordering::Relaxed);
                bar.set_position(done);
                tokio::time::sleep(StdDuration::from_millis(250)).await;
            }
        })
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("\nstopping: messages not yet sent stay in the outbox; run again to continue");
    };
    let result = dispatcher.run(Some(id.to_string()), stop).await;
    ticker.abort();
    bar.finish_and_clear();
    result?;
    Ok(())
}

async fn list(settings: &Settings) -> anyhow::Result<()> {
    let store = crate::commands::open(settings).await?;
    let campaigns = store.campaigns().await?;
    if campaigns.is_empty() {
        println!("no campaigns yet: `kefu campaign run FILE` plans and sends one");
        return Ok(());
    }
    println!(
        "{:<32} {:<10} {:<11} {:>9} {:>9} {:>9}  planned for",
        "id", "kind", "state", "messages", "sent", "pending"
    );
    for c in campaigns {
        let counts = store.outbox_counts(&c.id).await?;
        let total: i64 = counts.iter().map(|x| x.rows).sum();
        let of = |s: &str| {
            counts
                .iter()
                .filter(|x| x.state == s)
                .map(|x| x.rows)
                .sum::<i64>()
        };
        println!(
            "{:<32} {:<10} {:<11} {:>9} {:>9} {:>9}  {}",
            c.id,
            c.kind,
            c.state.as_str(),
            total,
            of(row_state::SENT),
            of(row_state::PENDING) + of(row_state::SENDING),
            c.planned_for.format("%Y-%m-%d %H:%M UTC")
        );
    }
    store.close().await;
    Ok(())
}

async fn status(settings: &Settings, id: &str) -> anyhow::Result<()> {
    let store = crate::commands::open(settings).await?;
    status_of(&store, id).await?;
    store.close().await;
    Ok(())
}

async fn status_of(store: &Store, id: &str) -> anyhow::Result<()> {
    let Some(c) = store.campaign(id).await? else {
        bail!("no campaign `{id}`: `kefu campaign list` shows them");
    };
    println!(
        "campaign {} — {} ({}), {}",
        c.id,
        c.name,
        c.kind,
        c.state.as_str()
    );
    println!("planned for {}", c.planned_for.format("%Y-%m-%d %H:%M UTC"));
    if let Some(d) = c.deadline {
        println!("deadline    {}", d.format("%Y-%m-%d %H:%M UTC"));
    }
    if let Some(f) = c.finished_at {
        println!("ended       {}", f.format("%Y-%m-%d %H:%M UTC"));
    }
    let counts = store.outbox_counts(id).await?;
    let mut steps: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for x in &counts {
        steps.entry(&x.step).or_default().insert(&x.state, x.rows);
    }
    let states = [
        row_state::PENDING,
        row_state::SENDING,
        row_state::SENT,
        row_state::SKIPPED,
        row_state::FAILED,
        row_state::CANCELLED,
    ];
    print!("{:<24}", "step");
    for s in states {
        print!(" {s:>9}");
    }
    println!();
    for (step, by) in &steps {
        print!("{step:<24}");
        for s in states {
            print!(" {:>9}", by.get(s).copied().unwrap_or(0));
        }
        println!();
    }
    let problems = store.outbox_problems(id).await?;
    if !problems.is_empty() {
        println!("not sent, by reason");
        for (state, reason, n) in problems {
            println!("  {state:<10} {n:>9}  {reason}");
        }
    }
    Ok(())
}

pub async fn bench(
    _settings: &Settings,
    recipients: usize,
    deliver_secs: u64,
    dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    bench::run(recipients, deliver_secs, dir).await
}

/// An outbox row as the dispatcher hands it to a sender, for the senders' tests.
#[cfg(test)]
pub(crate) fn test_row(id: i64, channel: Channel, address: &str) -> kefu_bot::store::OutboxRow {
    kefu_bot::store::OutboxRow {
        id,
        campaign_id: "spring".into(),
        step: "main".into(),
        recipient: "c1".into(),
        customer_id: None,
        channel: channel.as_str().into(),
        address: address.into(),
        variant: None,
        language: "en".into(),
        payload: String::new(),
        marketing: true,
        attempts: 1,
        due_at: chrono::Utc::now(),
    }
}

/// A campaign message with everything a sender shows: subject, image, a link button, an
/// RSVP button, a product card and the one-click links, for the senders' tests.
#[cfg(test)]
pub(crate) fn test_payload() -> kefu_campaigns::deliver::Payload {
    use kefu_campaigns::deliver::{Card, Payload, PayloadButton};
    Payload {
        subject: Some("Spring <*teas*>".into()),
        text: "Hi Mei,\n\nThe first flush is in.".into(),
        image: Some("https://shop.example/spring.jpg".into()),
        buttons: vec![
            PayloadButton {
                label: "Shop now".into(),
                url: Some("https://shop.example/l/1".into()),
                action: None,
            },
            PayloadButton {
                label: "Remind me".into(),
                url: None,
                action: Some("rsvp".into()),
            },
        ],
        cards: vec![Card {
            title: "Dragon Well".into(),
            price: "24.00 USD".into(),
            url: "https://shop.example/l/2".into(),
            image: None,
        }],
        unsubscribe_url: Some("https://shop.example/u/9.abc".into()),
        rsvp_url: Some("https://shop.example/rsvp/9.def".into()),
        ..Payload::default()
    }
}
