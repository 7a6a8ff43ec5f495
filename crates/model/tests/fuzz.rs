//! Seeded mutation fuzzing of what a user hands iris: the safetensors header,
//! config.json (through `Pipeline::load`, which also reads the processor and
//! tokenizer files) and image decoding. Every input must give `Ok` or `Err`;
//! a panic fails the test with the case's seed and what was mutated.

mod common;

use std::path::Path;

use common::fixture;
use iris_model::image::{ClipProcessor, RgbImage};
use iris_model::{LoadOptions, Pipeline};
use serde_json::Value;

/// xorshift64*: the same cases on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four byte-level mutations in `bytes[range]`: flips, overwrites with
/// interesting values, insertions, deletions, or a truncation.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, limit: usize) {
    for _ in 0..1 + rng.below(4) {
        let end = limit.min(bytes.len()).max(1);
        let at = rng.below(end);
        match rng.below(6) {
            0 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
            1 if at < bytes.len() => bytes[at] = [0, 0xff, b'9', b'"', b'{', b'-', b'e'][rng.below(7)],
            2 => bytes.insert(at.min(bytes.len()), rng.next() as u8),
            3 if at < bytes.len() => {
                bytes.remove(at);
            }
            4 => bytes.truncate(at),
            _ if bytes.len() >= 8 => {
                // The header length (safetensors) or a PNG chunk length: a wild value.
                let v = [0u64, 1, u32::MAX as u64, u64::MAX, rng.next()][rng.below(5)];
                let at = rng.below(bytes.len() - 7);
                bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            _ => {}
        }
    }
}

/// A JSON-aware mutation: a value somewhere in the tree replaced by 0, -1, a
/// huge number, a fraction, a string, null, an empty list or object, or removed.
fn mutate_json(rng: &mut Rng, v: &mut Value) {
    fn leaves(v: &Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| leaves(x, [path.clone(), vec![k.clone()]].concat(), out)),
            Value::Array(a) => {
                a.iter().enumerate().for_each(|(i, x)| leaves(x, [path.clone(), vec![i.to_string()]].concat(), out))
            }
            _ => {}
        }
    }
    let mut paths = Vec::new();
    leaves(v, vec![], &mut paths);
    let path = paths[1 + rng.below(paths.len() - 1)].clone();
    let (last, parent) = path.split_last().unwrap();
    let mut p = &mut *v;
    for k in parent {
        p = match p {
            Value::Object(m) => m.get_mut(k).unwrap(),
            Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
            _ => unreachable!(),
        };
    }
    let new = [
        Value::from(0),
        Value::from(-1),
        Value::from(1u64 << 40),
        Value::from(u64::MAX),
        Value::from(0.5),
        Value::from(1e300),
        Value::from("x"),
        Value::Null,
        Value::Array(vec![]),
        Value::Object(Default::default()),
    ][rng.below(10)]
    .clone();
    match p {
        Value::Object(m) if rng.below(4) == 0 => {
            m.remove(last);
        }
        Value::Object(m) => {
            m.insert(last.clone(), new);
        }
        Value::Array(a) => a[last.parse::<usize>().unwrap()] = new,
        _ => {}
    }
}

fn guarded<T>(what: &str, seed: u64, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| panic!("{what}: case {seed} panicked (rerun that seed to reproduce)"))
}

#[test]
fn safetensors_headers_give_ok_or_err() {
    let original = std::fs::read(fixture("llava-gqa").join("model.safetensors")).unwrap();
    let header = 8 + u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
    let dir = std::env::temp_dir().join(format!("iris-fuzz-st-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    for seed in 1..=1500u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut bytes = original.clone();
        mutate_bytes(&mut rng, &mut bytes, header + 16);
        std::fs::write(&path, &bytes).unwrap();
        guarded("safetensors", seed, || {
            if let Ok(w) = iris_tensor::Weights::open(&path) {
                for name in w.names() {
                    let _ = w.get(name).and_then(|t| t.to_vec_f32());
                }
            }
        });
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn configs_give_ok_or_err() {
    for (name, cases) in [("llava-gqa", 500u64), ("mllama-2tile", 500), ("llava-bf16-d64", 200)] {
        let src = fixture(name);
        let dir = std::env::temp_dir().join(format!("iris-fuzz-cfg-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
        let files = ["config.json", "processor_config.json", "generation_config.json"];
        let originals: Vec<Value> = files
            .iter()
            .map(|f| serde_json::from_str(&std::fs::read_to_string(src.join(f)).unwrap()).unwrap())
            .collect();
        for seed in 1..=cases {
            let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
            // Mostly config.json; a third of the cases the processor or generation config.
            let which = if rng.below(3) == 0 { 1 + rng.below(files.len() - 1) } else { 0 };
            let mut v = originals[which].clone();
            for _ in 0..1 + rng.below(3) {
                mutate_json(&mut rng, &mut v);
            }
            let mut text = serde_json::to_string_pretty(&v).unwrap().into_bytes();
            if rng.below(8) == 0 {
                mutate_bytes(&mut rng, &mut text, usize::MAX);
            }
            std::fs::write(dir.join(files[which]), &text).unwrap();
            if std::env::var_os("IRIS_FUZZ_TRACE").is_some() {
                eprintln!("{name} {} case {seed}: {}", files[which], String::from_utf8_lossy(&text).replace('\n', " "));
            }
            guarded(&format!("{name} {}", files[which]), seed, || {
                // Loading checks every size against the weights; a prompt and image run if it loads.
                if let Ok(p) = Pipeline::load(&dir, LoadOptions::default()) {
                    let _ = p.prompt_ids("<image> <|image|> hi", 1, false);
                }
            });
            std::fs::write(dir.join(files[which]), serde_json::to_string(&originals[which]).unwrap()).unwrap();
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn images_give_ok_or_err() {
    let dir = std::env::temp_dir().join(format!("iris-fuzz-img-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("image.png");
    let clip = ClipProcessor::for_size(56);
    for (i, name) in ["llava-gqa", "mllama-odd"].iter().enumerate() {
        let original = std::fs::read(fixture(name).join("image.png")).unwrap();
        for seed in 1..=800u64 {
            let mut rng = Rng((seed + 1000 * i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut bytes = original.clone();
            let limit = if rng.below(2) == 0 { 64 } else { usize::MAX };
            mutate_bytes(&mut rng, &mut bytes, limit);
            std::fs::write(&path, &bytes).unwrap();
            guarded("image", seed, || {
                if let Ok(img) = RgbImage::open(Path::new(&path)) {
                    let _ = clip.preprocess(&img);
                }
            });
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
