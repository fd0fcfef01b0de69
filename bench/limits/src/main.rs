//! The limit server of Scimitar's benchmarks: the least work a SCIM server on Scimitar's stack
//! (actix-web, one worker; diesel, r2d2 and the bundled SQLite) must do per request, so that
//! `bench/run` can print each of Scimitar's phases as a fraction of what the machine allows.
//!
//! - `GET /static`: the bearer check, then a fixed 1 KB JSON body (the read limit).
//! - `POST /insert`: the bearer check, the JSON body parsed, one autocommit INSERT at
//!   `synchronous = FULL` in WAL mode, as Scimitar commits (the naive write limit).
//! - `GET /read/{n}`: the bearer check, then one primary-key SELECT through an r2d2 pool on the
//!   blocking thread pool (`web::block`), as Scimitar reads.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, ContentType};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, error, web};
use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

diesel::table! {
    items (id) {
        id -> BigInt,
        body -> Text,
    }
}

/// Command line of the limit server.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on; port 0 picks a free one (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The SQLite file (created when missing).
    #[arg(long)]
    db: String,
    /// The bearer token every request must carry.
    #[arg(long, env = "BENCH_LIMITS_TOKEN")]
    token: String,
    /// Rows seeded for `GET /read/{n}`, numbered from 1.
    #[arg(long, default_value_t = 10_000)]
    rows: i64,
    /// Connections in the read pool; Scimitar's default pool size.
    #[arg(long, default_value_t = 8)]
    pool_size: u32,
}

type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

/// The server's shared state: the token's hash and the two pools.
struct Limits {
    token_hash: [u8; 32],
    /// One connection: writers take turns here rather than in SQLite's busy handler, which
    /// sleeps; the fastest a naive server can commit one INSERT per request.
    writer: SqlitePool,
    readers: SqlitePool,
    body: String,
}

/// Scimitar's connection settings: WAL, a durable commit, a busy timeout.
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, c: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        c.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

fn pool(db: &str, size: u32) -> Result<SqlitePool, String> {
    Pool::builder()
        .max_size(size)
        .connection_timeout(Duration::from_secs(5))
        .connection_customizer(Box::new(Pragmas))
        .build(ConnectionManager::new(db))
        .map_err(|e| format!("cannot open {db}: {e}"))
}

/// A user-shaped JSON document of about 1 KB, the size of a typical SCIM User.
fn document(n: i64) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": format!("{n:08}-0000-4000-8000-000000000000"),
        "externalId": format!("ext-{n}"),
        "userName": format!("user{n}@example.com"),
        "name": {"givenName": "Benchmark", "familyName": format!("User {n}"), "formatted": format!("Benchmark User {n}")},
        "displayName": format!("Benchmark User {n}"),
        "active": true,
        "emails": [{"value": format!("user{n}@example.com"), "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "addresses": [{"streetAddress": "1 Example Street", "locality": "Springfield", "postalCode": "12345", "country": "US", "type": "work"}],
        "title": "Engineer",
        "preferredLanguage": "en-US", "locale": "en-US", "timezone": "America/Los_Angeles",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": format!("{n}"), "department": "Research and Development", "organization": "Example Inc."},
        "meta": {"resourceType": "User", "created": "2026-12-01T00:00:00Z", "lastModified": "2026-12-01T00:00:00Z", "version": "W/\"1\"", "location": format!("http://localhost/scim/v2/Users/{n:08}-0000-4000-8000-000000000000")}
    })
}

fn seed(writer: &SqlitePool, rows: i64) -> Result<(), String> {
    let mut c = writer.get().map_err(|e| e.to_string())?;
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    )
    .map_err(|e| e.to_string())?;
    let have: i64 = items::table
        .count()
        .get_result(&mut c)
        .map_err(|e| e.to_string())?;
    c.transaction(|c| {
        for n in have + 1..=rows {
            diesel::insert_into(items::table)
                .values((items::id.eq(n), items::body.eq(document(n).to_string())))
                .execute(c)?;
        }
        diesel::QueryResult::Ok(())
    })
    .map_err(|e| e.to_string())
}

/// The bearer check: the token's SHA-256 compared in constant time, as a verified token is
/// recognised in Scimitar's cache.
fn authorised(req: &HttpRequest, limits: &Limits) -> Result<(), error::Error> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| error::ErrorUnauthorized("a bearer token is needed"))?;
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if bool::from(hash.ct_eq(&limits.token_hash)) {
        Ok(())
    } else {
        Err(error::ErrorUnauthorized("wrong token"))
    }
}

/// A database failure on the blocking pool, carried back as plain data (actix's error is not
/// `Send`).
type DbFailure = (StatusCode, String);

fn unavailable(e: diesel::r2d2::PoolError) -> DbFailure {
    (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn failed(e: diesel::result::Error) -> DbFailure {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn into_response((status, message): DbFailure) -> error::Error {
    error::InternalError::new(message, status).into()
}

fn scim_json(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(ContentType(
            "application/scim+json"
                .parse()
                .expect("a constant media type"),
        ))
        .body(body)
}

async fn static_json(
    req: HttpRequest,
    limits: web::Data<Limits>,
) -> actix_web::Result<HttpResponse> {
    authorised(&req, &limits)?;
    Ok(scim_json(StatusCode::OK, limits.body.clone()))
}

async fn insert(
    req: HttpRequest,
    body: web::Bytes,
    limits: web::Data<Limits>,
) -> actix_web::Result<HttpResponse> {
    authorised(&req, &limits)?;
    let doc: Value = serde_json::from_slice(&body).map_err(error::ErrorBadRequest)?;
    let text = doc.to_string();
    let state = limits.clone();
    // The stored document is sent back, as a SCIM create answers with the created resource.
    let stored = web::block(move || {
        let mut c = state.writer.get().map_err(unavailable)?;
        diesel::insert_into(items::table)
            .values(items::body.eq(&text))
            .execute(&mut c)
            .map_err(failed)?;
        Ok(text)
    })
    .await?
    .map_err(into_response)?;
    Ok(scim_json(StatusCode::CREATED, stored))
}

async fn read(
    req: HttpRequest,
    path: web::Path<i64>,
    limits: web::Data<Limits>,
) -> actix_web::Result<HttpResponse> {
    authorised(&req, &limits)?;
    let n = path.into_inner();
    let state = limits.clone();
    let body = web::block(move || {
        let mut c = state.readers.get().map_err(unavailable)?;
        items::table
            .find(n)
            .select(items::body)
            .first::<String>(&mut c)
            .optional()
            .map_err(failed)
    })
    .await?
    .map_err(into_response)?
    .ok_or_else(|| error::ErrorNotFound("no such row"))?;
    Ok(scim_json(StatusCode::OK, body))
}

#[actix_web::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let writer = pool(&args.db, 1)?;
    seed(&writer, args.rows)?;
    let limits = web::Data::new(Limits {
        token_hash: Sha256::digest(args.token.as_bytes()).into(),
        readers: pool(&args.db, args.pool_size)?,
        writer,
        body: document(1).to_string(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(limits.clone())
            .route("/static", web::get().to(static_json))
            .route("/insert", web::post().to(insert))
            .route("/read/{n}", web::get().to(read))
    })
    .workers(1)
    .bind(&args.listen)
    .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    // bench/run reads the port from this line.
    for addr in server.addrs() {
        println!("listening on {addr}");
    }
    server.run().await.map_err(|e| e.to_string())
}
