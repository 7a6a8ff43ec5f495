//! A served `iris serve` for the tests: started on a free loopback port,
//! stopped (SIGTERM) when dropped; requests through a blocking client.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

pub struct Server {
    pub child: Child,
    pub base: String,
    pub model: String,
    pub http: reqwest::blocking::Client,
    /// stderr lines after the address, read on a thread.
    pub log: std::sync::Mutex<std::sync::mpsc::Receiver<String>>,
}

impl Server {
    /// `iris serve --model DIR --port 0 ARGS` with its address read from stderr.
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iris"))
            .args(["--threads", "1", "serve", "--model", dir.to_str().unwrap(), "--port", "0"])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("iris serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("iris serve prints its address").unwrap();
            if let Some(rest) = line.strip_prefix("iris: serving on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| drop(tx.send(l))));
        let model = dir.file_name().unwrap().to_str().unwrap().to_string();
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        Server { child, base, model, http, log: std::sync::Mutex::new(log) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn post(&self, body: &Value) -> (u16, Value) {
        self.post_raw(body.to_string().into_bytes())
    }

    pub fn post_raw(&self, body: Vec<u8>) -> (u16, Value) {
        let r = self.http.post(self.url("/v1/chat/completions")).body(body).send().expect("the server answers");
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.url(path)).send().expect("the server answers");
        (r.status().as_u16(), r.text().unwrap())
    }

    /// A streamed completion's `data:` payloads, in order.
    pub fn stream(&self, body: &Value) -> Vec<String> {
        let r = self.http.post(self.url("/v1/chat/completions")).json(body).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        let text = r.text().unwrap();
        text.lines().filter_map(|l| l.strip_prefix("data: ")).map(String::from).collect()
    }

    /// A metric's value from /metrics.
    pub fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// Polls until `f` holds (the engine updates its counters between steps).
    pub fn wait_for(&self, what: &str, f: impl Fn(&Server) -> bool) {
        let t = Instant::now();
        while !f(self) {
            assert!(t.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn data_url(png: &[u8]) -> String {
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png))
}

/// A greedy chat request: one user turn, the images then the text.
pub fn chat(model: &str, images: &[String], text: &str, max_tokens: usize) -> Value {
    let mut content: Vec<Value> =
        images.iter().map(|u| json!({"type": "image_url", "image_url": {"url": u}})).collect();
    content.push(json!({"type": "text", "text": text}));
    json!({"model": model, "temperature": 0, "max_tokens": max_tokens,
           "messages": [{"role": "user", "content": content}]})
}
