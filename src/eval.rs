//! `kefu eval`: runs eval cases through the agent against the current database and
//! gates on the results. The runner and the metrics live in the `kefu-evals` crate.

use std::process::ExitCode;

use anyhow::Context;
use kefu_evals::{JudgeSummary, Report, Thresholds};

use crate::cli::{Engine, EvalArgs};
use crate::config::Settings;

pub async fn run(settings: &Settings, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let cases = kefu_evals::case::load(&args.cases)?;
    let mut thresholds = match &args.thresholds {
        None => Thresholds::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Thresholds::parse(path, &text).map_err(anyhow::Error::msg)?
        }
    };
    if let Some(min) = args.min_pass_rate {
        if !(0.0..=1.0).contains(&min) {
            anyhow::bail!("--min-pass-rate {min}: give a share from 0 to 1, e.g. 0.95");
        }
        thresholds.pass_rate = Some(min);
    }
    let judge = if args.judge {
        let mut llm = settings.llm_settings().context(
            "--judge needs an OpenAI-compatible endpoint: llm.base_url and llm.model in kefu.toml (or KEFU__LLM__BASE_URL, KEFU__LLM__MODEL)",
        )?;
        if let Some(model) = &args.judge_model {
            llm.model = model.clone();
        }
        // The judge answers with a short JSON object.
        llm.max_tokens = Some(200);
        llm.temperature = Some(0.0);
        Some(kefu_evals::Judge::new(
            kefu_bot::agent::llm::LlmEngine::new(llm).context("setting up the judge")?,
        ))
    } else {
        None
    };
    let agent = crate::chat::agent(settings, args.engine, args.today).await?;
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let mut results = kefu_evals::run_all(&agent, &cases, args.jobs, &run_id).await?;
    let engine = match args.engine {
        Engine::Offline => "offline",
        Engine::Llm => "llm",
    };
    let mut report_judge = None;
    if let Some(judge) = &judge {
        let usage = judge.grade_all(&cases, &mut results, args.jobs).await;
        let summary = JudgeSummary::new(judge.model(), &results, usage);
        if summary.scored == 0 && summary.unscored > 0 {
            let why = results
                .iter()
                .find_map(|r| r.judge.as_ref().map(|v| v.reason.clone()))
                .unwrap_or_default();
            eprintln!("the judge graded no case: {why}");
        }
        report_judge = Some(summary);
    }
    let mut report = Report::new(engine, results);
    if let Some(summary) = report_judge {
        report = report.with_judge(summary);
    }
    if let Some(path) = &args.report {
        report
            .write(path)
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    let misses = thresholds.misses(&report.metrics);
    for miss in &misses {
        eprintln!("threshold missed: {miss}");
    }
    print!("{}", report.text());
    Ok(if misses.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
