// The fused vocab head's self-conditioning product on AMX-BF16 (soft-product-amx.h):
// out[C, H] += w[C, n] · E[rows, H] with bf16 operands and f32 sums (tdpbf16ps).
//
// One call covers one vocabulary tile (n <= ~4096 rows):
//   0. w's rows as bf16, A [Cp, np] (np = n rounded up to 32; zeros past C and past n; rows padded by a cache
//      line), tasks of 16 rows;
//   1. one task per slab of HS = 256 embedding columns (a whole number of E's blocks), which owns the slab's
//      accumulators for the whole call (C x 256 f32 = 256 KB at C = 256: they stay in the core's L2). Per
//      chunk of KC = 512 rows: the slab's part of the rows dequantized (dequant-rows.h, the reference's
//      values) and written, two rows interleaved, as pair-layout B tiles (amx-bf16-tiles.h): 16-column
//      block hb, 32-row group g at b + (hb * KC / 32 + g) * 512 values; then for every 32 x 32 block of
//      the slab the 2 x 2 f32 accumulator tiles are loaded, += the chunk's tdpbf16ps steps, stored.
// The accumulators are out itself when C and H are multiples of 32, else a zeroed padded copy [Cp, Hp] that
// is added to out at the end. Each value sums the chunks in order and each chunk in tile order, whatever
// the thread count (deterministic).
#include "avx512-intrinsics.h"
#include "soft-product-amx.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "amx-bf16-tiles.h"
#include "ld-ggml/dequant-rows.h"
#include "ld-ggml/error.h"
#include "matmul-amx.h"

