//! A host app that mounts Scimitar under `/integrations/scim` beside its own routes, and keeps
//! its own users and sessions from Scimitar's events: a user the identity provider deactivates
//! or deletes loses its sessions at once.
//!
//! ```text
//! cargo run -- tenant create --name acme --database-url sqlite://host_app.db
//! HOST_APP_DATABASE_URL=sqlite://host_app.db cargo run --example host_app
//! ```
//!
//! Point the identity provider at `http://127.0.0.1:8080/integrations/scim` with the tenant's
//! token. Then `POST /login {"user_name": "ann@example.com"}` answers a session for a
//! provisioned, active user, and `GET /me` with `Authorization: Session TOKEN` answers who it is
//! until the identity provider deactivates the user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use scimitar::{AppState, BackgroundWork, Db, Event, EventType, HandlerError, Settings};
use serde::Deserialize;
use serde_json::json;

/// The app's own records: who it knows from the identity provider, and who is signed in.
#[derive(Clone, Default)]
struct Accounts(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    /// SCIM id → (userName, active).
    users: HashMap<String, (String, bool)>,
    /// Session token → SCIM id.
    sessions: HashMap<String, String>,
}

impl Accounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies one of Scimitar's events. Each is applied as a whole, so an event handled twice
    /// (delivery is at least once) leaves the same state.
    fn apply(&self, event: &Event) -> Result<(), HandlerError> {
        let app_user = &event.data["app_user"];
        let id = || -> Result<String, HandlerError> {
            event.data["user"]["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("event {} has no user id", event.id).into())
        };
        let mut inner = self.lock();
        match event.kind() {
            Some(
                EventType::UserCreated
                | EventType::UserUpdated
                | EventType::UserReactivated
                | EventType::UserDeactivated,
            ) => {
                let id = id()?;
                let name = app_user["user_name"].as_str().unwrap_or_default();
                let active = app_user["active"].as_bool().unwrap_or(true);
                inner.users.insert(id.clone(), (name.to_owned(), active));
                if !active {
                    inner.sessions.retain(|_, user| *user != id);
                }
            }
            Some(EventType::UserDeleted) => {
                let id = id()?;
                inner.users.remove(&id);
                inner.sessions.retain(|_, user| *user != id);
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Login {
    user_name: String,
}

/// `POST /login`: a session for a provisioned, active user.
async fn login(accounts: web::Data<Accounts>, body: web::Json<Login>) -> HttpResponse {
    let mut inner = accounts.lock();
    let found = inner
        .users
        .iter()
        .find(|(_, (name, active))| *active && name.eq_ignore_ascii_case(&body.user_name))
        .map(|(id, _)| id.clone());
    let Some(id) = found else {
        return HttpResponse::Forbidden().json(json!({"error": "no active user of that name"}));
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    inner.sessions.insert(token.clone(), id);
    HttpResponse::Ok().json(json!({"session": token}))
}

/// `GET /me`: who the session belongs to, while it lasts.
async fn me(accounts: web::Data<Accounts>, req: HttpRequest) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Session "));
    let inner = accounts.lock();
    let user = token
        .and_then(|t| inner.sessions.get(t))
        .and_then(|id| inner.users.get(id));
    match user {
        Some((name, _)) => HttpResponse::Ok().json(json!({"user_name": name})),
        None => HttpResponse::Unauthorized().json(json!({"error": "no such session"})),
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let database_url = env("HOST_APP_DATABASE_URL", "sqlite://host_app.db");
    let listener = std::net::TcpListener::bind(env("HOST_APP_ADDR", "127.0.0.1:8080"))?;
    let origin = format!("http://{}", listener.local_addr()?);
    let settings = Settings {
        database_url: database_url.clone(),
        public_url: Some(origin.clone()),
        scim_path: "/integrations/scim".into(),
        ..Settings::default()
    };
    let db = web::block(move || Db::connect(&database_url, 8)).await??;
    let (state, log_writer) = AppState::new(settings, db)?;

    let accounts = Accounts::default();
    let handler = accounts.clone();
    let work = BackgroundWork::start(&state, log_writer)
        .handle_events("sessions", move |event: &Event| handler.apply(event));

    let scim = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(accounts.clone()))
            .route("/login", web::post().to(login))
            .route("/me", web::get().to(me))
            .configure(|cfg| scimitar::configure(cfg, scim.clone()))
    })
    .listen(listener)?
    .run();
    println!("host app listening on {origin}, SCIM at {origin}/integrations/scim");
    server.await?;
    // The log writer ends when the last state goes; then the work can stop.
    drop(state);
    work.stop().await;
    Ok(())
}
