//! The `tessera` command: serve, migrate, manage users, print the API spec.

use std::io::Read;

use clap::{Parser, Subcommand};
use tessera_api::{
    app,
    config::Config,
    domain::platform::accounts::{self, NewAccount},
    server, store,
};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "A PYBOSSA-compatible crowdsourcing platform"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the web app (the default).
    Serve,
    /// Run background jobs only (webhooks, statistics upkeep); scale out with several.
    Worker {
        /// Jobs run at once by this process.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the OpenAPI spec (YAML).
    Openapi,
    /// Fit Dawid–Skene to answers in a CSV file (`task,worker,label`, with that header) and
    /// write each task's label (`task,label`), as the `dawid_skene` aggregation does; the
    /// fit's time and the peak memory go to stderr as JSON. For comparisons and benchmarks.
    DawidSkene {
        input: std::path::PathBuf,
        output: std::path::PathBuf,
        /// The most EM rounds.
        #[arg(long, default_value_t = 100)]
        iterations: u32,
    },
    /// Export a project's tasks, answers or results to a file, streamed, with progress.
    Export {
        /// The project's id or short name.
        #[arg(long)]
        project: String,
        /// `task`, `task_run` or `result`.
        #[arg(long = "type", default_value = "task_run")]
        table: String,
        /// `csv`, `json` or `jsonl`.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Zip the file.
        #[arg(long)]
        zip: bool,
        /// Where to write (`-`: standard output); defaults to the export's usual file name.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Import tasks into a project from a file or a link, with progress: what
    /// `POST /api/project/{id}/import` does, run in this process.
    Import(ImportArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from standard input.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        fullname: String,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        admin: bool,
    },
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn export(
    config: &tessera_api::config::Config,
    project: &str,
    table: &str,
    format: &str,
    zip: bool,
    output: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use tessera_api::{
        domain::platform::export::{Export, Format, Table},
        store::{counters, entities::project as p},
    };
    let msg = |e: tessera_api::error::ApiError| {
        anyhow::anyhow!("{}", e.body("GET", "/export").exception_msg)
    };
    let spec = Export {
        table: Table::parse(table).map_err(msg)?,
        format: Format::parse(format).map_err(msg)?,
        zip,
        // The operator at the command line sees everything.
        level: tessera_api::domain::rest::fields::Access::Admin,
    };
    let db = store::connect(&config.database_url()).await?;
    let found = match project.parse::<i32>() {
        Ok(id) => p::Entity::find_by_id(id).one(&db).await?,
        Err(_) => {
            p::Entity::find()
                .filter(p::Column::ShortName.eq(project))
                .one(&db)
                .await?
        }
    };
    let project = found.ok_or_else(|| anyhow::anyhow!("no project {project:?}"))?;
    let totals = counters::totals(&db, tessera_api::ids::ProjectId(project.id)).await?;
    let total = match spec.table {
        Table::Task => totals.n_tasks,
        Table::TaskRun => totals.n_task_runs,
        Table::Result => totals.n_completed_tasks,
    };
    let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} rows, {per_sec}, ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(format!("exporting {}", spec.table.name()));
    let path = output.unwrap_or_else(|| spec.file_name(project.id, &project.short_name).into());
    let progress = |n: u64| bar.set_position(n);
    let out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if path.as_os_str() == "-" {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        Box::new(tokio::io::stdout())
    } else {
        Box::new(tokio::fs::File::create(&path).await?)
    };
    let out = tokio::io::BufWriter::new(out);
    let rows = tessera_api::domain::platform::export::write(
        &db,
        project.id,
        &project.short_name,
        spec,
        out,
        &progress,
    )
    .await?;
    bar.finish_and_clear();
    let peak = peak_memory_kb().map_or_else(String::new, |k| format!(" (peak memory {k} kB)"));
    eprintln!("exported {rows} rows to {}{peak}", path.display());
    Ok(())
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The project's id or short name.
    #[arg(long)]
    project: String,
    /// A CSV, JSON or JSON Lines file on this machine, or an http(s) link (a file, a Google
    /// Sheets link or an IIIF manifest).
    source: String,
    /// `csv`, `json`, `jsonl` or `iiif`; detected when left out.
    #[arg(long)]
    format: Option<String>,
    /// Redundancy of rows that do not give `n_answers`.
    #[arg(long)]
    n_answers: Option<i32>,
    /// Priority of rows that do not give `priority_0`.
    #[arg(long)]
    priority: Option<f64>,
    /// Only read and check the file: print what it holds, write nothing.
    #[arg(long)]
    dry_run: bool,
}

async fn import(config: tessera_api::config::Config, args: ImportArgs) -> anyhow::Result<()> {
    use tessera_api::domain::platform::import::{self, Options, Source, fetch};
    let msg = |e: tessera_api::error::ApiError| {
        anyhow::anyhow!("{}", e.body("POST", "/import").exception_msg)
    };
    let state = Box::pin(server::build_state(config)).await?;
    let infra = &state.infra;
    let project =
        tessera_api::domain::rest::resources::project_by_id_or_name(&infra.db, &args.project)
            .await
            .map_err(|_| anyhow::anyhow!("no project {:?}", args.project))?;
    let options = Options {
        format: args.format,
        n_answers: args.n_answers,
        priority_0: args.priority,
    };
    let mut format = options.check().map_err(msg)?;
    let is_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let (file, name) = if is_url {
        eprintln!("fetching {}", args.source);
        let fetched = Box::pin(fetch::to_temp_file(infra, &args.source))
            .await
            .map_err(|f| match f {
                import::Failure::Refused(why) | import::Failure::Transient(why) => {
                    anyhow::anyhow!(why)
                }
            })?;
        format = format.or(fetched.format);
        (fetched.file, args.source.clone())
    } else {
        let file = std::fs::File::open(&args.source)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.source))?;
        format = format.or_else(|| import::Format::from_file_name(&args.source));
        (file, args.source.clone())
    };
    let size = file.metadata().map_or(0, |m| m.len());
    let counting = import::Counting::new(file);
    let bytes = counting.bytes.clone();
    if args.dry_run {
        let preview = Box::pin(import::preview(Box::new(counting), format, &options))
            .await
            .map_err(msg)?;
        println!("{}", serde_json::to_string_pretty(&preview)?);
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes}, {bytes_per_sec}, ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    let started = Box::pin(import::start(
        infra,
        tessera_api::ids::ProjectId(project.id),
        None,
        Source::Local { name },
        &options,
        false,
    ))
    .await
    .map_err(msg)?;
    let moved = |counts: &import::Counts| {
        bar.set_position(bytes.load(std::sync::atomic::Ordering::Relaxed));
        bar.set_message(format!(
            "{} created, {} duplicates, {} rejected",
            counts.created, counts.duplicates, counts.rejected
        ));
        async { Ok(()) }
    };
    let (counts, failure) = Box::pin(import::run_local(
        infra,
        &started,
        Box::new(counting),
        format,
        &options,
        &moved,
    ))
    .await
    .map_err(msg)?;
    bar.finish_and_clear();
    let peak = peak_memory_kb().map_or_else(String::new, |k| format!(" (peak memory {k} kB)"));
    eprintln!(
        "import {}: read {} rows, created {} tasks, {} duplicates, {} rejected{peak}",
        started.id, counts.read, counts.created, counts.duplicates, counts.rejected
    );
    if let Some(why) = failure {
        anyhow::bail!("the import failed: {why}");
    }
    Ok(())
}

