// AVX-512 packer of one attention key tile (attention-pack.h): rows of K/V are read 16 values at a time
// (f32 load, f16 via vcvtph2ps, q8_0 via sign-extend + convert + scale), K goes through in-register
// 16x16 transposes into kt [d][ATTN_BK], V is written straight into its column chunks.
#include "avx512-intrinsics.h"

#include <algorithm>
#include <cstring>

#include "attention-mask.h"
#include "attention-pack.h"
#include "nn-kernels.h"

namespace ld::ggml {

namespace {

// Values [c, c + 16) of one head row of K or V stored as type TY (c a multiple of 16).
template <Type TY>
inline __m512 load16(const char * row, int64_t c) {
    if constexpr (TY == Type::F32) {
        return _mm512_loadu_ps((const float *)row + c);
    } else if constexpr (TY == Type::F16) {
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + c * 2)));
    } else {  // Q8_0: blocks of 32 values {fp16 scale, int8[32]}, 34 bytes
        const char * blk = row + (c / 32) * 34;
        uint16_t hd;
        std::memcpy(&hd, blk, sizeof(hd));
        const __m512 scale = _mm512_set1_ps(_cvtsh_ss(hd));
        const __m128i q = _mm_loadu_si128((const __m128i *)(blk + 2 + (c % 32)));
        return _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
    }
}

// Permute indices of the transpose stages: stage k swaps bit k of the row index with bit k of the column
// index; lo builds row i (bit k clear) from rows i and i | b, hi builds row i | b.
struct TransposeIdx {
    alignas(64) int32_t lo[4][16];
    alignas(64) int32_t hi[4][16];
};
constexpr TransposeIdx make_transpose_idx() {
    TransposeIdx t{};
    for (int k = 0; k < 4; ++k)
        for (int c = 0; c < 16; ++c) {
            const int b = 1 << k;
            t.lo[k][c] = (c & b) ? 16 + (c ^ b) : c;
            t.hi[k][c] = (c & b) ? 16 + c : (c ^ b);
        }
    return t;
}
constexpr TransposeIdx kTransposeIdx = make_transpose_idx();

// In-register transpose of 16 rows of 16 floats (two two-source permutes per row pair and stage).
inline void transpose16(__m512 r[16], const __m512i lo[4], const __m512i hi[4]) {
    for (int k = 0; k < 4; ++k) {
        const int b = 1 << k;
        for (int i = 0; i < 16; ++i) {
            if (i & b) continue;
            const __m512 x = r[i], y = r[i | b];
            r[i] = _mm512_permutex2var_ps(x, lo[k], y);
            r[i | b] = _mm512_permutex2var_ps(x, hi[k], y);
        }
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
    __m512i lo[4], hi[4];
    for (int k = 0; k < 4; ++k) {
        lo[k] = _mm512_load_si512(kTransposeIdx.lo[k]);
        hi[k] = _mm512_load_si512(kTransposeIdx.hi[k]);
    }
    for (int jb = 0; jb < ATTN_BK; jb += 16) {
        for (int64_t c = 0; c < d; c += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; ++i) r[i] = jb + i < nk ? load16<TY>(krow[jb + i], c) : _mm512_setzero_ps();
            transpose16(r, lo, hi);
            for (int i = 0; i < 16; ++i) _mm512_storeu_ps(kt + (c + i) * ATTN_BK + jb, r[i]);
        }
    }
    for (int64_t c0 = 0; c0 < d; c0 += ATTN_VC) {
        const int64_t w = std::min<int64_t>(ATTN_VC, d - c0);
        float * chunk = vt + c0 * ATTN_BK;
        for (int jj = 0; jj < nk; ++jj)
            for (int64_t c = 0; c < w; c += 16) _mm512_storeu_ps(chunk + jj * w + c, load16<TY>(vrow[jj], c0 + c));
    }
}

}  // namespace

void attn_pack_tile_avx512(const AttnArgs & a, int64_t g, int64_t t, float * kt, float * vt) {
    switch (a.kv_type) {
        case Type::F16: return pack<Type::F16>(a, g, t, kt, vt);
        case Type::Q8_0: return pack<Type::Q8_0>(a, g, t, kt, vt);
        default: return pack<Type::F32>(a, g, t, kt, vt);
    }
}

}  // namespace ld::ggml
