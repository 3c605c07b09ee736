//! The HTTP/JSON API.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /health` | | `{"status":"ok","node":…,"members":[…],"suspect":[…]}` (never needs the token) |
//! | `GET /metrics` | | Prometheus text format ([`crate::metrics`]) |
//! | `GET /v1/sets` | | `{"sets":[{"name":…,"len":…}]}` |
//! | `GET /v1/sets/{name}` | | `{"name":…,"len":…,"elements":[…]}` (a set never written is empty) |
//! | `POST /v1/sets/{name}` | `{"element":V}` or `{"elements":[V…]}` | `{"added":…,"len":…}` |
//! | `GET /v1/counters` | | `{"counters":[{"name":…,"value":…}]}` |
//! | `GET /v1/counters/{name}` | | `{"name":…,"value":…}` |
//! | `POST /v1/counters/{name}` | `{"delta":N}` (a signed 64-bit integer) | `{"value":…}` |
//!
//! Elements are any JSON values (identity by canonical form: object keys sorted); names are 1-128 of
//! `A-Z a-z 0-9 _ - . :`. Reads are local. A write is acknowledged (`200`) once it is as durable as `--fsync` says.
//!
//! Every error is JSON, `{"error":"<code>","message":"<what is wrong>"}`: 400 `bad_request` (malformed JSON, a
//! wrong field, a bad name), 401 `unauthorized` (missing or wrong token), 404 `not_found` (no such route), 405
//! `method_not_allowed`, 413 `body_too_large` (over `--max-body-bytes`), 422 `limit_exceeded` (a cap) and
//! `out_of_range` (a counter past 64 bits), 503 `storage_failed` (the log could not be written: the write is
//! applied in memory but not acknowledged as durable).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::OpError;
use crate::objects::{Objects, check_name};
use crate::server::{App, Durable};

/// An API error: status, code and message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": self.code, "message": self.message}))).into_response()
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        match e {
            OpError::BadName(m) | OpError::BadValue(m) => ApiError::bad_request(m),
            OpError::OverLimit(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded", m),
        }
    }
}

fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is over the limit")
    } else {
        ApiError::new(e.status(), "bad_request", e.body_text())
    }
}

fn name_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(name) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    check_name(&name).map_err(ApiError::bad_request)?;
    Ok(name)
}

fn parse<T: for<'de> Deserialize<'de>>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(body_error)?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the body is not valid: {e}")))
}

/// `POST /v1/sets/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddElements {
    element: Option<Value>,
    elements: Option<Vec<Value>>,
}

/// `POST /v1/counters/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddToCounter {
    delta: i64,
}

fn number(value: i128) -> Result<Value, ApiError> {
    serde_json::Number::from_i128(value).map(Value::Number).ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "out_of_range", format!("the value {value} is past 64 bits"))
    })
}

/// Waits for a write's log record, if there is one.
async fn durable(ack: Option<Durable>) -> Result<(), ApiError> {
    let Some(ack) = ack else { return Ok(()) };
    match ack.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_failed", e)),
        Err(_) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_failed", "the log writer stopped")),
    }
}

async fn add_elements(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = name_of(path)?;
    let req: AddElements = parse(body)?;
    let values = match (req.element, req.elements) {
        (Some(v), None) => vec![v],
        (None, Some(vs)) => vs,
        _ => return Err(ApiError::bad_request("give exactly one of \"element\" and \"elements\"")),
    };
    let (added, ack) = app.write(|core, now| {
        let mut added = core.add_elements(now, &name, &values)?;
        // The record holds every value written, new or not: a value another write added moments ago may not be on
        // disk yet, and this write's acknowledgement must not come before it is. When every value was new, that
        // is the delta.
        if added.added == values.len() as u64 {
            let record = std::mem::take(&mut added.delta);
            return Ok((added, record));
        }
        let mut all = osmosis_crdt::JsonSet::new();
        for v in &values {
            all.insert(v);
        }
        Ok((added, Objects::with_set(&name, all)))
    })?;
    durable(ack).await?;
    Ok(axum::Json(json!({"added": added.added, "len": added.len})).into_response())
}

async fn read_set(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = name_of(path)?;
    let set = app.read(|core| core.state().set(&name).cloned()).unwrap_or_default();
    let body = json!({"name": name, "len": set.len(), "elements": set.to_values()});
    Ok(axum::Json(body).into_response())
}

async fn list_sets(State(app): State<Arc<App>>) -> Response {
    let sets: Vec<Value> =
        app.read(|core| core.state().sets().iter().map(|(n, s)| json!({"name": n, "len": s.len()})).collect());
    axum::Json(json!({ "sets": sets })).into_response()
}

async fn add_to_counter(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = name_of(path)?;
    let req: AddToCounter = parse(body)?;
    let (counted, ack) = app.write(|core, now| {
        let c = core.add_to_counter(now, &name, req.delta)?;
        let record = c.delta.clone();
        Ok((c, record))
    })?;
    durable(ack).await?;
    Ok(axum::Json(json!({ "value": number(counted.value)? })).into_response())
}

async fn read_counter(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = name_of(path)?;
    let value = app.read(|core| core.state().counter(&name).map_or(0, |c| c.read()));
    Ok(axum::Json(json!({"name": name, "value": number(value)?})).into_response())
}

async fn list_counters(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let values: Vec<(String, i128)> =
        app.read(|core| core.state().counters().iter().map(|(n, c)| (n.clone(), c.read())).collect());
    let mut out = Vec::with_capacity(values.len());
    for (name, v) in values {
        out.push(json!({"name": name, "value": number(v)?}));
    }
    Ok(axum::Json(json!({ "counters": out })).into_response())
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let (node, peers, members): (String, BTreeMap<String, bool>, Vec<String>) =
        app.read(|core| (core.name().to_string(), core.peers(), core.members()));
    let suspect: Vec<&String> = peers.iter().filter(|(_, s)| **s).map(|(n, _)| n).collect();
    axum::Json(json!({"status": "ok", "node": node, "members": members, "suspect": suspect})).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    app.read(|core| core.update_gauges());
    let mut r = app.metrics.render().into_response();
    let ct = HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    r.headers_mut().insert(header::CONTENT_TYPE, ct);
    r
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see GET /health, /metrics, /v1/sets, /v1/counters",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}

/// Requires the bearer token on every route but `/health`, when the daemon has one.
async fn authorize(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Some(token) = &app.token
        && req.uri().path() != "/health"
    {
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let ok = given.and_then(|g| g.strip_prefix("Bearer ")).is_some_and(|g| {
            // Compare hashes: constant time whatever the lengths.
            blake3::hash(g.as_bytes()) == blake3::hash(token.as_bytes())
        });
        if !ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid `Authorization: Bearer` token is required",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Counts requests by matched route and status.
async fn count(State(app): State<Arc<App>>, req: Request<Body>, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let response = next.run(req).await;
    let labels = vec![("route", route), ("status", response.status().as_u16().to_string())];
    app.metrics.http.get_or_create(&labels).inc();
    response
}

/// The API's router.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/sets", get(list_sets))
        .route("/v1/sets/{name}", get(read_set).post(add_elements))
        .route("/v1/counters", get(list_counters))
        .route("/v1/counters/{name}", get(read_counter).post(add_to_counter))
        .route_layer(middleware::from_fn_with_state(app.clone(), count))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), authorize))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}
