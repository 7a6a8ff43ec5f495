//! The parity list on the wgpu device (lavapipe in CI: the test command
//! installs it when no Vulkan driver is present). There is no switch to skip
//! it: without a Vulkan driver it fails.

#[test]
fn parity_list_passes_on_wgpu() {
    let be = iris_kernels::backend(iris_kernels::Device::Wgpu)
        .expect("a wgpu adapter (scripts/install-vulkan.sh installs lavapipe)");
    let outcomes = iris_kernels::parity::check(&*be);
    assert!(outcomes.len() >= 25, "{} cases", outcomes.len());
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}
