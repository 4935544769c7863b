//! botq-bench: see the library docs. This file only parses the command line
//! and turns the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = botq_bench::cli::Cli::parse();
    match botq_bench::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
