//! The example service (`examples/service`) over a real socket with a real HTTP client, on
//! a real PostgreSQL in RLS mode; the tenant layer and extractors; and the statement spans,
//! captured by a subscriber.

#[path = "../examples/service/app.rs"]
mod app;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode};
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tenant_query::http::{Loaders, TenantLayer};
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use uuid::Uuid;

use app::{ACME_TOKEN, GLOBEX_TOKEN};

// ---------------------------------------------------------------------------------------
// A real HTTP/1 client: one connection per request, over TCP.

struct Reply {
    status: StatusCode,
    body: Value,
}

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let payload = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    let response = sender
        .send_request(request.body(Full::new(payload)).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply { status, body }
}

/// The example service on a fresh database, listening on a free port.
struct Service {
    addr: SocketAddr,
    demo: app::Demo,
    _test_db: TestDb,
}

impl Service {
    async fn start() -> Service {
        capture();
        let test_db = TestDb::new().await.expect("a test database");
        let db = app::setup(&test_db).await.expect("setup");
        let demo = app::Demo::default();
        let addr = serve(app::router(db, demo.tokens())).await;
        Service {
            addr,
            demo,
            _test_db: test_db,
        }
    }

    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        send(self.addr, method, path, Some(token), body).await
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.call(token, Method::GET, path, None).await
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(token, Method::POST, path, Some(body)).await
    }

    async fn patch(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(token, Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, token: &str, path: &str) -> Reply {
        self.call(token, Method::DELETE, path, None).await
    }

    /// Creates a project, returning its id.
    async fn project(&self, token: &str, name: &str) -> String {
        let reply = self.post(token, "/projects", json!({ "name": name })).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        id(&reply.body)
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_owned()
}

fn names(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["name"].as_str().expect("a name"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The service, endpoint by endpoint.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_for_its_tenant() {
    let svc = Service::start().await;
    let a = ACME_TOKEN;

    let project = svc.post(a, "/projects", json!({ "name": "Apollo" })).await;
    assert_eq!(project.status, StatusCode::CREATED);
    assert_eq!(project.body["status"], "active");
    assert_eq!(project.body["org_id"], svc.demo.acme.to_string());
    let pid = id(&project.body);

    let got = svc.get(a, &format!("/projects/{pid}")).await;
    assert_eq!(
        (got.status, got.body["name"].as_str()),
        (StatusCode::OK, Some("Apollo"))
    );

    let renamed = svc
        .patch(
            a,
            &format!("/projects/{pid}"),
            json!({ "name": "Apollo 11" }),
        )
        .await;
    assert_eq!(
        (renamed.status, renamed.body["name"].as_str()),
        (StatusCode::OK, Some("Apollo 11"))
    );

    let duplicate = svc
        .post(a, "/projects", json!({ "name": "Apollo 11" }))
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT, "{}", duplicate.body);

    let task = svc
        .post(
            a,
            &format!("/projects/{pid}/tasks"),
            json!({ "title": "Launch" }),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.body);
    assert_eq!(task.body["project_id"], pid.as_str());
    let tid = id(&task.body);
    let second = svc
        .post(
            a,
            &format!("/projects/{pid}/tasks"),
            json!({ "title": "Land" }),
        )
        .await;
    let tid2 = id(&second.body);

    let tasks = svc.get(a, &format!("/projects/{pid}/tasks")).await;
    assert_eq!(tasks.status, StatusCode::OK);
    assert_eq!(tasks.body.as_array().map(Vec::len), Some(2));

    let done = svc
        .patch(a, &format!("/tasks/{tid2}"), json!({ "done": true }))
        .await;
    assert_eq!(
        (done.status, done.body["done"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    let comment = svc
        .post(
            a,
            &format!("/tasks/{tid}/comments"),
            json!({ "body": "go" }),
        )
        .await;
    assert_eq!(comment.status, StatusCode::CREATED, "{}", comment.body);
    assert_eq!(comment.body["task_id"], tid.as_str());

    let open = svc.get(a, "/tasks/open").await;
    assert_eq!(open.status, StatusCode::OK);
    assert_eq!(
        open.body,
        json!([{ "task": task.body, "project": "Apollo 11" }])
    );

    let tree = svc.get(a, "/tree").await;
    assert_eq!(tree.status, StatusCode::OK);
    let tree = tree.body.as_array().expect("a list").clone();
    assert_eq!(tree.len(), 1);
    assert_eq!(tree[0]["name"], "Apollo 11");
    let tree_tasks = tree[0]["tasks"].as_array().expect("tasks");
    assert_eq!(tree_tasks.len(), 2);
    assert_eq!(tree_tasks[0]["title"], "Launch");
    assert_eq!(tree_tasks[0]["comments"][0]["body"], "go");
    assert_eq!(tree_tasks[1]["comments"], json!([]));

    assert_eq!(
        svc.delete(a, &format!("/tasks/{tid2}")).await.status,
        StatusCode::NO_CONTENT
    );
    let tasks = svc.get(a, &format!("/projects/{pid}/tasks")).await;
    assert_eq!(tasks.body.as_array().map(Vec::len), Some(1));

    assert_eq!(
        svc.delete(a, &format!("/projects/{pid}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        svc.get(a, &format!("/projects/{pid}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        svc.delete(a, &format!("/projects/{pid}")).await.status,
        StatusCode::NOT_FOUND
    );

    let history = svc.get(a, &format!("/projects/{pid}/history")).await;
    assert_eq!(history.status, StatusCode::OK);
    let actions: Vec<&str> = history
        .body
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["insert", "update", "delete"]);
    assert_eq!(
        history.body[1]["changes"]["name"],
        json!({ "from": "Apollo", "to": "Apollo 11" })
    );
    assert_eq!(history.body[1]["actor"], svc.demo.alice.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_page_with_keyset_cursors() {
    let svc = Service::start().await;
    let a = ACME_TOKEN;
    let created: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(svc.project(a, &format!("p{i}")).await);
        }
        ids
    };
    svc.project(GLOBEX_TOKEN, "globex's own").await;

    let mut seen = Vec::new();
    let mut path = "/projects?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = svc.get(a, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        let items = page.body["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(id));
        match page.body["next"].as_str() {
            Some(next) => path = format!("/projects?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "every project once, in creation order");

    let archived = svc
        .patch(
            a,
            &format!("/projects/{}", created[1]),
            json!({ "status": "archived" }),
        )
        .await;
    assert_eq!(archived.status, StatusCode::OK);
    let filtered = svc.get(a, "/projects?status=archived").await;
    assert_eq!(names(&filtered.body["items"]), ["p1"]);
    assert_eq!(filtered.body["next"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_token_never_sees_or_changes_the_data() {
    let svc = Service::start().await;
    let (a, b) = (ACME_TOKEN, GLOBEX_TOKEN);
    let pid = svc.project(a, "Apollo").await;
    let task = svc
        .post(
            a,
            &format!("/projects/{pid}/tasks"),
            json!({ "title": "Launch" }),
        )
        .await;
    let tid = id(&task.body);
    svc.post(
        a,
        &format!("/tasks/{tid}/comments"),
        json!({ "body": "go" }),
    )
    .await;
    let before = (
        svc.get(a, &format!("/projects/{pid}")).await.body,
        svc.get(a, "/tree").await.body,
        svc.get(a, &format!("/projects/{pid}/history")).await.body,
    );

    // Every way in answers as for an id that does not exist: 404, never 403.
    let missing = Uuid::now_v7();
    for (method, path, body) in [
        (Method::GET, format!("/projects/{pid}"), None),
        (
            Method::PATCH,
            format!("/projects/{pid}"),
            Some(json!({ "name": "taken" })),
        ),
        (Method::DELETE, format!("/projects/{pid}"), None),
        (Method::GET, format!("/projects/{pid}/history"), None),
        (Method::GET, format!("/projects/{pid}/tasks"), None),
        (
            Method::POST,
            format!("/projects/{pid}/tasks"),
            Some(json!({ "title": "sneak" })),
        ),
        (
            Method::PATCH,
            format!("/tasks/{tid}"),
            Some(json!({ "done": true })),
        ),
        (Method::DELETE, format!("/tasks/{tid}"), None),
        (
            Method::POST,
            format!("/tasks/{tid}/comments"),
            Some(json!({ "body": "sneak" })),
        ),
    ] {
        let theirs = svc.call(b, method.clone(), &path, body.clone()).await;
        let nobodys = svc
            .call(
                b,
                method.clone(),
                &path
                    .replace(&pid, &missing.to_string())
                    .replace(&tid, &missing.to_string()),
                body,
            )
            .await;
        assert_eq!(
            theirs.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            theirs.body
        );
        assert_eq!(
            (theirs.status, &theirs.body),
            (nobodys.status, &nobodys.body),
            "{method} {path}"
        );
    }
    for path in ["/projects", "/tree", "/tasks/open"] {
        let listed = svc.get(b, path).await;
        assert_eq!(listed.status, StatusCode::OK);
        assert!(
            !listed.body.to_string().contains(&pid),
            "{path} shows tenant A's project"
        );
        assert!(
            !listed.body.to_string().contains(&svc.demo.acme.to_string()),
            "{path}"
        );
    }
    // B's own project of the same name is no conflict: names are unique per tenant.
    svc.project(b, "Apollo").await;

    let after = (
        svc.get(a, &format!("/projects/{pid}")).await.body,
        svc.get(a, "/tree").await.body,
        svc.get(a, &format!("/projects/{pid}/history")).await.body,
    );
    assert_eq!(before, after, "tenant A's data is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_tenant_is_401_and_without_the_layer_500() {
    let svc = Service::start().await;
    for token in [None, Some("not-a-token")] {
        let reply = send(svc.addr, Method::GET, "/projects", token, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        let reply = send(
            svc.addr,
            Method::POST,
            "/projects",
            token,
            Some(json!({ "name": "x" })),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
    }

    // The same extractors on a router the layer does not wrap, and an optional scope.
    async fn scoped(s: ScopedDb) -> String {
        s.tenant_scope().tenant_id().to_string()
    }
    async fn optional(scope: Option<TenantScope>) -> String {
        scope
            .map(|s| s.tenant_id().to_string())
            .unwrap_or_else(|| "anonymous".into())
    }
    let bare = serve(
        Router::new()
            .route("/scoped", get(scoped))
            .route("/optional", get(optional)),
    )
    .await;
    for path in ["/scoped", "/optional"] {
        let reply = send(bare, Method::GET, path, Some(ACME_TOKEN), None).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            reply
                .body
                .as_str()
                .is_some_and(|m| m.contains("TenantLayer")),
            "{}",
            reply.body
        );
    }

    let test_db = TestDb::new().await.expect("a test database");
    let tenant = Uuid::now_v7();
    let header = |parts: &Parts| {
        let tenant = parts
            .headers
            .get("x-tenant")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        async move { tenant.map(TenantScope::new) }
    };
    let layered = serve(
        Router::new()
            .route("/scoped", get(scoped))
            .route("/optional", get(optional))
            .layer(TenantLayer::new(test_db.db().clone(), header)),
    )
    .await;
    let with_header = |path: &'static str| async move {
        let stream = tokio::net::TcpStream::connect(layered)
            .await
            .expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let request = Request::get(path)
            .header("host", "x")
            .header("x-tenant", tenant.to_string())
            .body(Full::new(Bytes::new()))
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status();
        (
            status,
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes(),
        )
    };
    assert_eq!(
        with_header("/scoped").await,
        (StatusCode::OK, Bytes::from(tenant.to_string()))
    );
    assert_eq!(
        with_header("/optional").await,
        (StatusCode::OK, Bytes::from(tenant.to_string()))
    );
    assert_eq!(
        send(layered, Method::GET, "/optional", None, None)
            .await
            .body,
        json!("anonymous")
    );
    assert_eq!(
        send(layered, Method::GET, "/scoped", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// Each request gets loaders of its own: a row cached by one request is read again by the
/// next, which sees the write made in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaders_live_for_one_request() {
    let svc = Service::start().await;
    let a = ACME_TOKEN;
    let pid = svc.project(a, "Apollo").await;
    for title in ["one", "two", "three"] {
        svc.post(
            a,
            &format!("/projects/{pid}/tasks"),
            json!({ "title": title }),
        )
        .await;
    }
    let first = svc.get(a, "/tasks/open").await;
    let projects: Vec<&Value> = first
        .body
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["project"])
        .collect();
    assert_eq!(projects, [&json!("Apollo"); 3]);
    let tenant = svc.demo.acme.to_string();
    let reads = || {
        spans_of(&tenant)
            .into_iter()
            .filter(|s| s.fields.get("otel.name").map(String::as_str) == Some("SELECT projects"))
            .count()
    };
    let before = reads();
    svc.patch(a, &format!("/projects/{pid}"), json!({ "name": "Artemis" }))
        .await;
    let second = svc.get(a, "/tasks/open").await;
    assert!(
        second
            .body
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["project"] == "Artemis"),
        "{}",
        second.body
    );
    // Three tasks, one project read for all of them: the request's loader batched them.
    assert_eq!(reads() - before, 1);

    // In code: a set and its clones share one loader per entity (and so one cache); a new
    // set starts empty.
    let test_db = TestDb::new().await.expect("a test database");
    test_db.execute_script(app::SCHEMA).await.expect("schema");
    test_db.db().migrate().await.expect("migrate");
    let s = test_db.db().scope(&TenantScope::new(svc.demo.acme));
    let stored = app::Project::insert(
        &s,
        app::NewProject {
            name: "stored".into(),
            status: "active".into(),
        },
    )
    .await
    .expect("insert");
    let loaders = Loaders::new(&s);
    assert_eq!(loaders.tenant_scope().tenant_id(), svc.demo.acme);
    let primed = app::Project {
        name: "primed".into(),
        ..stored.clone()
    };
    loaders.get::<app::Project>().prime(primed.clone()).unwrap();
    let clone = loaders.clone();
    assert_eq!(
        clone
            .get::<app::Project>()
            .load(stored.id)
            .await
            .expect("load"),
        Some(primed)
    );
    assert_eq!(
        Loaders::new(&s)
            .get::<app::Project>()
            .load(stored.id)
            .await
            .expect("load"),
        Some(stored)
    );
}

// ---------------------------------------------------------------------------------------
// Spans: a subscriber for the whole test binary records every span and event.

#[derive(Debug, Clone)]
struct Captured {
    name: &'static str,
    target: String,
    fields: BTreeMap<String, String>,
}

/// Spans with the id they had (ids are reused once a span closes, so the latest with an
/// id is the open one), and events.
#[derive(Default, Clone)]
struct Capture {
    spans: Arc<Mutex<Vec<(u64, Captured)>>>,
    events: Arc<Mutex<Vec<Captured>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S>
    for Capture
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let captured = Captured {
            name: attrs.metadata().name(),
            target: attrs.metadata().target().to_owned(),
            fields,
        };
        let mut spans = self.spans.lock().expect("capture");
        spans.push((id.into_u64(), captured));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().expect("capture");
        if let Some((_, span)) = spans.iter_mut().rev().find(|(k, _)| *k == id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().expect("capture").push(Captured {
            name: event.metadata().name(),
            target: event.metadata().target().to_owned(),
            fields,
        });
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing_subscriber::registry().with(capture.clone()).init();
        capture
    })
}

/// The statement spans of `tenant`, in creation order.
fn spans_of(tenant: &str) -> Vec<Captured> {
    capture()
        .spans
        .lock()
        .expect("capture")
        .iter()
        .map(|(_, span)| span)
        .filter(|s| s.fields.get("tenant.id").map(String::as_str) == Some(tenant))
        .cloned()
        .collect()
}

fn field<'a>(span: &'a Captured, name: &str) -> &'a str {
    span.fields
        .get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no {name} in {span:?}"))
}

#[tokio::test]
async fn statements_are_spans_with_database_attributes() {
    capture();
    let test_db = TestDb::new().await.expect("a test database");
    test_db.execute_script(app::SCHEMA).await.expect("schema");
    test_db.db().migrate().await.expect("migrate");
    let tenant = Uuid::now_v7();
    let s = test_db.db().scope(&TenantScope::new(tenant));
    let tenant = tenant.to_string();

    let project = app::Project::insert(
        &s,
        app::NewProject {
            name: "Apollo".into(),
            status: "active".into(),
        },
    )
    .await
    .expect("insert");
    app::Project::find(&s, project.id).await.expect("find");
    let duplicate = app::Project::insert(
        &s,
        app::NewProject {
            name: "Apollo".into(),
            status: "active".into(),
        },
    )
    .await;
    assert_eq!(
        duplicate
            .as_ref()
            .err()
            .and_then(tenant_query::Error::sqlstate)
            .as_deref(),
        Some("23505")
    );
    app::Project::delete(&s, project.id).await.expect("delete");

    let spans = spans_of(&tenant);
    let summaries: Vec<&str> = spans.iter().map(|s| field(s, "db.query.summary")).collect();
    assert_eq!(
        summaries,
        [
            "INSERT projects",
            "SELECT projects",
            "INSERT projects",
            "UPDATE projects"
        ]
    );
    let (write, read, failed, delete) = (&spans[0], &spans[1], &spans[2], &spans[3]);

    for (span, operation) in [
        (write, "INSERT"),
        (read, "SELECT"),
        (failed, "INSERT"),
        (delete, "UPDATE"),
    ] {
        assert_eq!(span.name, operation, "{span:?}");
        assert_eq!(span.target, "tenant_query::statement");
        assert_eq!(field(span, "otel.name"), format!("{operation} projects"));
        assert_eq!(field(span, "otel.kind"), "client");
        assert_eq!(field(span, "db.system.name"), "postgresql");
        assert_eq!(field(span, "db.operation.name"), operation);
        assert_eq!(field(span, "db.collection.name"), "projects");
        assert_eq!(field(span, "tenant.id"), tenant);
        assert!(
            field(span, "db.namespace").starts_with("tenant_query_test_"),
            "{span:?}"
        );
        assert!(
            field(span, "db.query.text").contains("\"projects\""),
            "{span:?}"
        );
        // The text is the parameterised statement: no value of the row is in it.
        assert!(!field(span, "db.query.text").contains("Apollo"), "{span:?}");
        assert!(field(span, "db.query.text").contains("$1"), "{span:?}");
    }
    assert!(field(read, "db.query.text").starts_with("SELECT "));
    for span in [write, read, delete] {
        assert!(
            !span.fields.contains_key("db.response.status_code"),
            "{span:?}"
        );
        assert!(!span.fields.contains_key("otel.status_code"), "{span:?}");
    }
    assert_eq!(field(failed, "db.response.status_code"), "23505");
    assert_eq!(field(failed, "error.type"), "23505");
    assert_eq!(field(failed, "otel.status_code"), "ERROR");

    // A query builder read and the audit log have spans of their own.
    app::Project::query()
        .only_deleted()
        .count(&s)
        .await
        .expect("count");
    tenant_query::AuditRecord::for_entity::<app::Project>(&s, project.id)
        .await
        .expect("history");
    let summaries: Vec<String> = spans_of(&tenant)
        .iter()
        .skip(4)
        .map(|s| field(s, "db.query.summary").to_owned())
        .collect();
    assert_eq!(summaries, ["SELECT projects", "SELECT tenant_audit_log"]);

    // Cross-tenant access is an event with its reason, and refused without one.
    test_db
        .db()
        .cross_tenant("span test: nightly usage report")
        .expect("a reason");
    assert!(test_db.db().cross_tenant(" ").is_err());
    let events = capture().events.lock().expect("capture").clone();
    let crossing: Vec<&Captured> = events
        .iter()
        .filter(|e| e.target == "tenant_query::cross_tenant")
        .filter(|e| {
            e.fields.get("reason").map(String::as_str) == Some("span test: nightly usage report")
        })
        .collect();
    assert_eq!(crossing.len(), 1, "{events:?}");
    assert_eq!(
        crossing[0].fields.get("message").map(String::as_str),
        Some("cross-tenant access")
    );
}

/// Through the service in RLS mode, each statement's span names the token's tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_spans_carry_its_tenant() {
    let svc = Service::start().await;
    let pid = svc.project(GLOBEX_TOKEN, "Gemini").await;
    svc.get(GLOBEX_TOKEN, &format!("/projects/{pid}")).await;
    let globex = spans_of(&svc.demo.globex.to_string());
    let summaries: Vec<&str> = globex
        .iter()
        .map(|s| field(s, "db.query.summary"))
        .collect();
    assert_eq!(summaries, ["INSERT projects", "SELECT projects"]);
    assert!(spans_of(&svc.demo.acme.to_string()).is_empty());
}

/// A service whose tenants are `i64` accounts: the layer made with `for_tenants`, handlers
/// taking `ScopedDb<i64>` and `Loaders<i64>`; another account's and deleted rows stay out.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "notes", audit)]
pub struct Note {
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(tenant_id)]
    pub account_id: i64,
    pub body: String,
    #[tenant(soft_delete)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[tokio::test]
async fn a_service_of_bigint_tenants() {
    use axum::extract::Path;
    use tenant_query::AuditAction;

    async fn read(loaders: Loaders<i64>, Path(id): Path<i64>) -> Result<String, StatusCode> {
        match loaders.get::<Note>().load(id).await {
            Ok(Some(note)) => Ok(format!("{}:{}", note.account_id, note.body)),
            Ok(None) => Err(StatusCode::NOT_FOUND),
            Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
    async fn delete(s: ScopedDb<i64>, Path(id): Path<i64>) -> StatusCode {
        match Note::delete(&s, id).await {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(tenant_query::Error::NotFound { .. }) => StatusCode::NOT_FOUND,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    let test_db = TestDb::new().await.expect("a test database");
    let db = test_db.db().clone();
    db.migrate_for_tenant::<i64>().await.unwrap();
    test_db
        .execute_script(
            "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
             account_id bigint NOT NULL, body text NOT NULL, deleted_at timestamptz)",
        )
        .await
        .unwrap();
    let (a, b) = (
        db.scope(&TenantScope::new(7_i64)),
        db.scope(&TenantScope::new(8_i64)),
    );
    let new = |body: &str| NewNote { body: body.into() };
    let mine = Note::insert(&a, new("mine")).await.unwrap();
    let gone = Note::insert(&a, new("gone")).await.unwrap();
    Note::delete(&a, gone.id).await.unwrap();
    let theirs = Note::insert(&b, new("theirs")).await.unwrap();

    // The account is the bearer token; anything else resolves no tenant.
    let account = |parts: &Parts| {
        let id: Option<i64> = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()?.strip_prefix("Bearer ")?.parse().ok());
        async move { id.map(TenantScope::new) }
    };
    let addr = serve(
        Router::new()
            .route("/notes/{id}", get(read))
            .route("/notes/{id}/delete", axum::routing::post(delete))
            .layer(TenantLayer::for_tenants(db.clone(), account)),
    )
    .await;
    let get_note = |id: i64, token: Option<&'static str>| async move {
        send(addr, Method::GET, &format!("/notes/{id}"), token, None).await
    };
    let ok = get_note(mine.id, Some("7")).await;
    assert_eq!(
        (ok.status, ok.body.clone()),
        (StatusCode::OK, json!("7:mine"))
    );
    assert_eq!(
        get_note(theirs.id, Some("7")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_note(gone.id, Some("7")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_note(mine.id, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_note(mine.id, Some("acme")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let path = |id: i64| format!("/notes/{id}/delete");
    let refused = send(addr, Method::POST, &path(theirs.id), Some("7"), None).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(Note::get(&b, theirs.id).await.unwrap().body, "theirs");
    let deleted = send(addr, Method::POST, &path(mine.id), Some("7"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let history = AuditRecord::for_entity::<Note>(&a, mine.id).await.unwrap();
    let actions: Vec<AuditAction> = history.iter().map(|r| r.action).collect();
    assert_eq!(actions, [AuditAction::Insert, AuditAction::Delete]);
    assert!(
        history
            .iter()
            .all(|r| r.tenant_id == 7 && r.entity_id == mine.id)
    );
    assert!(
        AuditRecord::for_entity::<Note>(&b, theirs.id)
            .await
            .unwrap()
            .len()
            == 1
    );
}