namespace ld::ggml {

namespace {

constexpr int64_t KC = 512;        // vocabulary rows per chunk (a multiple of 32)
constexpr int64_t KG = KC / 32;    // 32-row groups per chunk
constexpr int64_t kTileVals = 512; // bf16 values of one 16 x 64-byte tile
constexpr int64_t kPrefetch = 16;  // rows of E read ahead

inline int64_t up32(int64_t n) { return (n + 31) / 32 * 32; }

using Buffer = amx_bf16::ScratchMem;

// n zeroed T of aligned memory, owned by owner
template <class T>
T * alloc64(Buffer & owner, int64_t n) {
    void * p = amx_bf16::alloc_scratch(owner, (size_t)n * sizeof(T), "the vocab head's AMX-BF16 self-conditioning buffers");
    std::memset(p, 0, (size_t)n * sizeof(T));
    return (T *)p;
}

using amx_bf16::acc_2x2_load;
using amx_bf16::acc_2x2_store;
using amx_bf16::barrier;
using amx_bf16::dp_2x2;
using amx_bf16::pair_row;

// acc[Cp rows, ld] (columns [0, ws32) of the slab) += a[Cp, lda] (columns [0, 32 * ng)) · the chunk's B tiles.
__attribute__((noinline)) void slab_product(const uint16_t * a, int64_t lda, const uint16_t * b, float * acc, int64_t ld,
                                            int64_t Cp, int64_t ws32, int64_t ng) {
    barrier();
    for (int64_t r0 = 0; r0 < Cp; r0 += 32) {
        const uint16_t * a0 = a + r0 * lda;
        for (int64_t hb2 = 0; hb2 < ws32 / 32; ++hb2) {
            float * c = acc + r0 * ld + 32 * hb2;
            const uint16_t * b0 = b + 2 * hb2 * KG * kTileVals;
            const uint16_t * b1 = b0 + KG * kTileVals;
            acc_2x2_load(c, ld);
            for (int64_t g = 0; g < ng; ++g)
                dp_2x2(a0 + g * 32, a0 + 16 * lda + g * 32, lda, b0 + g * kTileVals, b1 + g * kTileVals);
            acc_2x2_store(c, ld);
        }
    }
    barrier();
}

}  // namespace

struct SoftProductAmx::Impl {
    const uint8_t * E = nullptr;
    Type etype = Type::F32;
    size_t row_bytes = 0;
    to_float_fn to_float = nullptr;
    int64_t H = 0, V = 0, C = 0, Hp = 0, Cp = 0, HS = 0;
    bool direct = false;  // accumulate in out itself (C and H multiples of 32)
    Buffer a_mem, acc_mem;
    uint16_t * a = nullptr;  // A [Cp, lda] bf16 (lda <= a_cols)
    int64_t a_cols = 0;
    float * acc = nullptr;   // [Cp, Hp] when !direct
    struct Scratch {
        Buffer b_mem;
        uint16_t * b = nullptr;     // B tiles [HS / 16][KG][512]
        std::vector<float> rows;    // two dequantized slab rows [2, HS]
    };
    std::vector<Scratch> scratch;  // per thread
};

bool SoftProductAmx::usable(Type etype, CpuIsa isa) {
    if (isa != CpuIsa::amx || !cpu_features().amx_bf16 || !cpu_features().avx512bf16) return false;
    if (etype == Type::F32) return false;
    const TypeTraits * tt = type_traits(etype);
    return tt && tt->to_float && tt->block_size > 0;
}

SoftProductAmx::SoftProductAmx(const void * E, Type etype, int64_t H, int64_t V, int64_t C) : impl_(new Impl) {
    if (!usable(etype, CpuIsa::amx)) throw Error("vocab head: the AMX-BF16 self-conditioning product cannot run here");
    if (H < 1 || V < 1 || C < 1 || !E) throw Error("vocab head: bad AMX-BF16 self-conditioning arguments");
    const int64_t bs = type_traits(etype)->block_size;
    if (H % bs != 0)
        throw Error(strfmt("vocab head: embedding rows of %lld values are not whole %s blocks", (long long)H, type_name((int32_t)etype)));
    Impl & m = *impl_;
    m.E = (const uint8_t *)E;
    m.etype = etype;
    m.H = H;
    m.V = V;
    m.C = C;
    m.Hp = up32(H);
    m.Cp = up32(C);
    // slab width: a multiple of 32 and of the block size, about 256 columns
    int64_t unit = bs;
    while (unit % 32 != 0) unit += bs;
    m.HS = std::max<int64_t>(1, 256 / unit) * unit;
    m.row_bytes = row_size(etype, H);
    m.to_float = dequant_row_fn(etype, CpuIsa::amx);
    m.direct = C % 32 == 0 && H % 32 == 0;
    if (!m.direct) m.acc = alloc64<float>(m.acc_mem, m.Cp * m.Hp);
}

SoftProductAmx::~SoftProductAmx() = default;

void SoftProductAmx::run(const float * w, int64_t ldw, int64_t n, int64_t v0, const int32_t * idx, float * out,
                         ThreadPool & pool) {
    Impl & m = *impl_;
    const int64_t H = m.H, C = m.C, Cp = m.Cp, HS = m.HS;
    if (n < 0 || ldw < n || (!idx && (v0 < 0 || v0 + n > m.V)))
        throw Error(strfmt("vocab head: AMX-BF16 product over rows [%lld, %lld) of a vocabulary of %lld",
                           (long long)v0, (long long)(v0 + n), (long long)m.V));
    if (idx)
        for (int64_t j = 0; j < n; ++j)
            if (idx[j] < 0 || idx[j] >= m.V)
                throw Error(strfmt("vocab head: row %d is outside the vocabulary of %lld rows", (int)idx[j], (long long)m.V));
    if (n == 0) return;
    // A's row stride: np plus one cache line, so that the 16 rows of an A tile (np is usually a power of
    // two) do not all fall into the same L1 set
    const int64_t np = up32(n), lda = np + 32;
    if (lda > m.a_cols) {
        m.a = alloc64<uint16_t>(m.a_mem, Cp * lda);
        m.a_cols = lda;
    }
    if ((int64_t)m.scratch.size() < pool.n_threads()) m.scratch.resize((size_t)pool.n_threads());
    float * acc = m.direct ? out : m.acc;
    const int64_t ld = m.direct ? H : m.Hp;
    if (!m.direct) std::memset(m.acc, 0, sizeof(float) * (size_t)(Cp * m.Hp));

    // 0. A = bf16(w), zeros past C and n
    pool.parallel_for(Cp / 16, [&](int64_t t, int) {
        for (int64_t c = t * 16; c < t * 16 + 16; ++c) {
            uint16_t * dst = m.a + c * lda;
            const float * src = w + c * ldw;
            for (int64_t k = 0; k < np; k += 32) {
                __m512 lo = _mm512_setzero_ps(), hi = lo;
                if (c < C) {
                    const int64_t left = n - k;
                    const __mmask16 mlo = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
                    const __mmask16 mhi = left >= 32 ? (__mmask16)0xFFFF : left > 16 ? (__mmask16)((1u << (left - 16)) - 1) : 0;
                    lo = _mm512_maskz_loadu_ps(mlo, src + k);
                    hi = _mm512_maskz_loadu_ps(mhi, src + k + 16);
                }
                _mm512_store_si512((void *)(dst + k), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            }
        }
    });

    // 1. one task per slab of HS columns
    const int64_t n_slabs = (H + HS - 1) / HS;
    pool.parallel_for(n_slabs, [&](int64_t s, int thread) {
        Impl::Scratch & sc = m.scratch[(size_t)thread];
        if (!sc.b) {
            sc.b = alloc64<uint16_t>(sc.b_mem, HS / 16 * KG * kTileVals);
            sc.rows.assign((size_t)(2 * HS), 0.0f);
        }
        const int64_t h0 = s * HS, ws = std::min(HS, H - h0), ws32 = up32(ws);
        const size_t col_bytes = row_size(m.etype, h0), slab_bytes = row_size(m.etype, ws);
        float * r0 = sc.rows.data();
        float * r1 = r0 + HS;
        std::fill(r0 + ws, r0 + ws32, 0.0f);  // the padded columns (H not a multiple of 32)
        std::fill(r1 + ws, r1 + ws32, 0.0f);
        // the slab's bytes of row j of the product (E's row idx[j] or v0 + j)
        auto slab_of = [&](int64_t j) { return m.E + (size_t)(idx ? (int64_t)idx[j] : v0 + j) * m.row_bytes + col_bytes; };
        mm::amx::configure_tiles(64);  // every tile 16 x 64 bytes
        for (int64_t k0 = 0; k0 < n; k0 += KC) {
            const int64_t nk = std::min(KC, n - k0), ng = up32(nk) / 32;
            for (int64_t j = 0; j < ng * 32; j += 2) {
                // the slab's bytes of the rows kPrefetch ahead: rows are far apart, a stride the hardware
                // prefetchers do not follow, so without this every row waits for memory
                for (int64_t q = j + kPrefetch; q < std::min(nk, j + kPrefetch + 2); ++q)
                    for (size_t off = 0; off < slab_bytes; off += 64) _mm_prefetch((const char *)slab_of(k0 + q) + off, _MM_HINT_T0);
                for (int64_t q = 0; q < 2; ++q) {
                    float * dst = q ? r1 : r0;
                    if (j + q < nk) m.to_float(slab_of(k0 + j + q), dst, ws);
                    else std::fill(dst, dst + ws, 0.0f);
                }
                uint16_t * tile_row = sc.b + (j / 32) * kTileVals + ((j % 32) / 2) * 32;
                for (int64_t hb = 0; hb < ws32 / 16; ++hb)
                    _mm512_store_si512((void *)(tile_row + hb * KG * kTileVals),
                                       pair_row(_mm512_loadu_ps(r0 + hb * 16), _mm512_loadu_ps(r1 + hb * 16)));
            }
            slab_product(m.a + k0, lda, sc.b, acc + h0, ld, Cp, ws32, ng);
        }
    });

    if (m.direct) return;
    // out += acc
    pool.parallel_for((C + 15) / 16, [&](int64_t t, int) {
        barrier();
        for (int64_t c = t * 16; c < std::min(C, t * 16 + 16); ++c) {
            float * o = out + c * H;
            const float * sp = m.acc + c * m.Hp;
            int64_t h = 0;
            for (; h + 16 <= H; h += 16) _mm512_storeu_ps(o + h, _mm512_add_ps(_mm512_loadu_ps(o + h), _mm512_loadu_ps(sp + h)));
            for (; h < H; ++h) o[h] += sp[h];
        }
    });
}

}  // namespace ld::ggml
