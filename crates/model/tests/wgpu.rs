//! Both model families end to end on the wgpu device (lavapipe in CI): the
//! reference's greedy tokens and text, and the prompt logits within 1e-3 of
//! transformers. IRIS_SKIP_WGPU=1 skips it where no Vulkan driver can exist.

mod common;

#[test]
fn every_fixture_generates_the_reference_on_wgpu() {
    if std::env::var_os("IRIS_SKIP_WGPU").is_some() {
        eprintln!("IRIS_SKIP_WGPU set: wgpu fixtures not run");
        return;
    }
    let all: Vec<&str> = common::LLAVA.iter().chain(common::MLLAMA.iter()).copied().collect();
    common::check_greedy_on(&all, iris_tensor::Device::Wgpu, 1e-3);
}
