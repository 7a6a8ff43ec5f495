//! Every WGSL shader parses and passes naga's validation (types, uniformity
//! of barriers, bindings), without a GPU.

#[test]
fn every_shader_passes_naga_validation() {
    use iris_kernels::wgpu::{source, Spec};
    let variants = iris_kernels::wgpu::SHADERS.iter().flat_map(|(name, src)| {
        let f16 = src.contains("alias T = f32;").then(|| (*name, source(src, Spec::F16)));
        std::iter::once((*name, source(src, Spec::F32))).chain(f16)
    });
    for (name, src) in variants {
        let src = &src[..];
        let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
        v.validate(&module).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        assert!(module.entry_points.iter().all(|e| e.stage == naga::ShaderStage::Compute), "{name}");
        assert!(!module.entry_points.is_empty(), "{name} has no entry point");
    }
}

/// Each shader's uniform struct has the size and field offsets of its Rust
/// mirror in `wgpu::params`, as naga lays the WGSL out.
#[test]
fn uniform_structs_match_their_rust_mirrors() {
    use iris_kernels::wgpu::{params::MIRRORS, source, Spec, COMMON, SHADERS};
    for m in MIRRORS {
        let src = match SHADERS.iter().find(|(n, _)| *n == m.file) {
            Some((_, s)) => source(s, Spec::F32),
            None => {
                assert_eq!(m.file, "common.wgsl", "{}: no shader {}", m.name, m.file);
                COMMON.to_string()
            }
        };
        let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}: {e}", m.file));
        let (ty, inner) = module
            .types
            .iter()
            .map(|(_, t)| t)
            .find(|t| t.name.as_deref() == Some(m.name))
            .map(|t| (t, &t.inner))
            .unwrap_or_else(|| panic!("{}: no struct {}", m.file, m.name));
        let naga::TypeInner::Struct { members, span } = inner else { panic!("{:?} is not a struct", ty.name) };
        let wgsl: Vec<(&str, usize)> =
            members.iter().map(|x| (x.name.as_deref().unwrap_or(""), x.offset as usize)).collect();
        assert_eq!(wgsl, m.fields, "{} in {}: fields and offsets", m.name, m.file);
        assert_eq!(*span as usize, m.size, "{} in {}: size", m.name, m.file);
    }
    // Every shader's uniform is one of the mirrors.
    for (file, src) in SHADERS {
        let module = naga::front::wgsl::parse_str(&source(src, Spec::F32)).unwrap();
        for (_, var) in module.global_variables.iter().filter(|(_, v)| v.space == naga::AddressSpace::Uniform) {
            let name = module.types[var.ty].name.clone().unwrap_or_default();
            assert!(MIRRORS.iter().any(|m| m.name == name), "{file}: uniform struct {name} has no Rust mirror");
        }
    }
}
