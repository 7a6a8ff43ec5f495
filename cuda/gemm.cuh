// gemm.cuh — what the GEMM kernels share (gemm.cu, gemm_sm90.cu): the
// operand layouts (crates/kernels/src/cuda/ops lays out the same struct) and
// the epilogue C = act(alpha·acc + beta·C + bias[j]).
#ifndef IRIS_GEMM_CUH
#define IRIS_GEMM_CUH

struct GemmParams {
    int m, n, k;
    float alpha, beta;
    long long a_off, a_bs, a_rs, a_cs;
    long long b_off, b_bs, b_rs, b_cs;
    long long c_off, c_bs, c_rs, c_cs;
    int act;
};

// One output element through the epilogue.
template <typename T>
__device__ __forceinline__ void gemm_store(T* out, float acc, const GemmParams& p, const T* bias, int j) {
    float v = p.alpha * acc;
    if (p.beta != 0.0f) v += p.beta * to_f32(*out);
    if (bias) v += to_f32(bias[j]);
    *out = from_f32<T>(apply_act(p.act, v));
}

#endif
