//! `iris serve` over HTTP as clients use it: every endpoint, greedy answers
//! equal to `iris generate --chat` (whole, streamed, and many at once through
//! the continuous batch), cancellation, the limits, each bad request, the
//! image URL guard, and a graceful stop.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use common::server::{chat, data_url, Server};
use common::{fixture, iris, meta, png};
use serde_json::{json, Value};

/// `iris generate --chat` on the fixture's image, greedy.
fn generate(name: &str, text: &str, n: usize) -> String {
    let dir = fixture(name);
    let (d, img, n) = (dir.to_str().unwrap(), dir.join("image.png"), n.to_string());
    let o = iris(&[
        "generate",
        "--model",
        d,
        "--image",
        img.to_str().unwrap(),
        "--chat",
        "--prompt",
        text,
        "--max-new-tokens",
        &n,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn image(name: &str) -> String {
    data_url(&std::fs::read(fixture(name).join("image.png")).unwrap())
}

/// The text of a streamed completion, checking the chunks' shape on the way.
fn streamed_text(events: &[String]) -> (String, Value) {
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let mut text = String::new();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        if let Some(t) = c["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
    }
    let finish = chunks.iter().find_map(|c| c["choices"][0]["finish_reason"].as_str().map(String::from));
    (text, json!({"finish": finish, "usage": chunks.last().unwrap()["usage"]}))
}

#[test]
fn answers_equal_generate_whole_streamed_and_batched() {
    for name in ["llava-gqa", "mllama-4tile"] {
        let text = meta(name)["chat_user_text"].as_str().unwrap_or("What is shown?").to_string();
        let want = generate(name, &text, 12);
        let s = Server::start(&fixture(name), &[]);
        let req = chat(&s.model, &[image(name)], &text, 12);
        let (status, r) = s.post(&req);
        assert_eq!(status, 200, "{name}: {r}");
        assert_eq!(r["object"], "chat.completion");
        assert_eq!(r["choices"][0]["message"]["content"], want.as_str(), "{name}: greedy equals iris generate --chat");
        let u = &r["usage"];
        assert_eq!(u["completion_tokens"], 12, "{name}: {u}");
        assert_eq!(u["total_tokens"].as_u64(), Some(u["prompt_tokens"].as_u64().unwrap() + 12));

        let mut sreq = req.clone();
        sreq["stream"] = json!(true);
        sreq["stream_options"] = json!({"include_usage": true});
        let (streamed, end) = streamed_text(&s.stream(&sreq));
        assert_eq!(streamed, want, "{name}: the stream adds up to the same text");
        assert_eq!(end["finish"], "length");
        assert_eq!(end["usage"]["completion_tokens"], 12);

        // Six at once share the batch: each answer is still the one-request answer.
        let answers: Vec<Value> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..6).map(|_| sc.spawn(|| s.post(&req).1)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for a in answers {
            assert_eq!(a["choices"][0]["message"]["content"], want.as_str(), "{name}: batched");
        }
        assert!(
            s.metric("iris_step_sequences_total") > s.metric("iris_decoder_steps_total"),
            "{name}: some steps ran several sequences"
        );
    }
}

#[test]
fn endpoints_models_health_metrics_and_stop_strings() {
    let s = Server::start(&fixture("llava-gqa"), &[]);
    let (status, models) = s.get("/v1/models");
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!((status, models["data"][0]["id"].as_str()), (200, Some("llava-gqa")));
    assert_eq!(s.get("/health"), (200, json!({"status": "ok"}).to_string()));
    let (status, text) = s.get("/metrics");
    assert_eq!(status, 200);
    for m in ["iris_requests_total", "iris_queue_depth", "iris_batch_size", "iris_time_to_first_token_seconds_count"] {
        assert!(text.contains(m), "{m} in /metrics");
    }
    assert_eq!(s.get("/v1/nothing").0, 404);

    // A stop string cuts the text before it (the string itself never shows).
    let req = chat(&s.model, &[image("llava-gqa")], "What is shown?", 12);
    let full = s.post(&req).1["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    let cut: String = full.chars().skip(2).take(2).collect();
    let mut stopped = req.clone();
    stopped["stop"] = json!([cut]);
    let r = s.post(&stopped).1;
    assert_eq!(r["choices"][0]["message"]["content"].as_str(), Some(&full[..full.find(&cut).unwrap()]));
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    // max_tokens past the context is capped by it.
    let mut long = req.clone();
    long["max_tokens"] = json!(1_000_000);
    let r = s.post(&long).1;
    let u = &r["usage"];
    assert!(u["total_tokens"].as_u64().unwrap() <= 256, "{u}");
    assert_eq!(s.metric("iris_requests_total{outcome=\"finished\"}"), 3.0);
    assert_eq!(s.metric("iris_requests_accepted_total"), 3.0);
    assert!(s.metric("iris_time_to_first_token_seconds_count") >= 3.0);
}

#[test]
fn each_bad_request_gets_its_4xx_and_the_server_keeps_serving() {
    let s = Server::start(
        &fixture("llava-gqa"),
        &["--max-images", "1", "--max-body-mb", "1", "--max-image-pixels", "3500"],
    );
    let m = s.model.clone();
    let img = image("llava-gqa");
    let user = |content: Value| json!({"model": m, "messages": [{"role": "user", "content": content}]});
    let part = |url: &str| json!({"type": "image_url", "image_url": {"url": url}});
    let big = data_url(&png((64, 64), 64, 64));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "not valid JSON"),
        (json!({"model": m}).to_string().into(), 400, "missing field `messages`"),
        (json!({"messages": []}).to_string().into(), 400, "missing field `model`"),
        (json!({"model": m, "messages": []}).to_string().into(), 400, "empty"),
        (json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string().into(), 404, "gpt-4o"),
        (user(json!([part("data:image/png;base64,@@@")])).to_string().into(), 400, "base64"),
        (user(json!([part("data:image/png;base64,aGVsbG8gd29ybGQ=")])).to_string().into(), 400, "not an image"),
        (user(json!([part("ftp://example.com/a.png")])).to_string().into(), 400, "data: URL"),
        (user(json!([{"type": "input_audio"}])).to_string().into(), 400, "input_audio"),
        (user(json!([part(&img), part(&img)])).to_string().into(), 400, "at most 1"),
        (user(json!([part(&big)])).to_string().into(), 400, "64×64"),
        (json!({"model": m, "messages": [{"role": "tool", "content": "x"}]}).to_string().into(), 400, "role"),
        (
            json!({"model": m, "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}).to_string().into(),
            400,
            "max_tokens",
        ),
        (
            json!({"model": m, "temperature": 9, "messages": [{"role": "user", "content": "x"}]}).to_string().into(),
            400,
            "temperature",
        ),
        (user(json!("word ".repeat(300))).to_string().into(), 400, "longer than max_position_embeddings"),
        (vec![b' '; 2 << 20], 413, "over"),
    ];
    for (body, want, says) in cases {
        let (status, r) = s.post_raw(body.clone());
        let e = &r["error"];
        assert_eq!(status, want, "{}: {r}", String::from_utf8_lossy(&body[..body.len().min(120)]));
        assert!(e["message"].as_str().unwrap().contains(says), "`{says}` in {e}");
        assert!(
            e["type"].is_string() && e.get("param").is_some() && e.get("code").is_some(),
            "OpenAI's error shape: {e}"
        );
    }
    // The 413 leaves its body unread, so it closes its connection rather than have a client reuse it.
    let r = s.http.post(s.url("/v1/chat/completions")).body(vec![b' '; 2 << 20]).send().unwrap();
    assert_eq!((r.status().as_u16(), r.headers().get("connection").map(|v| v.as_bytes())), (413, Some(&b"close"[..])));
    let (status, r) = s.post(&chat(&s.model, &[img], "What is shown?", 4));
    assert_eq!(status, 200, "still serving: {r}");
    assert_eq!(s.get("/health").0, 200);
}

/// A one-thread HTTP server on loopback: `/img.png`, `/hop` (a redirect to it), `/loop` (a redirect to itself).
fn image_host(png: Vec<u8>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().map_while(Result::ok) {
            let mut line = String::new();
            BufReader::new(&mut c).read_line(&mut line).unwrap_or(0);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let head = |status: &str, extra: &str, len: usize| {
                format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {len}\r\nConnection: close\r\n\r\n")
            };
            let _ = match path.as_str() {
                "/img.png" => c
                    .write_all(head("200 OK", "Content-Type: image/png\r\n", png.len()).as_bytes())
                    .and_then(|_| c.write_all(&png)),
                "/hop" => c.write_all(head("302 Found", "Location: /img.png\r\n", 0).as_bytes()),
                "/loop" => c.write_all(head("302 Found", "Location: /loop\r\n", 0).as_bytes()),
                _ => c.write_all(head("404 Not Found", "", 0).as_bytes()),
            };
            let mut rest = [0u8; 4096];
            let _ = c.set_read_timeout(Some(std::time::Duration::from_millis(50)));
            let _ = c.read(&mut rest);
        }
    });
    format!("http://{addr}")
}

#[test]
fn image_urls_never_reach_internal_addresses_unless_allowed() {
    let png = std::fs::read(fixture("llava-gqa").join("image.png")).unwrap();
    let host = image_host(png);
    let guarded = Server::start(&fixture("llava-gqa"), &[]);
    for url in [
        format!("{host}/img.png"),
        host.replace("127.0.0.1", "localhost") + "/img.png",
        "http://10.0.0.1/a.png".into(),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://[::1]/a.png".into(),
    ] {
        let (status, r) = guarded.post(&chat(&guarded.model, std::slice::from_ref(&url), "What is shown?", 2));
        assert_eq!(status, 400, "{url}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("internal address"), "{url}: {r}");
    }
    let off = Server::start(&fixture("llava-gqa"), &["--no-remote-images"]);
    let (status, r) = off.post(&chat(&off.model, &["https://example.com/a.png".into()], "x", 2));
    assert_eq!(status, 400);
    assert!(r["error"]["message"].as_str().unwrap().contains("switched off"), "{r}");

    let open = Server::start(&fixture("llava-gqa"), &["--allow-private-image-urls"]);
    let want =
        open.post(&chat(&open.model, &[image("llava-gqa")], "What is shown?", 6)).1["choices"][0]["message"].clone();
    for path in ["/img.png", "/hop"] {
        let (status, r) = open.post(&chat(&open.model, &[format!("{host}{path}")], "What is shown?", 6));
        assert_eq!(status, 200, "{path}: {r}");
        assert_eq!(r["choices"][0]["message"], want, "{path}: the fetched image gives the data URL's answer");
    }
    let (status, r) = open.post(&chat(&open.model, &[format!("{host}/loop")], "x", 2));
    assert_eq!(status, 400);
    assert!(r["error"]["message"].as_str().unwrap().contains("redirects"), "{r}");
}

/// A streamed request that runs long (mllama-4tile's context is 16384 tokens).
fn long_stream(s: &Server) -> BufReader<reqwest::blocking::Response> {
    let mut req = chat(&s.model, &[image("mllama-4tile")], "go on", 10_000);
    req["stream"] = json!(true);
    req["ignore_eos"] = json!(true);
    let r = s.http.post(s.url("/v1/chat/completions")).json(&req).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("data: "), "{line}");
    r
}

#[test]
fn a_full_queue_gets_503_and_a_gone_client_is_cancelled() {
    let s = Server::start(&fixture("mllama-4tile"), &["--max-batch", "1", "--max-queue", "0"]);
    let first = long_stream(&s);
    let r = s.http.post(s.url("/v1/chat/completions")).json(&chat(&s.model, &[], "hi", 2)).send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let e: Value = r.json().unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("limit"), "{e}");
    drop(first);
    s.wait_for("the cancelled sequence to leave the batch", |s| {
        s.metric("iris_requests_total{outcome=\"cancelled\"}") == 1.0 && s.metric("iris_batch_size") == 0.0
    });
    let (status, _) = s.post(&chat(&s.model, &[], "hi", 2));
    assert_eq!(status, 200, "room again");
}

#[test]
fn sigterm_finishes_the_requests_in_flight_then_exits() {
    let mut s = Server::start(&fixture("mllama-4tile"), &[]);
    let mut req = chat(&s.model, &[image("mllama-4tile")], "go on", 300);
    req["stream"] = json!(true);
    let r = s.http.post(s.url("/v1/chat/completions")).json(&req).send().unwrap();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = s.terminate();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert!(
        rest.trim_end().ends_with("data: [DONE]"),
        "the stream ran to its end: …{}",
        &rest[rest.len().saturating_sub(200)..]
    );
    assert!(status.success(), "exit {status:?}");
    let log: Vec<String> = s.log.lock().unwrap().try_iter().collect();
    assert!(log.iter().any(|l| l.contains("shutting down")), "{log:?}");
}
