// C++ test of the attention entry points the Python bindings never reach: a query buffer with a token
// stride larger than n_head * head_dim, K/V with a padded token stride (aligned, and unaligned for F32,
// which takes the copy path), and every kernel ISA this machine runs against attention_ref.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "common/error.h"
#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/fp16.h"

using namespace ld::ggml;

namespace {

int g_failures = 0;

void check(bool ok, const char * what) {
    if (!ok) {
        std::printf("FAIL: %s\n", what);
        ++g_failures;
    }
}

// Writes token j, KV head g (head_dim values) of an F32 or F16 buffer with the given token stride.
void put_row(std::vector<uint8_t> & buf, Type t, size_t stride, int64_t j, int64_t g, int64_t d, const float * x) {
    uint8_t * dst = buf.data() + (size_t)j * stride + (size_t)g * d * (t == Type::F16 ? 2 : 4);
    for (int64_t c = 0; c < d; ++c) {
        if (t == Type::F16) {
            const fp16_t h = f32_to_fp16(x[c]);
            std::memcpy(dst + 2 * c, &h, 2);
        } else {
            std::memcpy(dst + 4 * c, &x[c], 4);
        }
    }
}

void run_case(Type kv_type, size_t extra_bytes, AttnMask mask) {
    const int64_t n_q = 21, n_head = 4, d = 48, n_kv = 90, n_kv_head = 2;
    const int64_t q_stride = n_head * d + 5;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    std::vector<float> q((size_t)(n_q * q_stride));
    for (float & x : q) x = 0.2f * nd(rng);
    const size_t elt = kv_type == Type::F16 ? 2 : 4;
    const size_t stride = (size_t)(n_kv_head * d) * elt + extra_bytes;
    std::vector<uint8_t> k(stride * n_kv + 8), v(stride * n_kv + 8);
    std::vector<float> row((size_t)d);
    for (int64_t j = 0; j < n_kv; ++j)
        for (int64_t g = 0; g < n_kv_head; ++g) {
            for (float & x : row) x = nd(rng);
            put_row(k, kv_type, stride, j, g, d, row.data());
            for (float & x : row) x = nd(rng);
            put_row(v, kv_type, stride, j, g, d, row.data());
        }
    std::vector<int32_t> q_pos((size_t)n_q), k_pos((size_t)n_kv);
    for (int64_t i = 0; i < n_q; ++i) q_pos[(size_t)i] = (int32_t)(n_kv - n_q + i);
    for (int64_t j = 0; j < n_kv; ++j) k_pos[(size_t)j] = (int32_t)j;

    AttnArgs a;
    a.q = q.data();
    a.q_pos = q_pos.data();
    a.n_q = n_q;
    a.n_head = n_head;
    a.head_dim = d;
    a.q_stride = q_stride;
    a.k = k.data();
    a.v = v.data();
    a.k_pos = k_pos.data();
    a.kv_type = kv_type;
    a.n_kv = n_kv;
    a.n_kv_head = n_kv_head;
    a.kv_stride = stride;
    a.mask = mask;
    a.window = mask == AttnMask::causal ? 0 : 17;
    a.canvas_begin = (int32_t)(n_kv - n_q);

    std::vector<float> ref((size_t)(n_q * n_head * d)), got(ref.size());
    a.out = ref.data();
    attention_ref(a);
    double ref_abs = 0.0;
    for (float x : ref) ref_abs = std::fmax(ref_abs, std::fabs(x));
    check(ref_abs > 0.1, "reference output is not trivial");

    for (CpuIsa isa : cpu_isas_available()) {
        for (int nt : {1, 3}) {
            ThreadPool pool(nt);
            a.out = got.data();
            attention(a, &pool, isa);
            double err = 0.0;
            for (size_t i = 0; i < ref.size(); ++i) err = std::fmax(err, std::fabs((double)got[i] - ref[i]));
            char what[160];
            std::snprintf(what, sizeof what, "attention %s kv=%s extra=%zu mask=%d threads=%d: max err %.3g",
                          cpu_isa_name(isa), type_name((int32_t)kv_type), extra_bytes, (int)mask, nt, err);
            check(err < 2e-5, what);
        }
    }
}

}  // namespace

int main() {
    for (AttnMask mask : {AttnMask::causal, AttnMask::sliding, AttnMask::canvas}) {
        run_case(Type::F32, 0, mask);
        run_case(Type::F32, 64, mask);  // padded, aligned: read in place
        run_case(Type::F32, 6, mask);   // unaligned token stride: copy path
        run_case(Type::F16, 2, mask);
    }
    // A kv_stride smaller than one token is an error, not a crash.
    AttnArgs bad;
    float dummy[32] = {};
    int32_t pos[1] = {0};
    bad.q = dummy;
    bad.q_pos = pos;
    bad.n_q = 1;
    bad.n_head = 1;
    bad.head_dim = 16;
    bad.k = bad.v = dummy;
    bad.k_pos = pos;
    bad.n_kv = 1;
    bad.n_kv_head = 1;
    bad.kv_stride = 8;
    bad.out = dummy + 16;
    bool threw = false;
    try {
        attention(bad);
    } catch (const ld::ggml::Error &) {
        threw = true;
    }
    check(threw, "kv_stride too small throws ld::Error");
    if (g_failures == 0) std::printf("test-nn-attention-strides: OK\n");
    return g_failures == 0 ? 0 : 1;
}
