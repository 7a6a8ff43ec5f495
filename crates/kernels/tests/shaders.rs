//! Every WGSL shader parses and passes naga's validation (types, uniformity
//! of barriers, bindings), without a GPU.

#[test]
fn every_shader_passes_naga_validation() {
    for (name, src) in iris_kernels::wgpu::SHADERS {
        let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
        v.validate(&module).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        assert!(module.entry_points.iter().all(|e| e.stage == naga::ShaderStage::Compute), "{name}");
        assert!(!module.entry_points.is_empty(), "{name} has no entry point");
    }
}
