//! Safetensors loading on files the tests write: values, zero-copy views,
//! misaligned data, sharded checkpoints, and every malformed case, each of
//! which must be an error naming the file (and tensor), never a panic.

use std::io::Write;
use std::path::{Path, PathBuf};

use half::bf16;
use iris_tensor::{DType, Tensor, Weights};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iris-weights-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file from (name, dtype, shape, bytes); the header is padded
/// with spaces so the data starts 8-byte aligned, plus `pad` more (to move
/// the data start off alignment).
fn write(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)], pad: usize) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend_from_slice(bytes);
    }
    let mut h = serde_json::Value::Object(header).to_string();
    h.push_str(&" ".repeat((8 - (8 + h.len()) % 8) % 8 + pad));
    raw(path, h.as_bytes(), &data);
}

fn raw(path: &Path, header: &[u8], data: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header).unwrap();
    f.write_all(data).unwrap();
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn err(path: &Path) -> String {
    match Weights::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_values_as_zero_copy_views() {
    let d = dir("values");
    let p = d.join("model.safetensors");
    let a: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
    let b: Vec<u8> = [1.5f32, -2.0, 3.25].iter().flat_map(|&x| bf16::from_f32(x).to_le_bytes()).collect();
    write(&p, &[("a", "F32", vec![3, 4], f32_bytes(&a)), ("b", "BF16", vec![3], b)], 0);
    let w = Weights::open(&d).unwrap();
    assert_eq!(w.names(), ["a", "b"]);
    let ta = w.get("a").unwrap();
    assert!(ta.is_mapped(), "aligned data must not be copied");
    assert_eq!((ta.shape(), ta.dtype()), (&[3, 4][..], DType::F32));
    assert_eq!(ta.to_vec::<f32>().unwrap(), a);
    assert_eq!(w.get("b").unwrap().to_vec_f32().unwrap(), [1.5, -2.0, 3.25]);
    // A mapped weight works in ops like any tensor.
    let x = Tensor::ones(&[1, 4], DType::F32);
    assert_eq!(x.linear(&ta, None).unwrap().to_vec::<f32>().unwrap(), [3.0, 11.0, 19.0]);
}

#[test]
fn misaligned_data_is_copied_not_misread() {
    let d = dir("misaligned");
    let p = d.join("w.safetensors");
    let a: Vec<f32> = (0..5).map(|i| i as f32 + 0.25).collect();
    for pad in 0..4 {
        write(&p, &[("a", "F32", vec![5], f32_bytes(&a))], pad);
        let t = Weights::open(&p).unwrap().get("a").unwrap();
        assert_eq!(t.is_mapped(), pad == 0, "pad {pad}");
        assert_eq!(t.to_vec::<f32>().unwrap(), a, "pad {pad}");
    }
}

#[test]
fn sharded_checkpoints_load_through_the_index() {
    let d = dir("sharded");
    write(&d.join("model-00001-of-00002.safetensors"), &[("x.weight", "F32", vec![2], f32_bytes(&[1.0, 2.0]))], 0);
    write(&d.join("model-00002-of-00002.safetensors"), &[("y.weight", "F32", vec![1], f32_bytes(&[3.0]))], 0);
    let index = r#"{"metadata": {"total_size": 12}, "weight_map": {"x.weight": "model-00001-of-00002.safetensors", "y.weight": "model-00002-of-00002.safetensors"}}"#;
    std::fs::write(d.join("model.safetensors.index.json"), index).unwrap();
    let w = Weights::open(&d).unwrap();
    assert_eq!(w.names(), ["x.weight", "y.weight"]);
    assert_eq!(w.get("y.weight").unwrap().to_vec::<f32>().unwrap(), [3.0]);
    // An index naming a shard that is not there, or a tensor not in its shard.
    std::fs::write(d.join("bad.index.json"), r#"{"weight_map": {"z": "missing.safetensors"}}"#).unwrap();
    assert!(err(&d.join("bad.index.json")).contains("missing.safetensors"));
    std::fs::write(d.join("bad2.index.json"), r#"{"weight_map": {"z": "model-00001-of-00002.safetensors"}}"#).unwrap();
    let e = err(&d.join("bad2.index.json"));
    assert!(e.contains("`z`") && e.contains("model-00001-of-00002"), "{e}");
    std::fs::write(d.join("bad3.index.json"), "{not json").unwrap();
    assert!(err(&d.join("bad3.index.json")).contains("not JSON"));
}

#[test]
fn missing_tensor_or_wrong_shape_or_dtype_names_file_tensor_expected_and_found() {
    let d = dir("names");
    let p = d.join("m.safetensors");
    write(&p, &[("w", "F32", vec![2, 3], f32_bytes(&[0.0; 6])), ("ids", "I64", vec![1], vec![0; 8])], 0);
    let w = Weights::open(&p).unwrap();
    let e = w.get("nope").unwrap_err().to_string();
    assert!(e.contains("m.safetensors") && e.contains("`nope`") && e.contains("not found"), "{e}");
    let e = w.get_checked("w", &[3, 2], DType::F32).unwrap_err().to_string();
    assert!(
        e.contains("m.safetensors") && e.contains("`w`") && e.contains("expected f32 [3, 2], found f32 [2, 3]"),
        "{e}"
    );
    let e = w.get_checked("w", &[2, 3], DType::BF16).unwrap_err().to_string();
    assert!(e.contains("expected bf16 [2, 3], found f32 [2, 3]"), "{e}");
    assert!(w.get("ids").unwrap_err().to_string().contains("I64"));
}

#[test]
fn malformed_files_are_errors_not_panics() {
    let d = dir("malformed");
    let good_header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short", vec![1, 2, 3]),
        ("header past the end", [&100u64.to_le_bytes()[..], b"{}"].concat()),
        ("huge header length", [&(u64::MAX / 2).to_le_bytes()[..], b"{}"].concat()),
        ("header over 100 MB", [&200_000_000u64.to_le_bytes()[..], b"{}"].concat()),
        ("non-JSON header", [&5u64.to_le_bytes()[..], b"hello"].concat()),
        ("not UTF-8", [&2u64.to_le_bytes()[..], &[0xff, 0xfe]].concat()),
        ("truncated data", [&(good_header.len() as u64).to_le_bytes()[..], good_header, &[0; 5]].concat()),
        ("trailing bytes", [&(good_header.len() as u64).to_le_bytes()[..], good_header, &[0; 12]].concat()),
    ];
    let overlap = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let past_end = br#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    let wrong_size = br#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
    let mut cases = cases;
    cases.push(("overlapping offsets", [&(overlap.len() as u64).to_le_bytes()[..], overlap, &[0; 12]].concat()));
    cases.push(("offsets past the end", [&(past_end.len() as u64).to_le_bytes()[..], past_end, &[0; 8]].concat()));
    cases.push((
        "size disagrees with shape",
        [&(wrong_size.len() as u64).to_le_bytes()[..], wrong_size, &[0; 8]].concat(),
    ));
    for (what, bytes) in cases {
        let p = d.join(format!("{}.safetensors", what.replace(' ', "_")));
        std::fs::write(&p, bytes).unwrap();
        let e = err(&p);
        assert!(e.contains(p.file_name().unwrap().to_str().unwrap()), "{what}: {e}");
    }
    assert!(err(&d.join("absent.safetensors")).contains("absent.safetensors"));
}

#[test]
fn opening_a_1_gb_file_copies_nothing() {
    // A sparse 1 GiB checkpoint (holes read as zeros): open it, view every
    // tensor, read a few elements. Peak RSS must stay far below the file size;
    // a loader that copied would fault in the whole GiB.
    let d = dir("big");
    let p = d.join("big.safetensors");
    let (n, count) = (64usize << 20, 4); // 4 tensors of 256 MiB f32
    let mut header = serde_json::Map::new();
    for i in 0..count {
        let (s, e) = (i * n * 4, (i + 1) * n * 4);
        header.insert(format!("t{i}"), serde_json::json!({"dtype": "F32", "shape": [n], "data_offsets": [s, e]}));
    }
    let mut h = serde_json::Value::Object(header).to_string();
    h.push_str(&" ".repeat((8 - (8 + h.len()) % 8) % 8));
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(&(h.len() as u64).to_le_bytes()).unwrap();
    f.write_all(h.as_bytes()).unwrap();
    f.set_len((8 + h.len() + count * n * 4) as u64).unwrap();
    drop(f);

    let before = iris_tensor::peak_rss_bytes();
    let w = Weights::open(&p).unwrap();
    let tensors: Vec<Tensor> = w.names().iter().map(|name| w.get(name).unwrap()).collect();
    for t in &tensors {
        assert!(t.is_mapped());
        assert_eq!(t.narrow(0, n - 3, 3).unwrap().to_vec::<f32>().unwrap(), [0.0; 3]);
    }
    let after = iris_tensor::peak_rss_bytes();
    if let (Some(b), Some(a)) = (before, after) {
        let grown = a.saturating_sub(b);
        assert!(grown < 64 << 20, "peak RSS grew by {} MB opening a 1 GiB file", grown >> 20);
    }
    let _ = std::fs::remove_dir_all(&d);
}
