//! Start-up: connect to the database, run migrations, bind, and serve until asked to stop.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use std::sync::Arc;

use pacer_api::AppState;
use pacer_rollback::Dispatcher;
use pacer_store::Store;
use tokio::net::TcpListener;

use crate::config::{CommonArgs, Overrides, Settings, settings};

/// A pacer ready to serve: migrated database, bound socket.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    report: Option<Arc<pacer_mail::MailConfig>>,
    chat: Arc<pacer_chat::ChatConfig>,
}

impl Application {
    /// Connects to the database, migrates it and binds the listen address.
    ///
    /// # Errors
    /// The database cannot be reached or migrated, or the address cannot be bound.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let store = open_store(&settings.database_url).await?;
        let listener = TcpListener::bind(settings.listen).await.with_context(|| format!("cannot listen on {}", settings.listen))?;
        Ok(Self { listener, state: AppState::new(store, settings.api.clone()), report: settings.report.clone(), chat: Arc::clone(&settings.chat) })
    }

    /// The address actually bound (useful with port 0).
    ///
    /// # Errors
    /// The socket has no local address.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The store the application serves from.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    ///
    /// The rollback dispatcher, the SLO evaluator, the weekly report's mailer and chat's notifier
    /// and sender run beside the
    /// server and stop with it, finishing the deliveries they have started.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        // The weekly report's mailer, when an SMTP server is configured; it stops with the server
        // after finishing the send in progress.
        let mailer = match self.report.clone() {
            Some(config) => Some(pacer_mail::Mailer::new(self.state.clone(), config).map_err(|e| anyhow::anyhow!("cannot start the weekly report mailer: {e}"))?),
            None => None,
        };
        let store = self.state.store.clone();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let telemetry = Arc::clone(&self.state.telemetry);
        let dispatcher = Dispatcher::new(store.clone(), Arc::clone(&self.state.config.rollback), Arc::clone(&self.state.wake))
            .observed(Arc::new(move |outcome, seconds| telemetry.hook_delivery(outcome, seconds)))
            .traced(Arc::clone(&self.state.origins));
        let dispatching = tokio::spawn(dispatcher.run(until(stopped.clone())));
        let interval = self.state.config.slo_interval;
        let evaluating = (!self.state.config.slos.is_empty())
            .then(|| tokio::spawn(pacer_api::slo::evaluator::evaluate(self.state.clone(), interval, until(stopped.clone()))));
        let mailing = mailer.map(|mailer| tokio::spawn(mailer.run(until(stopped.clone()))));
        // Chat notifications, when rules are set: their own tasks, table and client, so a slow
        // channel never holds up ingestion or the rollback hooks.
        let chatting = (!self.chat.rules.is_empty()).then(|| {
            let stored = Arc::new(tokio::sync::Notify::new());
            let router = pacer_chat::routing::Router::new(self.state.config.teams.clone());
            let notifier = pacer_chat::Notifier::new(store.clone(), Arc::clone(&self.chat), router, Arc::clone(&stored));
            let telemetry = Arc::clone(&self.state.telemetry);
            let sender = pacer_chat::Sender::new(store.clone(), Arc::clone(&self.chat), stored).observed(Arc::new(move |outcome| telemetry.chat_message(outcome)));
            (tokio::spawn(notifier.run(until(stopped.clone()))), tokio::spawn(sender.run(until(stopped.clone()))))
        });
        let following = tokio::spawn(pacer_api::analysis::follow(
            Arc::clone(&self.state.analyses),
            store.clone(),
            self.state.config.attribution_window,
            until(stopped.clone()),
        ));
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let header_timeout = self.state.config.limits.header_timeout;
        let router = pacer_api::router(self.state);
        let served = crate::server::serve(self.listener, router, header_timeout, until(stopped)).await.context("server failed");
        let _ = dispatching.await;
        let _ = following.await;
        if let Some(evaluating) = evaluating {
            let _ = evaluating.await;
        }
        if let Some(mailing) = mailing {
            let _ = mailing.await;
        }
        if let Some((noticing, sending)) = chatting {
            let _ = noticing.await;
            let _ = sending.await;
        }
        store.close().await;
        served
    }
}

/// Connects to the database and applies pending migrations.
///
/// # Errors
/// The database cannot be reached or migrated.
pub async fn open_store(url: &str) -> anyhow::Result<Store> {
    let redacted = pacer_store::redact(url);
    let store = Store::connect(url).await.with_context(|| format!("cannot open the database {redacted}"))?;
    store.migrate().await.with_context(|| format!("cannot migrate the database {redacted}"))?;
    Ok(store)
}

/// Completes when the watched flag turns true (or its sender is gone).
async fn until(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Runs `pacer migrate`: applies pending migrations and exits.
///
/// # Errors
/// The configuration has problems, or the database cannot be opened or migrated.
pub async fn migrate(args: CommonArgs) -> anyhow::Result<()> {
    let settings = settings(args.config.as_deref(), &Overrides { listen: None, database_url: args.database_url })?;
    open_store(&settings.database_url).await?;
    println!("migrations applied to {}", pacer_store::redact(&settings.database_url));
    Ok(())
}
