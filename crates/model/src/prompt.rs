//! Text in and out: tokenizer.json through the `tokenizers` crate, the
//! checkpoint's chat template through minijinja (configured as transformers
//! configures Jinja), and `<image>` expansion as the processors do it.

use std::path::Path;

use minijinja::{context, Environment, Value as JValue};
use serde_json::Value;
use tokenizers::Tokenizer;

use crate::config::read_json;
use crate::error::{Error, Result};

pub struct Prompter {
    tokenizer: Tokenizer,
    chat_template: Option<String>,
    /// Special-token strings from tokenizer_config.json (bos_token, eos_token, ...).
    specials: Vec<(String, String)>,
}

fn token_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

impl Prompter {
    /// Reads tokenizer.json (required), tokenizer_config.json and the chat
    /// template (chat_template.jinja, chat_template.json or tokenizer_config.json).
    pub fn load(dir: &Path) -> Result<Prompter> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(Error::File { path, msg: "not found: the model folder needs its tokenizer.json".into() });
        }
        let tokenizer =
            Tokenizer::from_file(&path).map_err(|e| Error::Config { path: path.clone(), msg: e.to_string() })?;
        let tc_path = dir.join("tokenizer_config.json");
        let tc = if tc_path.is_file() { read_json(&tc_path)? } else { Value::Null };
        let specials = ["bos_token", "eos_token", "unk_token", "pad_token"]
            .iter()
            .filter_map(|k| tc.get(*k).and_then(token_string).map(|s| (k.to_string(), s)))
            .collect();
        let mut chat_template = None;
        let jinja = dir.join("chat_template.jinja");
        let json = dir.join("chat_template.json");
        if jinja.is_file() {
            chat_template =
                Some(std::fs::read_to_string(&jinja).map_err(|e| Error::File { path: jinja, msg: e.to_string() })?);
        } else if json.is_file() {
            chat_template = read_json(&json)?.get("chat_template").and_then(Value::as_str).map(String::from);
        } else {
            chat_template = match tc.get("chat_template") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(list)) => list
                    .iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                    .and_then(|t| t.get("template").and_then(Value::as_str))
                    .map(String::from),
                _ => chat_template,
            };
        }
        Ok(Prompter { tokenizer, chat_template, specials })
    }

    pub fn special(&self, key: &str) -> Option<&str> {
        self.specials.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Token ids of `text`, with the tokenizer's post-processor (BOS) when
    /// `add_special_tokens`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, add_special_tokens).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids` without special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// The chat template applied to one user turn of `n_images` images and
    /// `text`, with the generation prompt.
    pub fn render_chat(&self, text: &str, n_images: usize) -> Result<String> {
        let Some(template) = &self.chat_template else {
            return Err(Error::Prompt("--chat: this checkpoint has no chat template".into()));
        };
        let sp = |k: &str| self.special(k).unwrap_or("").to_string();
        render_chat_template(template, text, n_images, &sp("bos_token"), &sp("eos_token"))
    }

    /// The chat template applied to a whole conversation (`messages` as
    /// transformers takes them: roles, and content as a string or a list of
    /// `{"type": "image"}` / `{"type": "text", "text": …}` parts), with the
    /// generation prompt.
    pub fn render_messages(&self, messages: &Value) -> Result<String> {
        let Some(template) = &self.chat_template else {
            return Err(Error::Prompt("this checkpoint has no chat template".into()));
        };
        let sp = |k: &str| self.special(k).unwrap_or("").to_string();
        Ok(render_conversation(template, messages, true, &sp("bos_token"), &sp("eos_token"))?.0)
    }
}

/// A chat template applied to one user turn (`n_images` images, then `text`)
/// with the generation prompt, rendered as transformers renders it: Jinja
/// with trim_blocks and lstrip_blocks, Python string methods, `tojson`,
/// `raise_exception` and `strftime_now`.
pub fn render_chat_template(template: &str, text: &str, n_images: usize, bos: &str, eos: &str) -> Result<String> {
    let mut content: Vec<serde_json::Value> = (0..n_images).map(|_| serde_json::json!({"type": "image"})).collect();
    content.push(serde_json::json!({"type": "text", "text": text}));
    let messages = serde_json::json!([{"role": "user", "content": content}]);
    Ok(render_conversation(template, &messages, true, bos, eos)?.0)
}

/// Private-use characters that bracket a `{% generation %}` span while rendering.
const GEN_OPEN: char = '\u{E000}';
const GEN_CLOSE: char = '\u{E001}';

/// transformers' `{% generation %}…{% endgeneration %}` (it marks the
/// assistant's text, the tokens an assistant mask covers) as a filter block,
/// which keeps the tag's whitespace control, trim_blocks and lstrip_blocks.
fn generation_blocks(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{%") {
        let Some(j) = rest[i..].find("%}") else { break };
        let tag = &rest[i..i + j + 2];
        let core = tag[2..tag.len() - 2].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        out.push_str(&rest[..i]);
        match core {
            "generation" => out.push_str(&tag.replacen("generation", "filter iris_generation", 1)),
            "endgeneration" => out.push_str(&tag.replacen("endgeneration", "endfilter", 1)),
            _ => out.push_str(tag),
        }
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out
}

/// A whole conversation (`messages` as transformers takes them) through the
/// template: the text, and the byte ranges of its `{% generation %}` spans.
pub fn render_conversation(
    template: &str,
    messages: &serde_json::Value,
    add_generation_prompt: bool,
    bos: &str,
    eos: &str,
) -> Result<(String, Vec<std::ops::Range<usize>>)> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |msg: String| -> std::result::Result<JValue, minijinja::Error> {
        Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
    });
    env.add_function("strftime_now", |fmt: String| strftime_today(&fmt));
    env.add_filter("iris_generation", |body: String| format!("{GEN_OPEN}{body}{GEN_CLOSE}"));
    let source = generation_blocks(template);
    let tmpl = env.template_from_str(&source).map_err(|e| Error::Prompt(format!("chat template: {e}")))?;
    let messages = JValue::from_serialize(messages);
    let marked = tmpl
        .render(context! { messages => messages, add_generation_prompt => add_generation_prompt,
        bos_token => bos, eos_token => eos })
        .map_err(|e| Error::Prompt(format!("chat template: {e}")))?;
    let (mut text, mut spans, mut open) = (String::with_capacity(marked.len()), Vec::new(), None);
    for c in marked.chars() {
        match c {
            GEN_OPEN => open = Some(text.len()),
            GEN_CLOSE => spans.extend(open.take().map(|s| s..text.len())),
            c => text.push(c),
        }
    }
    Ok((text, spans))
}

/// Replaces each `image_id` in `ids` by `n` copies (the processor's expansion).
pub fn expand_image_tokens(ids: &[u32], image_id: u32, n: usize) -> Vec<u32> {
    ids.iter().flat_map(|&id| std::iter::repeat_n(id, if id == image_id { n } else { 1 })).collect()
}

/// Today's date (UTC) in a strftime format: %d %m %y %Y %b %B %%, for the
/// `strftime_now` that Llama 3 chat templates call.
fn strftime_today(fmt: &str) -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let name = MONTHS[(month - 1) as usize];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out += &format!("{day:02}"),
            Some('m') => out += &format!("{month:02}"),
            Some('y') => out += &format!("{:02}", year % 100),
            Some('Y') => out += &year.to_string(),
            Some('b') => out += &name[..3],
            Some('B') => out += name,
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}
