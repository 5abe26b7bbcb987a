//! Starting the service: state from configuration, then the HTTP server with graceful shutdown.

use std::{sync::Arc, time::Duration};

use poem::{
    Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};

use crate::{
    app,
    auth::token::TokenKeys,
    config::{Config, ServerUrl},
    domain::volunteer::LoopState,
    infra::Infra,
    kv::Kv,
    state::AppState,
    storage::LocalDisk,
    store,
};

pub async fn build_state(config: Config) -> anyhow::Result<Arc<AppState>> {
    config.rate_limit().map_err(anyhow::Error::msg)?;
    let trusted_proxies = config.trusted_proxies().map_err(anyhow::Error::msg)?;
    let mailer = crate::mailer::Mailer::new(
        config.smtp_url.as_ref().map(ServerUrl::expose),
        &config.mail_from,
        config.smtp_ca_file.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    if !mailer.configured() {
        tracing::info!("no TESSERA_SMTP_URL: mail stays in the outbox admins read at /admin");
    } else if config.public_url.is_none() {
        tracing::warn!(
            "TESSERA_PUBLIC_URL is unset: links in mail point to {}",
            config.mail_base_url()
        );
    }
    let url = config.database_url();
    let db = Box::pin(store::connect(&url)).await?;
    if !config.no_migrate {
        store::migrate(&db).await?;
    }
    let read_db = match &config.database_replica_url {
        Some(replica) if !replica.expose().is_empty() => {
            Box::pin(store::connect(replica.expose())).await?
        }
        _ => db.clone(),
    };
    // Without TESSERA_SECRET, tokens are signed with a secret kept in the database: they
    // survive restarts and every instance on the database accepts them.
    let secret = match &config.secret {
        Some(s) if !s.expose().is_empty() => s.expose().as_bytes().to_vec(),
        _ => Box::pin(store::settings::get_or_create(
            &db,
            store::settings::TOKEN_SECRET,
            store::settings::random_secret,
        ))
        .await?
        .into_bytes(),
    };
    let anon_key = Box::pin(store::settings::get_or_create(
        &db,
        store::settings::ANON_KEY,
        store::settings::random_secret,
    ))
    .await?
    .into_bytes();
    // Two databases sharing one Redis (staging and production, a restored copy) must never see
    // each other's holds and stamps: the default prefix names the database.
    let prefix = match &config.redis_key_prefix {
        Some(p) => p.clone(),
        None => {
            let id = Box::pin(store::settings::get_or_create(
                &db,
                store::settings::DATABASE_ID,
                || uuid::Uuid::new_v4().simple().to_string(),
            ))
            .await?;
            format!("tessera:{id}:")
        }
    };
    let kv = Kv::connect(
        config.redis_url.as_ref().map(ServerUrl::expose),
        config.redis_sentinels.as_deref(),
        Some(&config.redis_service_name),
        &prefix,
    )
    .await?;
    let storage = Arc::new(LocalDisk::new(config.uploads_dir()));
    let metrics = crate::metrics::Metrics::new(kv.errors.clone());
    let batcher = (config.answer_batching
        && db.get_database_backend() == sea_orm::DbBackend::Postgres)
        .then(|| {
            crate::domain::volunteer::batch::Batcher::start(
                db.clone(),
                kv.clone(),
                config.answer_writers.into(),
                metrics.answer_batches.clone(),
            )
        });
    let volunteer = LoopState::new(crate::store::hot::HotReads::new(read_db.clone()), batcher);
    Ok(Arc::new(AppState {
        infra: Infra {
            metrics,
            tokens: TokenKeys::new(&secret, config.token_ttl),
            mailer,
            anon_key,
            db,
            read_db,
            storage,
            kv,
            config,
            jobs_wake: tokio::sync::Notify::new(),
        },
        volunteer,
        accounts: Default::default(),
        trusted_proxies,
    }))
}

/// Binds the configured address (port 0 picks a free one) and returns the acceptor.
pub async fn bind(config: &Config) -> std::io::Result<TcpAcceptor> {
    TcpListener::bind(config.addr).into_acceptor().await
}

/// Serves until `shutdown` resolves, then lets requests in flight finish (up to 30 s).
pub async fn serve(
    state: Arc<AppState>,
    acceptor: TcpAcceptor,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = acceptor
        .local_addr()
        .into_iter()
        .next()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(%addr, database = %state.infra.backend_name(), cache = state.infra.kv.describe(), workers = state.infra.config.workers, "serving");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = (state.infra.config.workers > 0)
        .then(|| crate::workers::spawn_workers(state.clone(), state.infra.config.workers, stopped));
    let served = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app::build(state), shutdown, Some(Duration::from_secs(30)))
        .await;
    // Jobs in flight finish (or, past the wait, run again elsewhere once their lease ends).
    let _ = stop.send(true);
    if let Some(handle) = workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), handle).await;
    }
    served
}

/// Runs job workers only (`tessera worker`) until `shutdown` resolves.
pub async fn work(
    state: Arc<AppState>,
    concurrency: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handle = crate::workers::spawn_workers(state, concurrency, stopped);
    shutdown.await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), handle).await;
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
