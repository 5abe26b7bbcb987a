//! The `tessera` command: serve, migrate, manage users, print the API spec.

use std::io::Read;

use clap::{Parser, Subcommand};
use tessera_api::{
    app,
    config::Config,
    domain::accounts::{self, NewAccount},
    server, store,
};

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.config.log_json);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::debug!(config = ?cli.config, "configuration");
            let acceptor = server::bind(&cli.config).await?;
            let state = server::build_state(cli.config).await?;
            server::serve(state, acceptor, server::shutdown_signal()).await?;
        }
        Command::Worker { concurrency } => {
            let state = server::build_state(cli.config).await?;
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
            let state = server::build_state(config).await?;
            let user = accounts::register(
                &state,
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
    }
    Ok(())
}
