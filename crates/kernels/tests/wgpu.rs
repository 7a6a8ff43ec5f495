//! The parity list on the wgpu device (lavapipe in CI: the test command
//! installs it when no Vulkan driver is present). IRIS_SKIP_WGPU=1 skips it
//! on a machine that cannot have a Vulkan driver.

#[test]
fn parity_list_passes_on_wgpu() {
    if std::env::var_os("IRIS_SKIP_WGPU").is_some() {
        eprintln!("IRIS_SKIP_WGPU set: wgpu parity not run");
        return;
    }
    let dev =
        iris_kernels::wgpu::WgpuDevice::open().expect("a wgpu adapter (scripts/install-vulkan.sh installs lavapipe)");
    let outcomes = iris_kernels::parity::check(&iris_kernels::wgpu::host::WgpuKernels(dev));
    assert!(outcomes.len() >= 25, "{} cases", outcomes.len());
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}
