//! `kefu chat`: a terminal conversation with the support bot, through the same agent the
//! channels use. Reads one message per line from standard input, so it also works with
//! piped input.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use kefu_bot::agent::{Agent, Inbound, Outcome};
use kefu_bot::shop::{Channel, Email};

use crate::cli::{ChatArgs, Engine};
use crate::config::Settings;

/// The agent as channels run it: the database brought up to date, the knowledge index in
/// line with the stored documents, and the chosen engine.
/// `today` pins the agent's clock to noon UTC of that day (evals on a demo shop loaded
/// with `--today`).
pub async fn agent(
    settings: &Settings,
    engine: Engine,
    today: Option<chrono::NaiveDate>,
) -> anyhow::Result<Agent> {
    let store = crate::commands::connect(settings).await?;
    store
        .migrate()
        .await
        .context("bringing the database schema up to date")?;
    agent_on(store, settings, engine, today).await
}

/// [`agent`] on a store that is already open and migrated (`kefu serve`).
pub async fn agent_on(
    store: kefu_bot::store::Store,
    settings: &Settings,
    engine: Engine,
    today: Option<chrono::NaiveDate>,
) -> anyhow::Result<Agent> {
    let llm = match engine {
        Engine::Offline => None,
        Engine::Llm => match settings.llm_settings() {
            Some(s) => Some(kefu_bot::agent::llm::LlmEngine::new(s)?),
            None => bail!(
                "--engine llm needs llm.base_url and llm.model in kefu.toml (or KEFU__LLM__BASE_URL, KEFU__LLM__MODEL)"
            ),
        },
    };
    let mut agent_settings = settings
        .agent_settings()
        .map_err(|e| anyhow::anyhow!("kefu.toml [agent]: {e}"))?;
    if let Some(day) = today {
        let noon = day.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc();
        agent_settings.clock = Arc::new(move || noon);
    }
    let knowledge = crate::knowledge::open(settings, false)
        .await
        .context("opening the knowledge index (run `kefu knowledge reindex`)")?;
    let sources = kefu_bot::sources::knowledge_sources(&store, settings.http.public_url.as_deref())
        .await
        .context("reading documents and products")?;
    knowledge
        .reindex(&sources)
        .await
        .context("bringing the knowledge index up to date")?;
    // The intent examples' vectors are kept beside the index and read back next time.
    let vectors = settings
        .knowledge
        .index_path
        .parent()
        .unwrap_or(std::path::Path::new(""))
        .join("intent-vectors");
    let mut agent =
        Agent::new(store, Some(Arc::new(knowledge)), agent_settings)?.with_intent_cache(vectors);
    if let Some(engine) = llm {
        agent = agent.with_llm(engine);
    }
    agent.warm_intents().await;
    Ok(agent)
}

pub async fn run(settings: &Settings, args: ChatArgs) -> anyhow::Result<ExitCode> {
    let agent = agent(settings, args.engine, None).await?;
    let agent = crate::code_mail::with_code_sender(agent, settings)?;
    let store = agent.store().clone();

    let customer = match &args.as_customer {
        None => None,
        Some(raw) => {
            let email = Email::parse(raw).map_err(|e| anyhow::anyhow!("--as {raw}: {e}"))?;
            let found = store.customer_by_email(&email).await?;
            match found {
                Some(c) => Some(c),
                None => bail!(
                    "--as {email}: no customer with this e-mail address (try `kefu demo load`, then e.g. one from `kefu chat --help`)"
                ),
            }
        }
    };
    let streaming = args.engine == Engine::Llm && !args.json;
    let thread = args.thread.clone().unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("cli-{nanos:x}")
    });

    let interactive = std::io::stdin().is_terminal();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if interactive && !args.json {
        let who = match &customer {
            Some(c) => format!(
                "{} <{}>, verified",
                c.name.clone().unwrap_or_default(),
                c.email.clone().unwrap_or_default()
            ),
            None => "an anonymous visitor".to_string(),
        };
        println!(
            "Chatting with {} as {who}. Type a message; Ctrl-D or /quit ends.",
            settings.shop.name
        );
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive && !args.json {
            print!("> ");
            std::io::stdout().flush().ok();
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading standard input")?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if text == "/quit" || text == "/exit" {
            break;
        }
        let inbound = Inbound {
            channel: Channel::Web,
            thread_id: thread.clone(),
            external_id: None,
            text: text.to_string(),
            customer: customer.as_ref().map(|c| c.id),
            lang_hint: args.lang.clone(),
            lang_fixed: false,
            client: None,
        };
        // With a model, sentences appear as they are written and checked.
        let sink = |piece: &str| {
            print!("{piece}");
            std::io::stdout().flush().ok();
        };
        let outcome = if streaming {
            agent.handle_streaming(&inbound, Some(&sink)).await?
        } else {
            agent.handle(&inbound).await?
        };
        if args.json {
            println!("{}", serde_json::to_string(&outcome)?);
        } else {
            print_outcome(&outcome, color);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(outcome: &Outcome, color: bool) {
    let dim = |s: &str| {
        if color {
            format!("\x1b[2m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    for call in &outcome.tool_calls {
        println!(
            "{}",
            dim(&format!(
                "  ⚙ {}({}) → {}",
                call.name, call.input, call.output
            ))
        );
    }
    let streamed = outcome.streamed.as_deref().map(str::trim);
    if streamed.is_some() {
        println!();
    }
    for (i, reply) in outcome.replies.iter().enumerate() {
        // The first reply may have been streamed already; if it changed after the
        // stream (a later sentence failed a check), the final one follows.
        match streamed.filter(|_| i == 0) {
            Some(s) if s == reply.text.trim() => {}
            Some(_) => println!("{}\n{}", dim("  (corrected)"), reply.text),
            None => println!("{}", reply.text),
        }
        for c in &reply.citations {
            let url = c
                .url
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default();
            println!(
                "{}",
                dim(&format!("  ↳ {} [{}]{url}", c.title, c.document_id))
            );
        }
    }
    let mut status = vec![
        format!("lang {}", outcome.language),
        outcome.state.as_str().to_string(),
    ];
    if outcome.verified {
        status.push("verified".into());
    }
    if let Some(h) = outcome.handoff {
        status.push(format!("handoff #{h}"));
    }
    let usage = &outcome.usage;
    if usage.prompt_tokens + usage.completion_tokens > 0 {
        status.push(format!(
            "{} + {} tokens, {:.5}",
            usage.prompt_tokens, usage.completion_tokens, usage.cost
        ));
    }
    println!("{}", dim(&format!("  · {}", status.join(" · "))));
    println!();
}
