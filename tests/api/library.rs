//! Library mode: a host's own actix app mounts Scimitar's SCIM routes beside its routes, under
//! its own path, runs the background work on its runtime, and stops it with the handle.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use scimitar::storage::{Db, Waits};
use scimitar::{AppState, BackgroundWork, Settings};
use serde_json::{Value, json};

use crate::helpers::{Backend, eventually, provisioning_log};
use crate::on_both_backends;

fn a_host_app_mounts_scimitar_and_runs_its_background_work(b: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = b.fresh_database(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let settings = Settings {
        database_url: database.url.clone(),
        public_url: Some(origin.clone()),
        scim_path: "/integrations/scim".into(),
        ..Settings::default()
    };
    let db = Db::open(&database.url, 4, Waits::default()).expect("database");
    let token = scimitar::service::tenants::create(&db, "acme")
        .expect("tenant")
        .token
        .reveal();

    let (started, running) = std::sync::mpsc::channel();
    let host = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let (state, log_writer) = AppState::new(settings, db).expect("state");
            let work = BackgroundWork::start(&state, log_writer);
            let app_state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .route(
                        "/hello",
                        web::get().to(|| async { HttpResponse::Ok().body("host") }),
                    )
                    .configure(|cfg| scimitar::configure(cfg, app_state.clone()))
            })
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
            started.send(server.handle()).expect("report");
            server.await.expect("server");
            drop(state);
            work.stop().await;
        });
    });
    let handle = running.recv().expect("the host started");

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let hello = agent
        .get(format!("{origin}/hello"))
        .call()
        .expect("GET /hello");
    assert_eq!(hello.status().as_u16(), 200);
    let mut created = agent
        .post(format!("{origin}/integrations/scim/Users"))
        .header("Authorization", format!("Bearer {token}"))
        .send_json(json!({"userName": "ann@example.com"}))
        .expect("POST");
    assert_eq!(created.status().as_u16(), 201);
    let user: Value = created.body_mut().read_json().expect("JSON");
    assert!(
        user["meta"]["location"]
            .as_str()
            .is_some_and(|l| l.starts_with(&format!("{origin}/integrations/scim/Users/"))),
        "{user}"
    );

    let discovery = agent
        .get(format!("{origin}/integrations/scim/ServiceProviderConfig"))
        .call()
        .expect("GET");
    assert_eq!(discovery.status().as_u16(), 200);
    let elsewhere = agent
        .get(format!("{origin}/scim/v2/ServiceProviderConfig"))
        .call()
        .expect("GET");
    assert_eq!(elsewhere.status().as_u16(), 404);

    // The log writer runs on the host's runtime: the request's entry is written.
    let check = Db::connect(&database.url, 1).expect("test pool");
    eventually(Duration::from_secs(10), "the log entry is written", || {
        (provisioning_log(&check, "acme", 10).len() == 1).then_some(())
    });

    actix_web::rt::System::new().block_on(handle.stop(true));
    host.join().expect("the host stopped");
}

on_both_backends!(a_host_app_mounts_scimitar_and_runs_its_background_work);
