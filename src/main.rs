//! `kefu`: self-hosted AI customer service and marketing automation for online shops.
//! This binary is the thin wiring: command line, settings, telemetry and the HTTP server.

mod bench_agent;
mod bench_channels;
mod campaign;
mod chat;
mod cli;
mod code_mail;
mod commands;
mod config;
mod console;
mod eval;
mod knowledge;
mod model_install;
mod segments;
mod server;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: imports, retrieval and the turn loop make
/// many small allocations that are freed on another thread (the SQLite connection's),
/// where glibc's allocator takes an arena lock for each one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // One TLS crypto provider for every client (embeddings, LLM, chat APIs); installing it
    // explicitly avoids rustls' run-time guess. An error only means one is already set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
