// attention.cuh — the parameters attention.cu and flash_attention.cu share
// (crates/kernels/src/cuda/ops/attention.rs lays out the same struct).
// Shape letters: B batch, H query heads, Hkv key/value heads (query head h
// reads kv head h / (H/Hkv)), Tq, Tk, D (head dim, contiguous). q, k, v, o
// each have an offset and b/h/t strides in elements; masks have offset and
// b/h/q strides, keys contiguous.
#ifndef IRIS_ATTENTION_CUH
#define IRIS_ATTENTION_CUH

struct Heads {
    long long off, b, h, t;
};

struct AttnParams {
    int b, h, hkv, tq, tk, d;
    float scale;
    int causal;
    Heads q, k, v, o;
    long long m_off, m_b, m_h, m_q;  // mask layout (ignored without a mask)
    int has_mask;
};

#endif
