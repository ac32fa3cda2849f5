//! The `huaweicloud-exporter` binary: flags, logging, config, run. Everything else is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use huaweicloud_exporter::server::listen::{bind_listen_addresses, parse_listen_address};
use huaweicloud_exporter::{app, config, logging, metrics, services};

// The help text naming services is the registry's: `parse` sets it.
/// Prometheus exporter for Huawei Cloud management-plane state.
#[derive(Parser, Debug)]
#[command(about, disable_version_flag = true)]
struct Cli {
    /// Print the version, git revision, rustc version and build details, and exit.
    #[arg(long, short = 'V')]
    version: bool,
    /// Configuration file.
    #[arg(long = "config.file", default_value = "config.yaml")]
    config_file: PathBuf,
    /// Address to listen on for the web interface and telemetry: `:port` (every interface),
    /// `ip:port`, `[ipv6]:port`, `host:port` (a name listens on each address it resolves to).
    /// Repeat the flag to listen on several.
    #[arg(long = "web.listen-address", default_value = ":10071", action = clap::ArgAction::Append)]
    listen_address: Vec<String>,
    /// Web config (exporter-toolkit format): TLS, client certificates, basic auth, headers.
    /// Re-read when it changes.
    #[arg(long = "web.config.file")]
    web_config_file: Option<PathBuf>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    telemetry_path: String,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    log_format: LogFormat,
    /// Validate the configuration file (and --web.config.file if given), print a one-line
    /// verdict and exit 0 (valid) or 1.
    #[arg(long = "config.check")]
    config_check: bool,
    /// Run against a built-in simulated Huawei Cloud with a built-in configuration.
    #[arg(long)]
    demo: bool,
    // `parse` adds which services it splits, from the registry.
    /// This replica's shard (0-based). Overrides config.
    #[arg(long = "shard.index", requires = "shard_total")]
    shard_index: Option<u32>,
    /// Number of shards (replicas). Overrides config.
    #[arg(long = "shard.total", requires = "shard_index")]
    shard_total: Option<u32>,
    /// Enable the lifecycle endpoint `POST /-/reload` (as Prometheus' flag of that name). Off:
    /// it answers 403, and SIGHUP is the way to reload.
    #[arg(long = "web.enable-lifecycle")]
    web_enable_lifecycle: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    // `parse` names its services, from the registry.
    /// Run the simulated Huawei Cloud on its own.
    Simulate(huaweicloud_exporter::sim::SimArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Logfmt,
    Json,
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
    };
    // Our own crate at the chosen level; dependencies only from warn up (hyper/reqwest debug
    // lines would drown the exporter's own).
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::WARN.min(level))
        .with_target("huaweicloud_exporter", level);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let format = match format {
        LogFormat::Logfmt => logging::Format::Logfmt,
        LogFormat::Json => logging::Format::Json,
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(logging::layer(format))
        .init();
}

/// The flags, with the help text that names services taken from the registry.
fn parse() -> Cli {
    let all = services::titles(|_| true);
    let (split, whole) = services::shard_rule();
    let command = Cli::command()
        .about(format!(
            "Prometheus exporter for Huawei Cloud management-plane state ({all})."
        ))
        .mut_arg("shard_index", |a| {
            a.help(format!(
                "This replica's shard (0-based); keeps only the {split} resources whose id \
                 hashes to it ({whole}: shard 0 only). Overrides config."
            ))
        })
        .mut_subcommand("simulate", |c| {
            c.about(format!(
                "Run the simulated Huawei Cloud on its own (IAM, {all})."
            ))
        });
    Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse();
    if cli.version {
        print!("{}", metrics::build::version_text());
        return ExitCode::SUCCESS;
    }
    if cli.config_check {
        // Both files are checked, whatever the first one holds: every error in one run.
        let mut web_ok = true;
        if let Some(path) = &cli.web_config_file {
            if let Err(e) = huaweicloud_exporter::server::web_config::load(path) {
                println!("{e}");
                web_ok = false;
            }
        }
        let source = match config::Overrides::from_shard_flags(cli.shard_index, cli.shard_total) {
            Ok(overrides) => config::Source {
                path: cli.config_file.clone(),
                overrides,
            },
            Err(e) => {
                println!("{e}");
                return ExitCode::FAILURE;
            }
        };
        return match huaweicloud_exporter::services::load(&source) {
            Ok(cfg) => {
                for w in &cfg.warnings {
                    println!("warning: {w}");
                }
                println!(
                    "{}: valid ({} clouds, {} probe modules)",
                    cli.config_file.display(),
                    cfg.clouds.len(),
                    huaweicloud_exporter::services::PROBER.modules(&cfg).len()
                );
                if web_ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                println!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(cli.log_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The log line only: with --log.format json every line of stderr stays JSON.
            tracing::error!(error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Simulate(args)) = cli.command {
        return huaweicloud_exporter::sim::run_standalone(
            huaweicloud_exporter::services::SIMULATED,
            args,
        )
        .await;
    }
    let listen = cli
        .listen_address
        .iter()
        .map(|a| parse_listen_address(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !cli.telemetry_path.starts_with('/') {
        anyhow::bail!(
            "--web.telemetry-path {:?} must start with /",
            cli.telemetry_path
        );
    }
    // The shard flags are checked the same way in every mode; the demo applies them too, so
    // two demo replicas show the split a sharded deployment makes.
    let overrides = config::Overrides::from_shard_flags(cli.shard_index, cli.shard_total)
        .map_err(anyhow::Error::msg)?;
    if let Some(shard) = overrides.shard {
        let (split, whole) = services::shard_rule();
        tracing::info!(
            shard = %shard,
            "sharding the {split} resources (the flags outrank the file, on every reload too); {whole}: collected by shard 0 only"
        );
    }
    let mut application = if cli.demo {
        let listeners = bind_listen_addresses(&listen).await?;
        app::demo(listeners, &cli.telemetry_path, &overrides).await?
    } else {
        let source = config::Source {
            path: cli.config_file.clone(),
            overrides,
        };
        let listeners = bind_listen_addresses(&listen).await?;
        app::Application::from_source_on(source, listeners, &cli.telemetry_path)?
    };
    if cli.web_enable_lifecycle {
        application = application.with_lifecycle(huaweicloud_exporter::server::Lifecycle::Enabled);
    }
    if let Some(path) = &cli.web_config_file {
        application = application.with_web_config(path).await?;
    }
    for address in application.local_addrs() {
        tracing::info!(
            %address,
            metrics = format!(
                "{}://{}{}",
                application.scheme(),
                address,
                cli.telemetry_path
            ),
            version = metrics::build::VERSION,
            revision = metrics::build::REVISION,
            "listening"
        );
    }
    application.run_until(app::shutdown_signal()).await
}
