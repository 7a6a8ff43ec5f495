//! The CUDA sources as NVRTC receives them, and the ptxas report's parsing:
//! what needs no GPU and no libnvrtc (compiling itself is `iris check
//! --device cuda --compile-only`, run by the test command).

use iris_kernels::cuda::{self, nvrtc};

#[test]
fn every_kernel_file_is_one_translation_unit_with_its_headers_pasted_in() {
    let files: Vec<&str> = cuda::kernel_files().collect();
    assert!(files.contains(&"flash_attention.cu") && files.contains(&"gemm_sm90.cu"), "{files:?}");
    for file in files {
        let src = cuda::source(file).expect("listed files have sources");
        // NVRTC looks nothing up on disk: no include of ours may survive.
        assert!(!src.lines().any(|l| l.starts_with("#include \"")), "{file} keeps an #include");
        assert!(src.contains("__device__ __forceinline__ float to_f32(float v)"), "{file} lacks common.cuh");
    }
    let flash = cuda::source("flash_attention.cu").unwrap();
    assert_eq!(flash.matches("struct AttnParams {").count(), 1);
    let sm90 = cuda::source("gemm_sm90.cu").unwrap();
    assert!(sm90.contains("struct GemmParams {") && sm90.contains("wgmma.mma_async"));
    assert!(cuda::source("nothing.cu").is_none());
}

#[test]
fn hopper_only_files_build_for_sm90a_alone() {
    assert_eq!(cuda::target("gemm_sm90.cu", 90).as_deref(), Some("sm_90a"));
    assert_eq!(cuda::target("gemm_sm90.cu", 80), None);
    assert_eq!(cuda::target("gemm.cu", 80).as_deref(), Some("sm_80"));
    assert_eq!(cuda::target("gemm.cu", 90).as_deref(), Some("sm_90"));
}

#[test]
fn ptxas_report_reads_registers_shared_memory_and_spills() {
    let log = "ptxas info    : Compiling entry function 'gemm_wgmma_bf16' for 'sm_90a'\n\
               ptxas info    : Function properties for gemm_wgmma_bf16\n\
               ptxas         .     8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
               ptxas info    : Used 98 registers, used 1 barriers, 49152 bytes smem\n";
    let r = nvrtc::ptxas_report(log);
    assert_eq!(r.len(), 1);
    let k = &r[0];
    assert_eq!((k.name.as_str(), k.registers, k.shared_bytes), ("gemm_wgmma_bf16", 98, 49152));
    assert_eq!((k.stack_bytes, k.spill_stores, k.spill_loads), (8, 4, 12));
}

#[test]
fn kernel_cache_names_follow_the_source_and_the_target() {
    let src = cuda::source("gemm.cu").unwrap();
    let a = cuda::device::cache_name("gemm.cu", &src, "sm_90");
    assert!(a.starts_with("gemm.cu-") && a.ends_with("-sm_90.cubin"), "{a}");
    assert_ne!(a, cuda::device::cache_name("gemm.cu", &src, "sm_80"));
    assert_ne!(a, cuda::device::cache_name("gemm.cu", &format!("{src}\n"), "sm_90"));
}