/// Interns names as dense indexes, in the order first seen.
#[derive(Default)]
struct Names {
    index: std::collections::HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn of(&mut self, name: &str) -> u32 {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }
}

fn dawid_skene(
    input: &std::path::Path,
    output: &std::path::Path,
    iterations: u32,
) -> anyhow::Result<()> {
    use tessera_api::domain::volunteer::consensus;
    let mut reader = csv::Reader::from_path(input)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", input.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow::anyhow!("{} has no {name} column", input.display()))
    };
    let (ct, cw, cl) = (column("task")?, column("worker")?, column("label")?);
    let (mut tasks, mut workers, mut labels) =
        (Names::default(), Names::default(), Names::default());
    let mut obs = consensus::Observations::default();
    for record in reader.records() {
        let record = record?;
        let field = |i: usize| record.get(i).unwrap_or("");
        obs.task.push(tasks.of(field(ct)));
        obs.worker.push(workers.of(field(cw)));
        let label = labels.of(field(cl));
        obs.label.push(
            u16::try_from(label)
                .ok()
                .filter(|l| usize::from(*l) < consensus::MAX_CLASSES)
                .ok_or_else(|| anyhow::anyhow!("more than {} labels", consensus::MAX_CLASSES))?,
        );
    }
    obs.n_tasks = tasks.names.len();
    obs.n_workers = workers.names.len();
    obs.n_classes = labels.names.len().max(2);
    obs.truth = vec![None; obs.n_tasks];
    let started = std::time::Instant::now();
    let fit = consensus::dawid_skene(&obs, iterations, 1e-7);
    let seconds = started.elapsed().as_secs_f64();
    let mut writer = csv::Writer::from_path(output)?;
    writer.write_record(["task", "label"])?;
    for (t, name) in tasks.names.iter().enumerate() {
        let l = fit.label(t, obs.n_classes);
        let label = labels.names.get(l).map_or("", String::as_str);
        writer.write_record([name.as_str(), label])?;
    }
    writer.flush()?;
    eprintln!(
        "{}",
        serde_json::json!({
            "answers": obs.task.len(), "tasks": obs.n_tasks, "workers": obs.n_workers,
            "classes": labels.names.len(), "iterations": fit.iterations,
            "fit_seconds": seconds, "peak_kb": peak_memory_kb(),
        })
    );
    Ok(())
}

/// The process's peak resident memory, where the system says (Linux).
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.config.log_json);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::debug!(config = ?cli.config, "configuration");
            let acceptor = server::bind(&cli.config).await?;
            let state = Box::pin(server::build_state(cli.config)).await?;
            server::serve(state, acceptor, server::shutdown_signal()).await?;
        }
        Command::Worker { concurrency } => {
            let state = Box::pin(server::build_state(cli.config)).await?;
            server::work(state, concurrency, server::shutdown_signal()).await;
        }
        Command::Migrate => {
            let db = store::connect(&cli.config.database_url()).await?;
            store::migrate(&db).await?;
            eprintln!("migrations applied");
        }
        Command::User {
            command:
                UserCommand::Create {
                    name,
                    email,
                    fullname,
                    password_stdin: _,
                    admin,
                },
        } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let mut config = cli.config;
            config.no_migrate = false;
            let state = Box::pin(server::build_state(config)).await?;
            let user = accounts::register(
                &state.infra,
                NewAccount {
                    name,
                    fullname,
                    email_addr: email,
                    password,
                    admin,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.body("POST", "/user").exception_msg))?;
            println!(
                "created user {} (id {}, admin: {})",
                user.name, user.id, user.admin
            );
        }
        Command::Openapi => print!("{}", app::openapi_yaml()),
        Command::DawidSkene {
            input,
            output,
            iterations,
        } => dawid_skene(&input, &output, iterations)?,
        Command::Export {
            project,
            table,
            format,
            zip,
            output,
        } => Box::pin(export(&cli.config, &project, &table, &format, zip, output)).await?,
        Command::Import(args) => Box::pin(import(cli.config, args)).await?,
    }
    Ok(())
}
