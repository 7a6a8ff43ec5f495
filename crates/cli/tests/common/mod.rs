//! What the CLI tests share: the fixtures, running the binary, scratch copies,
//! the one-clear-line check, and small PNG files written by hand.
#![allow(dead_code)]

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const FIXTURES: [&str; 10] = [
    "llava-gqa",
    "llava-crop",
    "llava-hub",
    "llava-odd",
    "llava-bf16-d64",
    "llava-f16-d128",
    "mllama-4tile",
    "mllama-2tile",
    "mllama-odd",
    "mllama-bf16-d64",
];

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures").join(name)
}

pub fn meta(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name).join("meta.json")).unwrap()).unwrap()
}

pub fn iris(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iris")).args(args).output().expect("iris runs")
}

pub fn scratch_path(name: &str, tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("iris-test-{}-{name}-{tag}", std::process::id()))
}

/// A scratch copy of a fixture folder that the test may break.
pub fn scratch(name: &str, tag: &str) -> PathBuf {
    let dir = scratch_path(name, tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(fixture(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    dir
}

/// Runs `iris generate` on `dir` and checks it fails with one line naming `expect`.
pub fn fails_with(dir: &Path, image: &Path, prompt: &str, extra: &[&str], expect: &[&str]) {
    let mut args = vec!["generate", "--model", dir.to_str().unwrap(), "--prompt", prompt];
    if !image.as_os_str().is_empty() {
        args.extend(["--image", image.to_str().unwrap()]);
    }
    args.extend(extra);
    let o = iris(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?} should fail cleanly: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    let line = stderr.lines().last().unwrap_or("");
    assert!(line.starts_with("iris: "), "{args:?}: {stderr}");
    for e in expect {
        assert!(line.contains(e), "{args:?}: `{line}` should mention `{e}`");
    }
    assert!(o.stdout.is_empty(), "{args:?}: nothing on stdout");
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// An RGB PNG of w × h pixels whose header says `header` = (w', h'): the
/// pixel data (stored zlib blocks) is `rows` rows of w grey pixels.
pub fn png(header: (u32, u32), w: usize, rows: usize) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(header.0.to_be_bytes());
    ihdr.extend(header.1.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let raw: Vec<u8> =
        (0..rows).flat_map(|r| std::iter::once(0u8).chain((0..3 * w).map(move |i| (r + i) as u8))).collect();
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push((i + 1 == blocks.len()) as u8);
        z.extend((b.len() as u16).to_le_bytes());
        z.extend((!(b.len() as u16)).to_le_bytes());
        z.extend(*b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend(((b << 16) | a).to_be_bytes());
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}
