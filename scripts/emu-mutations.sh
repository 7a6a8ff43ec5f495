#!/usr/bin/env bash
# Shows that the checks can fail: each mutation below plants one classic
# kernel bug in a scratch copy of cuda/ (a removed barrier, a removed
# cp.async / wgmma wait, a skipped key block, one wrong output element) and
# runs the emulator check that covers it; every one must FAIL there. Prints
# each check's failing lines; exits non-zero if a mutation goes unnoticed.
# (Not part of the test command: about two minutes without sanitizers.)
set -uo pipefail
cd "$(dirname "$0")/.."
cxx="${CXX:-g++}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
# name | file | check | perl substitution
mutations=(
  "removed __syncthreads after the ring's wait (mma.sync GEMM)|gemm.cu|gemm_check|s/(cp_async_wait<TC_STAGES - 2>\(\);\n)\s*__syncthreads\(\);/\$1/"
  "removed cp.async.wait_group (mma.sync GEMM)|gemm.cu|gemm_check|s/cp_async_wait<TC_STAGES - 2>\(\);//"
  "removed __syncthreads once V has landed (flash attention)|flash_attention.cu|attention_check|s/__syncthreads\(\);  \/\/ V_j has landed[^\n]*//"
  "removed cp.async.wait_group before P·V (flash attention)|flash_attention.cu|attention_check|s/cp_async_wait<0>\(\);(\n\s*__syncthreads\(\);  \/\/ V_j)/\$1/"
  "flash attention drops key block 1 from the softmax and P·V|flash_attention.cu|attention_check|s/float v = s\[i\]\[2 \* r \+ c\] \* scale2;/float v = j == 1 ? NEG_INF : s[i][2 * r + c] * scale2;/"
  "one wrong element per 16-bit GEMM output (mma.sync GEMM)|gemm.cu|gemm_check|s/(if \(gi < p.m && gj < p.n\)) gemm_store\(c \+ gi \* p.c_rs \+ gj \* p.c_cs, acc\[mi\]\[ni\]\[q\], p, bias, gj\);/\$1 gemm_store(c + gi * p.c_rs + gj * p.c_cs, gi == 1 \&\& gj == 2 ? 3.0f : acc[mi][ni][q], p, bias, gj);/"
  "removed wgmma.wait_group 1 before a stage returns (Hopper GEMM)|gemm_sm90.cu|gemm_sm90_check|s/wgmma_wait<1>\(\);//"
  "removed the final wgmma.wait_group 0 (Hopper GEMM)|gemm_sm90.cu|gemm_sm90_check|s/wgmma_wait<0>\(\);//"
)
for m in "${mutations[@]}"; do
    IFS='|' read -r name file check subst <<< "$m"
    rm -rf "$work/cuda" "$work/tools" && mkdir -p "$work/tools" && cp -r cuda "$work/" && cp -r tools/cuda-emu "$work/tools/"
    perl -0pi -e "$subst" "$work/cuda/$file"
    if cmp -s "cuda/$file" "$work/cuda/$file"; then
        echo "MUTATION NOT APPLIED: $name"; status=1; continue
    fi
    "$cxx" -std=c++20 -O2 -fno-strict-aliasing -Wno-psabi -Wno-unknown-pragmas -o "$work/check" "$work/tools/cuda-emu/$check.cpp" || { echo "does not build: $name"; status=1; continue; }
    echo "== $name ($check)"
    if "$work/check" > "$work/out.txt" 2>&1; then
        echo "NOT CAUGHT"; status=1
    else
        grep -E "FAIL|emu:" "$work/out.txt" | head -4
    fi
done
exit $status
