//! Every WGSL shader parses and passes naga's validation (types, uniformity
//! of barriers, bindings), without a GPU.

#[test]
fn every_shader_passes_naga_validation() {
    use iris_kernels::wgpu::{specialise, Spec};
    let variants = iris_kernels::wgpu::SHADERS.iter().flat_map(|(name, src)| {
        let f16 = src.contains("alias T = f32;").then(|| (*name, specialise(src, Spec::F16)));
        std::iter::once((*name, src.to_string())).chain(f16)
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
