//! Both model families end to end on the wgpu device (lavapipe in CI): the
//! reference's greedy tokens and text, the prompt logits and every generated
//! step's logits (teacher-forced) within 1e-3 of transformers. There is no switch to skip it: without a Vulkan driver it fails
//! (the test command installs lavapipe when none is present).

mod common;

#[test]
fn every_fixture_generates_the_reference_on_wgpu() {
    let all: Vec<&str> = common::LLAVA.iter().chain(common::MLLAMA.iter()).copied().collect();
    common::check_greedy_on(&all, iris_tensor::Device::Wgpu, 1e-3);
    common::check_steps_on(&all, iris_tensor::Device::Wgpu, 1e-3);
}
