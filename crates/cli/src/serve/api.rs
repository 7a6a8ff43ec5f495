//! OpenAI's chat completions API: the request as clients send it, checked
//! field by field, and errors in OpenAI's shape
//! `{"error": {"message", "type", "param", "code"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

/// An error answer: its status and OpenAI's error object.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn bad(message: impl Into<String>, param: Option<&str>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(String::from),
            code: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, kind: "server_error", ..ApiError::bad(message, None) }
    }

    pub fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    pub fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// `POST /v1/chat/completions`, the fields iris reads (others are accepted and ignored,
/// as OpenAI's clients send defaults for many).
#[derive(Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub max_tokens: Option<u64>,
    pub max_completion_tokens: Option<u64>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<i64>,
    pub stop: Option<Stop>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u64>,
    /// vLLM's extension: generate `max_tokens` even past an end-of-sequence token (load tests).
    #[serde(default)]
    pub ignore_eos: bool,
}

#[derive(Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Value>),
}

/// A request's conversation as the chat template takes it, and its image URLs in order.
pub struct Conversation {
    pub messages: Value,
    pub image_urls: Vec<String>,
}

/// The chat template's messages: a user turn's content as a list of parts
/// (`{"type": "image"}` where an image was), another role's as its text.
pub fn conversation(req: &ChatRequest, max_images: usize) -> Result<Conversation, ApiError> {
    if req.messages.is_empty() {
        return Err(ApiError::bad("`messages` is empty: send at least one message", Some("messages")));
    }
    let (mut out, mut image_urls) = (Vec::new(), Vec::new());
    for (i, m) in req.messages.iter().enumerate() {
        let role = m.role.as_str();
        if !matches!(role, "system" | "developer" | "user" | "assistant") {
            return Err(ApiError::bad(
                format!("messages[{i}].role `{role}`: iris takes system, developer, user and assistant messages"),
                Some(&format!("messages[{i}].role")),
            ));
        }
        let mut parts = Vec::new();
        match &m.content {
            None => {}
            Some(Content::Text(t)) => parts.push(json!({"type": "text", "text": t})),
            Some(Content::Parts(list)) => {
                for (j, p) in list.iter().enumerate() {
                    let param = format!("messages[{i}].content[{j}]");
                    match p.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let t = p.get("text").and_then(Value::as_str).ok_or_else(|| {
                                ApiError::bad(format!("{param}: a text part needs a string `text`"), Some(&param))
                            })?;
                            parts.push(json!({"type": "text", "text": t}));
                        }
                        Some("image_url") => {
                            if role != "user" {
                                return Err(ApiError::bad(
                                    format!("{param}: images go in user messages"),
                                    Some(&param),
                                ));
                            }
                            let url = match p.get("image_url") {
                                Some(Value::String(u)) => Some(u.as_str()),
                                Some(o) => o.get("url").and_then(Value::as_str),
                                None => None,
                            };
                            let url = url.ok_or_else(|| {
                                ApiError::bad(format!("{param}: an image_url part needs `image_url.url`"), Some(&param))
                            })?;
                            image_urls.push(url.to_string());
                            parts.push(json!({"type": "image"}));
                        }
                        Some(other) => {
                            return Err(ApiError::bad(
                                format!("{param}.type `{other}` is not supported (text, image_url)"),
                                Some(&format!("{param}.type")),
                            ))
                        }
                        None => {
                            return Err(ApiError::bad(format!("{param}: a content part needs a `type`"), Some(&param)))
                        }
                    }
                }
            }
        }
        let content = if role == "user" {
            Value::Array(parts)
        } else {
            Value::String(parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().concat())
        };
        out.push(json!({"role": role, "content": content}));
    }
    if image_urls.len() > max_images {
        return Err(ApiError::bad(
            format!("{} images in the request: this server takes at most {max_images}", image_urls.len()),
            Some("messages"),
        ));
    }
    Ok(Conversation { messages: Value::Array(out), image_urls })
}

/// The sampling fields, checked.
pub fn sampling(req: &ChatRequest) -> Result<iris_model::SamplingOptions, ApiError> {
    let temperature = req.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::bad(format!("temperature {temperature}: must be between 0 and 2"), Some("temperature")));
    }
    let top_p = req.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::bad(format!("top_p {top_p}: must be in (0, 1]"), Some("top_p")));
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad("n: iris returns one choice per request", Some("n")));
    }
    // Without a seed, each request draws its own.
    let seed = req.seed.map(|s| s as u64).unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        t.as_nanos() as u64
    });
    Ok(iris_model::SamplingOptions { temperature, top_k: 0, top_p, seed })
}

/// The stop strings (at most 4, as OpenAI's API).
pub fn stops(req: &ChatRequest) -> Result<Vec<String>, ApiError> {
    let v = match &req.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(v)) => v.clone(),
    };
    if v.len() > 4 {
        return Err(ApiError::bad("stop: at most 4 stop strings", Some("stop")));
    }
    Ok(v)
}

/// New tokens at most: what the request asks (max_completion_tokens, else max_tokens), capped by
/// the context left after the prompt.
pub fn max_tokens(req: &ChatRequest, prompt: usize, context: usize) -> Result<usize, ApiError> {
    let left = context.saturating_sub(prompt);
    if left == 0 {
        return Err(ApiError::bad(
            format!("the prompt is {prompt} tokens: it fills the model's context of {context}"),
            Some("messages"),
        )
        .with_code("context_length_exceeded"));
    }
    let (asked, param) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(n), _) => (Some(n), "max_completion_tokens"),
        (None, n) => (n, "max_tokens"),
    };
    match asked {
        Some(0) => Err(ApiError::bad(format!("{param} must be at least 1"), Some(param))),
        Some(n) => Ok((n.min(left as u64)) as usize),
        None => Ok(left),
    }
}
