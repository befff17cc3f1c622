// AVX2 packer of one attention key tile (attention-pack.h): rows of K/V are read 8 values at a time
// (f32 load, f16 via vcvtph2ps (F16C), q8_0 via sign-extend + convert + scale), K goes through in-register
// 8x8 transposes into kt [d][ATTN_BK], V is written straight into its column chunks.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "attention-mask.h"
#include "attention-pack.h"
#include "nn-kernels.h"

namespace ld::ggml {

namespace {

// Values [c, c + 8) of one head row of K or V stored as type TY (c a multiple of 8).
template <Type TY>
inline __m256 load8(const char * row, int64_t c) {
    if constexpr (TY == Type::F32) {
        return _mm256_loadu_ps((const float *)row + c);
    } else if constexpr (TY == Type::F16) {
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + c * 2)));
    } else {  // Q8_0: blocks of 32 values {fp16 scale, int8[32]}, 34 bytes
        const char * blk = row + (c / 32) * 34;
        uint16_t hd;
        std::memcpy(&hd, blk, sizeof(hd));
        int64_t q8;
        std::memcpy(&q8, blk + 2 + (c % 32), sizeof(q8));
        const __m256i q = _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(q8));
        return _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(hd)), _mm256_cvtepi32_ps(q));
    }
}

// In-register transpose of 8 rows of 8 floats: pairs interleaved, then quads, then 128-bit halves.
inline void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

template <Type TY>
void pack(const AttnArgs & a, int64_t g, int64_t t, float * kt, float * vt) {
    const int64_t d = a.head_dim;
    size_t off[ATTN_BK];
    const int nk = attn_tile_row_offsets(a, g, t, ATTN_BK, off);
    const char * krow[ATTN_BK];
    const char * vrow[ATTN_BK];
    for (int jj = 0; jj < nk; ++jj) {
        krow[jj] = (const char *)a.k + off[jj];
        vrow[jj] = (const char *)a.v + off[jj];
    }
    for (int jb = 0; jb < ATTN_BK; jb += 8) {
        for (int64_t c = 0; c < d; c += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; ++i) r[i] = jb + i < nk ? load8<TY>(krow[jb + i], c) : _mm256_setzero_ps();
            transpose8(r);
            for (int i = 0; i < 8; ++i) _mm256_storeu_ps(kt + (c + i) * ATTN_BK + jb, r[i]);
        }
    }
    for (int64_t c0 = 0; c0 < d; c0 += ATTN_VC) {
        const int64_t w = std::min<int64_t>(ATTN_VC, d - c0);
        float * chunk = vt + c0 * ATTN_BK;
        for (int jj = 0; jj < nk; ++jj)
            for (int64_t c = 0; c < w; c += 8) _mm256_storeu_ps(chunk + jj * w + c, load8<TY>(vrow[jj], c0 + c));
    }
}

}  // namespace

void attn_pack_tile_avx2(const AttnArgs & a, int64_t g, int64_t t, float * kt, float * vt) {
    switch (a.kv_type) {
        case Type::F16: return pack<Type::F16>(a, g, t, kt, vt);
        case Type::Q8_0: return pack<Type::Q8_0>(a, g, t, kt, vt);
        default: return pack<Type::F32>(a, g, t, kt, vt);
    }
}

}  // namespace ld::ggml
