//! The routes: `POST /v1/chat/completions` (whole, or streamed as
//! server-sent events ending with `data: [DONE]`), `GET /v1/models`,
//! `GET /health` and `GET /metrics`. A handler checks and tokenizes the
//! request and fetches its images; the engine thread does the rest.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use iris_model::Pipeline;
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::api::{self, ApiError, ChatRequest};
use super::engine::{Engine, Event, Finish, Job};
use super::images::{self, ImagePolicy};
use super::metrics::Metrics;

pub struct AppState {
    pub pipe: Arc<Pipeline>,
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
    /// The name `/v1/models` lists and requests must use.
    pub model_id: String,
    pub images: ImagePolicy,
    pub client: reqwest::Client,
    pub max_body: usize,
    pub max_images: usize,
    pub started: u64,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError { status: StatusCode::NOT_FOUND, ..ApiError::bad("no such route", None) }.with_code("not_found")
        })
        .with_state(state)
}

async fn models(State(s): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"object": "list", "data": [
        {"id": s.model_id, "object": "model", "created": s.started, "owned_by": "iris"}]}))
}

async fn metrics(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn chat(State(s): State<Arc<AppState>>, body: Body) -> Response {
    match start(&s, body).await {
        Ok(r) => r,
        Err(e) => {
            let counter = if e.status == StatusCode::SERVICE_UNAVAILABLE {
                &s.metrics.rejected_busy
            } else {
                &s.metrics.client_errors
            };
            counter.fetch_add(1, Ordering::Relaxed);
            // A body over the limit is left unread, so the connection cannot carry another request:
            // say so, or a client reuses it and its next request fails (seen in tests/serve.rs).
            let unread = e.status == StatusCode::PAYLOAD_TOO_LARGE;
            let mut r = e.into_response();
            if unread {
                r.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
            }
            r
        }
    }
}

/// Checks the request and hands it to the engine; the answer, or the stream of it.
async fn start(s: &Arc<AppState>, body: Body) -> Result<Response, ApiError> {
    let received = Instant::now();
    let bytes: Bytes = axum::body::to_bytes(body, s.max_body).await.map_err(|_| ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        ..ApiError::bad(format!("the request body is over {} bytes", s.max_body), None)
    })?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(format!("the body is not valid JSON: {e}"), None))?;
    let req: ChatRequest = serde_json::from_value(value)
        .map_err(|e| ApiError::bad(format!("the request does not fit the chat completions API: {e}"), None))?;
    if req.model != s.model_id {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            ..ApiError::bad(
                format!("the model `{}` does not exist here (this server runs `{}`)", req.model, s.model_id),
                Some("model"),
            )
        }
        .with_code("model_not_found"));
    }
    let conv = api::conversation(&req, s.max_images)?;
    let sampling = api::sampling(&req)?;
    let stop = api::stops(&req)?;
    let mut imgs = Vec::with_capacity(conv.image_urls.len());
    for (i, url) in conv.image_urls.iter().enumerate() {
        let img = images::load(url, &s.images, &s.client).await;
        imgs.push(img.map_err(|e| {
            ApiError::bad(format!("image {}: {e}", i + 1), Some("messages")).with_code("invalid_image")
        })?);
    }
    let pipe = s.pipe.clone();
    let (messages, n) = (conv.messages, imgs.len());
    let ids = tokio::task::spawn_blocking(move || pipe.conversation_ids(&messages, n))
        .await
        .map_err(|_| ApiError::bad("the prompt could not be tokenized", Some("messages")))?;
    let context = s.pipe.model.decoder().cfg.max_position_embeddings;
    let prompt_ids = match ids {
        Ok(ids) => ids,
        Err(iris_model::Error::Prompt(msg)) if msg.contains("max_position_embeddings") => {
            return Err(ApiError::bad(msg, Some("messages")).with_code("context_length_exceeded"))
        }
        Err(e) => return Err(ApiError::bad(e.to_string(), Some("messages"))),
    };
    let max_tokens = api::max_tokens(&req, prompt_ids.len(), context)?;
    let Some(ticket) = s.engine.reserve() else {
        return Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "server_busy",
            ..ApiError::bad("the server is at its limit of requests in flight: retry shortly", None)
        });
    };
    // The vision encoder runs here, on the blocking pool, beside the engine's steps.
    let pipe = s.pipe.clone();
    let encoded = match tokio::task::spawn_blocking(move || pipe.model.encode_images(&imgs)).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return Err(ApiError::bad(format!("the image could not be encoded: {e}"), Some("messages"))),
        Err(_) => return Err(ApiError::internal("the image could not be encoded (internal error)")),
    };
    let (tx, rx) = unbounded_channel();
    ticket.submit(Job {
        prompt_ids,
        images: encoded,
        max_tokens,
        sampling,
        stop,
        ignore_eos: req.ignore_eos,
        events: tx,
        received,
    });
    let id = format!("chatcmpl-{:x}{:x}", now(), rand_id());
    s.metrics.ok.fetch_add(1, Ordering::Relaxed);
    if req.stream {
        let usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        return Ok(stream(id, s.model_id.clone(), rx, usage).into_response());
    }
    whole(id, &s.model_id, rx).await
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now());
    h.finish() & 0xffff_ffff
}

