//! The HTTP routes: `POST /v1/events`, `GET /health`, `GET /metrics`, and
//! on the admin listener `POST /admin/reload`.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::Digest as _;
use tokio::sync::oneshot;

use super::buffers::Buffers;
use super::metrics::{BatchLabels, Outcome};
use super::{Server, log, worker};

/// The public routes.
pub(super) fn app(server: Server) -> Router {
    Router::new()
        .route("/v1/events", post(events))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(server)
}

/// The admin routes (loopback only, checked by the caller).
pub(super) fn admin(server: Server) -> Router {
    Router::new()
        .route("/admin/reload", post(reload))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(server)
}

async fn health(State(server): State<Server>) -> Response {
    let s = &server.shared;
    if s.closing.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            json(r#"{"status":"closing"}"#),
        )
            .into_response();
    }
    let body = format!(r#"{{"status":"ok","rules":{}}}"#, s.metrics.rules.get());
    (StatusCode::OK, json(&body)).into_response()
}

async fn metrics(State(server): State<Server>) -> Response {
    let text = server.shared.metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn reload(State(server): State<Server>) -> Response {
    match server.reload().await {
        Ok(r) => {
            log("info", "rules reloaded", &[("rules", &r.rules)]);
            (
                StatusCode::OK,
                json(&format!(r#"{{"reloaded":true,"rules":{}}}"#, r.rules)),
            )
                .into_response()
        }
        Err(e) => {
            log(
                "error",
                "reload failed, the old rules keep running",
                &[("error", &e)],
            );
            let body = serde_json::json!({"reloaded": false, "error": e}).to_string();
            (StatusCode::UNPROCESSABLE_ENTITY, json(&body)).into_response()
        }
    }
}

/// A refusal that tells the sender what to do.
fn refuse(server: &Server, status: StatusCode, outcome: Outcome, why: &str) -> Response {
    let s = &server.shared;
    s.metrics
        .batches
        .get_or_create(&BatchLabels { outcome })
        .inc();
    let body = serde_json::json!({"error": why}).to_string();
    let mut response = (status, json(&body)).into_response();
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        let secs = s.config.retry_after.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

fn json(body: &str) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Decoded bytes of the request in flight, released when dropped.
struct InFlight {
    server: Server,
    _permits: Vec<tokio::sync::OwnedSemaphorePermit>,
    bytes: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.server
            .shared
            .metrics
            .inflight_bytes
            .dec_by(self.bytes as i64);
    }
}

impl InFlight {
    /// Takes `bytes` more of the budget, or says no at once.
    fn grow(&mut self, bytes: usize) -> bool {
        let s = &self.server.shared;
        let Ok(n) = u32::try_from(bytes) else {
            return false;
        };
        match Arc::clone(&s.inflight).try_acquire_many_owned(n) {
            Ok(p) => {
                self._permits.push(p);
                self.bytes += bytes;
                s.metrics.inflight_bytes.inc_by(bytes as i64);
                true
            }
            Err(_) => false,
        }
    }
}

async fn events(State(server): State<Server>, headers: HeaderMap, body: Body) -> Response {
    let s = Arc::clone(&server.shared);
    if s.closing.load(Ordering::SeqCst) {
        return refuse(
            &server,
            StatusCode::SERVICE_UNAVAILABLE,
            Outcome::shutting_down,
            "shutting down: send the batch again, to this or another instance",
        );
    }
    let limit = s.config.max_request_bytes;
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().map(str::trim))
    {
        None | Some(Ok("identity")) => false,
        Some(Ok(e)) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => true,
        Some(_) => {
            return refuse(
                &server,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Outcome::bad_request,
                "Content-Encoding must be gzip or none",
            );
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return refuse(
            &server,
            StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::too_large,
            &format!("a batch may hold {limit} bytes (--max-request-bytes): send smaller batches"),
        );
    }
    // Admission before reading: the bytes on the wire (all the limit when
    // the length is not declared), topped up below once decoded.
    let mut inflight = InFlight {
        server: server.clone(),
        _permits: Vec::new(),
        bytes: 0,
    };
    let wire = declared.unwrap_or(limit);
    if !inflight.grow(wire) {
        return refuse(
            &server,
            StatusCode::TOO_MANY_REQUESTS,
            Outcome::busy,
            "busy: too many bytes in flight (--max-inflight-bytes); retry after the delay",
        );
    }
    let raw = match read_body(body, limit, &s.buffers).await {
        Ok(b) => b,
        Err(ReadBody::TooLarge) => {
            return refuse(
                &server,
                StatusCode::PAYLOAD_TOO_LARGE,
                Outcome::too_large,
                &format!(
                    "a batch may hold {limit} bytes (--max-request-bytes): send smaller batches"
                ),
            );
        }
        Err(ReadBody::Failed(e)) => {
            return refuse(
                &server,
                StatusCode::BAD_REQUEST,
                Outcome::bad_request,
                &format!("cannot read the body: {e}"),
            );
        }
    };
    let decoded: Vec<u8> = if gzip {
        let buffers = Arc::clone(&s.buffers);
        let unzipped = tokio::task::spawn_blocking(move || {
            let out = gunzip(
                &raw,
                limit,
                buffers.take(raw.len().saturating_mul(4).min(limit)),
            );
            buffers.give(raw);
            out
        });
        match unzipped.await {
            Ok(Ok(d)) => d,
            Ok(Err(Gunzip::TooLarge)) => {
                return refuse(
                    &server,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Outcome::too_large,
                    &format!(
                        "a batch may hold {limit} bytes once decompressed (--max-request-bytes): send smaller batches"
                    ),
                );
            }
            Ok(Err(Gunzip::Invalid(e))) => {
                return refuse(
                    &server,
                    StatusCode::BAD_REQUEST,
                    Outcome::bad_request,
                    &format!("Content-Encoding says gzip, but the body is not: {e}"),
                );
            }
            Err(e) => {
                return refuse(
                    &server,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Outcome::bad_request,
                    &format!("decoding failed: {e}"),
                );
            }
        }
    } else {
        raw
    };
    if decoded.len() > inflight.bytes && !inflight.grow(decoded.len() - inflight.bytes) {
        return refuse(
            &server,
            StatusCode::TOO_MANY_REQUESTS,
            Outcome::busy,
            "busy: too many bytes in flight (--max-inflight-bytes); retry after the delay",
        );
    }
    let input_bytes = decoded.len();
    let Some(downstream) = s.downstream.clone() else {
        // No downstream: the answer is the annotated batch.
        return match evaluate(&server, decoded).await {
            Ok(e) => {
                s.metrics.evaluated(&e, input_bytes);
                s.metrics
                    .batches
                    .get_or_create(&BatchLabels {
                        outcome: Outcome::delivered,
                    })
                    .inc();
                let body = s.buffers.bytes(e.output);
                ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
            }
            Err((status, outcome, why)) => refuse(&server, status, outcome, &why),
        };
    };
    let digest: [u8; 32] = sha2::Sha256::digest(&decoded).into();
    let kept = s.undelivered.lock().await.take(&digest);
    let (output, summary) = match kept {
        Some(output) => {
            s.metrics.retries_replayed.inc();
            (output, r#"{"replayed":true}"#.to_string())
        }
        None => match evaluate(&server, decoded).await {
            Ok(e) => {
                s.metrics.evaluated(&e, input_bytes);
                let c = &e.counters;
                let summary = format!(
                    r#"{{"events":{},"out":{},"matched":{},"alerts":{}}}"#,
                    c.events_in, c.events_out, c.matched, c.alerts
                );
                (s.buffers.bytes(e.output), summary)
            }
            Err((status, outcome, why)) => return refuse(&server, status, outcome, &why),
        },
    };
    let started = Instant::now();
    match downstream.send(output.clone()).await {
        Ok(()) => {
            s.metrics
                .forward_seconds
                .observe(started.elapsed().as_secs_f64());
            s.metrics
                .batches
                .get_or_create(&BatchLabels {
                    outcome: Outcome::delivered,
                })
                .inc();
            (StatusCode::OK, json(&summary)).into_response()
        }
        Err(e) => {
            log(
                "warn",
                "downstream did not accept a batch; the sender will retry it",
                &[("error", &e)],
            );
            s.undelivered.lock().await.keep(digest, output);
            refuse(
                &server,
                StatusCode::SERVICE_UNAVAILABLE,
                Outcome::downstream_failed,
                &format!("not delivered, retry: {e}"),
            )
        }
    }
}

/// Hands the batch to the detector thread and waits for its output.
async fn evaluate(
    server: &Server,
    body: Vec<u8>,
) -> Result<worker::Evaluated, (StatusCode, Outcome, String)> {
    let (reply, answer) = oneshot::channel();
    server
        .send(worker::Job::Batch { body, reply })
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, Outcome::shutting_down, e))?;
    match answer.await {
        Ok(Ok(e)) => Ok(e),
        Ok(Err(why)) => Err((StatusCode::BAD_REQUEST, Outcome::bad_request, why)),
        Err(_) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Outcome::shutting_down,
            "the detector thread has stopped".to_string(),
        )),
    }
}

enum Gunzip {
    TooLarge,
    Invalid(std::io::Error),
}

/// Decompresses at most `limit` bytes (a gzip bomb stops there) into
/// `out`.
fn gunzip(raw: &[u8], limit: usize, mut out: Vec<u8>) -> Result<Vec<u8>, Gunzip> {
    flate2::read::MultiGzDecoder::new(raw)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Gunzip::Invalid)?;
    if out.len() > limit {
        return Err(Gunzip::TooLarge);
    }
    Ok(out)
}

enum ReadBody {
    TooLarge,
    Failed(axum::Error),
}

/// Reads the whole body, at most `limit` bytes, into a buffer from
/// `buffers` (see the module). What `axum::body::to_bytes` does, without
/// gathering the pieces into one more buffer first.
async fn read_body(mut body: Body, limit: usize, buffers: &Buffers) -> Result<Vec<u8>, ReadBody> {
    use axum::body::HttpBody as _;
    let size = body.size_hint();
    let expected = usize::try_from(size.exact().unwrap_or(size.lower())).unwrap_or(limit);
    let mut buf = buffers.take(expected.min(limit));
    let mut body = std::pin::Pin::new(&mut body);
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(ReadBody::Failed)?;
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - buf.len() {
                return Err(ReadBody::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}