fn usage(prompt: usize, completion: usize) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// Waits for the whole completion. If the client goes away this future is
/// dropped, and with it the receiver: the engine cancels the sequence.
async fn whole(id: String, model: &str, mut rx: UnboundedReceiver<Event>) -> Result<Response, ApiError> {
    let mut text = String::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Text(t) => text.push_str(&t),
            Event::Done { finish, prompt_tokens, completion_tokens } => {
                return Ok(Json(json!({
                    "id": id, "object": "chat.completion", "created": now(), "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "logprobs": null, "finish_reason": finish.as_str()}],
                    "usage": usage(prompt_tokens, completion_tokens),
                }))
                .into_response())
            }
            Event::Failed(msg) => return Err(ApiError::bad(msg, Some("messages"))),
        }
    }
    Err(ApiError::internal("the engine stopped"))
}

/// The completion as server-sent events: a first chunk with the role, one
/// per piece of text, one with the finish reason, the usage if asked, then
/// `[DONE]`. When the client disconnects the stream is dropped, and with it
/// the receiver: the engine cancels the sequence.
fn stream(id: String, model: String, rx: UnboundedReceiver<Event>, include_usage: bool) -> impl IntoResponse {
    let created = now();
    let chunk = move |delta: Value, finish: Option<Finish>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish.map(Finish::as_str)}]})
    };
    let first = SseEvent::default().data(chunk(json!({"role": "assistant", "content": ""}), None).to_string());
    let state = (Some(first), rx, chunk, Vec::<SseEvent>::new(), false);
    let events =
        futures_util::stream::unfold(state, move |(mut first, mut rx, chunk, mut queued, mut ended)| async move {
            if let Some(ev) = first.take() {
                return Some((Ok::<_, std::convert::Infallible>(ev), (None, rx, chunk, queued, ended)));
            }
            if !queued.is_empty() {
                let ev = queued.remove(0);
                return Some((Ok(ev), (None, rx, chunk, queued, ended)));
            }
            if ended {
                return None;
            }
            let ev = match rx.recv().await {
                Some(Event::Text(t)) => SseEvent::default().data(chunk(json!({"content": t}), None).to_string()),
                Some(Event::Done { finish, prompt_tokens, completion_tokens }) => {
                    ended = true;
                    let mut last = chunk(json!({}), Some(finish));
                    if include_usage {
                        last["usage"] = Value::Null;
                        let mut u = chunk(json!({}), None);
                        u["choices"] = json!([]);
                        u["usage"] = usage(prompt_tokens, completion_tokens);
                        queued.push(SseEvent::default().data(u.to_string()));
                    }
                    queued.push(SseEvent::default().data("[DONE]"));
                    SseEvent::default().data(last.to_string())
                }
                Some(Event::Failed(msg)) => {
                    ended = true;
                    queued.push(SseEvent::default().data("[DONE]"));
                    SseEvent::default().data(ApiError::bad(msg, Some("messages")).body().to_string())
                }
                None => return None,
            };
            Some((Ok(ev), (None, rx, chunk, queued, ended)))
        });
    Sse::new(events)
}
