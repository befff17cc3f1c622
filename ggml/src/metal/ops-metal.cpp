// The Metal backend's op layer (ops-metal.h): argument checks, kernel choice, argument structs, grids,
// weight handling and scratch, shared by the Metal host and the Linux emulator.
#include "metal/ops-metal.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ld-ggml/error.h"
#include "metal/ld-metal-args.h"

namespace ld::ggml::metal {

namespace {

constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kHeadTile = 4096;

enum Slot { kCounts = 0, kLists, kMoeTmp, kHeadLogits, kHeadState, kHeadFac, kSlots };

void check_i32(const char * op, int64_t v, const char * what) {
    if (v < 0 || v > kI32Max)
        throw Error(strfmt("metal %s: %s = %lld is outside the kernels' 32-bit index range", op, what, (long long)v));
}

uint32_t groups_for(int64_t n, int64_t per) { return (uint32_t)std::max<int64_t>(1, (n + per - 1) / per); }

template <class T>
LaunchBuf buf(const T * p, int64_t n) { return LaunchBuf{(const void *)p, (size_t)n * sizeof(T)}; }
LaunchBuf bytes_buf(const void * p, size_t n) { return LaunchBuf{p, n}; }

}  // namespace

const char * kernel_name(Kernel k) {
    static const char * const names[] = {
        "ld_add", "ld_scale", "ld_softcap", "ld_fill", "ld_geglu", "ld_rms_norm", "ld_softmax", "ld_rope_neox",
        "ld_router_topk", "ld_get_rows", "ld_store_rows", "ld_mul_mm", "ld_moe_group", "ld_mul_mm_id",
        "ld_moe_reduce", "ld_attention", "ld_head_stats", "ld_head_soft", "ld_head_final"};
    static_assert(sizeof(names) / sizeof(names[0]) == (size_t)Kernel::count, "kernel names");
    const int i = (int)k;
    return i >= 0 && i < (int)Kernel::count ? names[i] : "?";
}

bool native_type(Type t) {
    switch (t) {
        case Type::F32: case Type::F16: case Type::BF16: case Type::Q8_0: case Type::Q5_0: case Type::Q4_K:
        case Type::Q6_K: return true;
        default: return false;
    }
}

OpsBackend::~OpsBackend() = default;

void OpsBackend::release_all() noexcept {
    for (auto & s : scratch_) free(s.first);
    scratch_.clear();
    for (auto & c : copies_) free(c.second.dev);
    copies_.clear();
    for (auto & t : inv_freq_) free(t.second);
    inv_freq_.clear();
    by_host_.clear();
}

const void * OpsBackend::weight(const void * host, Type type, int64_t ne0, int64_t n_rows) {
    if (!host) throw Error("metal weight: null tensor");
    const TypeTraits * tt = type_traits(type);
    if (!tt || ne0 < 1 || n_rows < 1 || ne0 % tt->block_size != 0)
        throw Error(strfmt("metal weight: bad tensor (type %s, ne0 %lld, rows %lld)", type_name((int32_t)type),
                           (long long)ne0, (long long)n_rows));
    const size_t row = row_size(type, ne0), bytes = row * (size_t)n_rows;
    auto it = by_host_.find(host);
    if (it != by_host_.end()) {
        if (it->second.type != type || it->second.bytes != bytes)
            throw Error(strfmt("metal weight: host tensor %p was loaded before as %s (%zu bytes), now as %s (%zu bytes)", host,
                               type_name((int32_t)it->second.type), it->second.bytes, type_name((int32_t)type), bytes));
        return it->second.p;
    }
    if (native_type(type)) {
        wrap_host(host, bytes);
        by_host_[host] = Loaded{host, type, bytes};
        return host;
    }
    if (!tt->to_float)
        throw Error(strfmt("metal weight: type %s cannot be dequantized (no reference to_float)", tt->name));
    WeightCopy c;
    c.host = host;
    c.host_bytes = bytes;
    c.type = type;
    c.host_row = row;
    c.ne0 = ne0;
    c.dev = (float *)alloc((size_t)ne0 * (size_t)n_rows * sizeof(float));
    std::vector<float> tmp((size_t)ne0 * 64);
    for (int64_t r0 = 0; r0 < n_rows; r0 += 64) {
        const int64_t nr = std::min<int64_t>(64, n_rows - r0);
        tt->to_float((const uint8_t *)host + (size_t)r0 * row, tmp.data(), nr * ne0);
        upload(c.dev + r0 * ne0, tmp.data(), (size_t)(nr * ne0) * sizeof(float));
    }
    weight_bytes_ += (size_t)ne0 * (size_t)n_rows * sizeof(float);
    copies_[(const char *)c.dev] = c;
    by_host_[host] = Loaded{c.dev, type, bytes};
    return c.dev;
}

OpsBackend::Resolved OpsBackend::resolve(const void * w, Type wtype, int64_t ne0) const {
    if (!w) throw Error("metal: null weight");
    const char * p = (const char *)w;
    auto it = copies_.upper_bound(p);
    if (it != copies_.begin()) {
        --it;
        const WeightCopy & c = it->second;
        const size_t off = (size_t)(p - it->first);
        if (off < (size_t)c.ne0 * (c.host_bytes / c.host_row) * sizeof(float)) {
            // Offsets into a converted weight are computed by the caller in stored rows.
            if (c.type != wtype || c.ne0 != ne0 || off % c.host_row != 0)
                throw Error(strfmt("metal: weight pointer does not match its tensor (%s, ne0 %lld; given %s, ne0 %lld)",
                                   type_name((int32_t)c.type), (long long)c.ne0, type_name((int32_t)wtype), (long long)ne0));
            return Resolved{c.dev + (off / c.host_row) * (size_t)ne0, Type::F32, (size_t)ne0 * sizeof(float)};
        }
    }
    if (!native_type(wtype))
        throw Error(strfmt("metal: a weight of type %s must come from weight() (it is dequantized to F32 at load)",
                           type_name((int32_t)wtype)));
    return Resolved{w, wtype, row_size(wtype, ne0)};
}

void * OpsBackend::scratch(int slot, size_t bytes) {
    if (scratch_.size() < (size_t)kSlots) scratch_.resize(kSlots, {nullptr, 0});
    auto & s = scratch_[(size_t)slot];
    if (s.second < bytes) {
        if (s.first) {
            synchronize();  // the old buffer may still be read by enqueued work
            free(s.first);
            s.first = nullptr;
            s.second = 0;
        }
        s.first = alloc(std::max<size_t>(bytes, 64));
        s.second = bytes;
    }
    return s.first;
}

void OpsBackend::dispatch(Kernel k, const void * args, size_t args_size, std::initializer_list<LaunchBuf> bufs,
                          uint32_t gx, uint32_t gy, uint32_t gz, uint32_t threads) {
    Launch l;
    l.fn = k;
    l.args = args;
    l.args_size = args_size;
    if (bufs.size() > 8) throw Error("metal: too many buffers");
    for (const LaunchBuf & b : bufs) l.bufs[l.n_bufs++] = b;
    l.gx = gx;
    l.gy = gy;
    l.gz = gz;
    l.threads = threads;
    launch(l);
}

bool OpsBackend::supports_matmul(Type wtype) const {
    if (native_type(wtype)) return true;
    const TypeTraits * tt = type_traits(wtype);
    return tt && tt->to_float;
}

void OpsBackend::matmul_resolved(const float * x, int64_t N, int64_t K, const Resolved & w, int64_t M, float * y) {
    check_i32("matmul", N * K, "N * K");
    check_i32("matmul", N * M, "N * M");
    LdMatmulArgs a{};
    a.N = (int32_t)N;
    a.K = (int32_t)K;
    a.M = (int32_t)M;
    a.wtype = (int32_t)w.type;
    a.row_bytes = (uint32_t)w.row_bytes;
    dispatch(Kernel::mul_mm, &a, sizeof a, {buf(x, N * K), bytes_buf(w.p, w.row_bytes * (size_t)M), buf(y, N * M)},
             groups_for(M, 32), groups_for(N, 32), 1, 128);
}

void OpsBackend::matmul(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y) {
    const TypeTraits * tt = type_traits(wtype);
    if (!tt || !supports_matmul(wtype)) throw Error(strfmt("metal matmul: weight type %s is not supported", type_name((int32_t)wtype)));
    if (N < 0 || K < 1 || M < 0 || K % tt->block_size != 0)
        throw Error(strfmt("metal matmul: bad shape N %lld K %lld M %lld for %s (block %lld)", (long long)N, (long long)K,
                           (long long)M, tt->name, (long long)tt->block_size));
    if (N == 0 || M == 0) return;
    if (!x || !y) throw Error("metal matmul: null x or y");
    matmul_resolved(x, N, K, resolve(w, wtype, K), M, y);
}

void OpsBackend::moe_matmul(const MoeArgs & m) {
    const TypeTraits * tt = type_traits(m.wtype);
    if (!tt || !supports_matmul(m.wtype)) throw Error(strfmt("metal moe_matmul: weight type %s is not supported", type_name((int32_t)m.wtype)));
    if (m.N < 0 || m.K < 1 || m.M < 1 || m.E < 1 || m.top_k < 1 || m.K % tt->block_size != 0)
        throw Error(strfmt("metal moe_matmul: bad shape N %lld K %lld M %lld E %lld top_k %lld", (long long)m.N,
                           (long long)m.K, (long long)m.M, (long long)m.E, (long long)m.top_k));
    if (m.N == 0) return;
    if (!m.x || !m.ids || !m.y || !m.w) throw Error("metal moe_matmul: null argument");
    const int64_t NP = m.N * m.top_k;
    check_i32("moe_matmul", NP * m.M, "N * top_k * M");
    check_i32("moe_matmul", NP * m.K, "N * top_k * K");
    check_i32("moe_matmul", NP * m.E, "N * top_k * E");
    const Resolved w = resolve(m.w, m.wtype, m.K);
    int32_t * counts = (int32_t *)scratch(kCounts, (size_t)m.E * sizeof(int32_t));
    int32_t * lists = (int32_t *)scratch(kLists, (size_t)(m.E * NP) * sizeof(int32_t));
    float * out = m.rw ? (float *)scratch(kMoeTmp, (size_t)(NP * m.M) * sizeof(float)) : m.y;
    LdMoeArgs g{(int32_t)m.N, (int32_t)m.top_k, (int32_t)m.E, (int32_t)m.M};
    if (!m.rw) {
        LdEltArgs f{(int32_t)(NP * m.M), 0.0f};
        dispatch(Kernel::fill, &f, sizeof f, {buf(out, NP * m.M)}, groups_for(NP * m.M, 256), 1, 1, 256);
    }
    dispatch(Kernel::moe_group, &g, sizeof g, {buf(m.ids, NP), buf(counts, m.E), buf(lists, m.E * NP)},
             (uint32_t)m.E, 1, 1, 32);
    LdMatmulArgs a{};
    a.N = (int32_t)m.N;
    a.K = (int32_t)m.K;
    a.M = (int32_t)m.M;
    a.wtype = (int32_t)w.type;
    a.row_bytes = (uint32_t)w.row_bytes;
    a.E = (int32_t)m.E;
    a.top_k = (int32_t)m.top_k;
    a.x_per_slot = m.x_per_slot ? 1 : 0;
    a.NP = (int32_t)NP;
    a.expert_bytes = (uint64_t)w.row_bytes * (uint64_t)m.M;
    dispatch(Kernel::mul_mm_id, &a, sizeof a,
             {buf(m.x, (m.x_per_slot ? NP : m.N) * m.K), bytes_buf(w.p, (size_t)a.expert_bytes * (size_t)m.E),
              buf(counts, m.E), buf(lists, m.E * NP), buf(out, NP * m.M)},
             groups_for(m.M, 32), groups_for(NP, 32), (uint32_t)m.E, 128);
    if (m.rw)
        dispatch(Kernel::moe_reduce, &g, sizeof g, {buf(out, NP * m.M), buf(m.rw, NP), buf(m.ids, NP), buf(m.y, m.N * m.M)},
                 groups_for(m.N * m.M, 256), 1, 1, 256);
}

void OpsBackend::rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out) {
    if (n_rows < 0 || n < 1 || !x || !out) throw Error(strfmt("metal rms_norm: bad shape [%lld, %lld]", (long long)n_rows, (long long)n));
    if (!(eps >= 0.0f)) throw Error(strfmt("rms_norm: eps must be >= 0, got %g", (double)eps));
    if (n_rows == 0) return;
    check_i32("rms_norm", n_rows * n, "n_rows * n");
    LdRowArgs a{(int32_t)n_rows, (int32_t)n, eps, weight ? 1 : 0};
    dispatch(Kernel::rms_norm, &a, sizeof a, {buf(x, n_rows * n), weight ? buf(weight, n) : buf(x, 1), buf(out, n_rows * n)},
             (uint32_t)n_rows, 1, 1, 32);
}

void OpsBackend::rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                           const RopeParams & p) {
    const int64_t n_rot = p.n_rot ? p.n_rot : head_dim;
    if (n_tok < 0 || n_head < 1 || head_dim < 2 || n_rot < 2 || n_rot % 2 != 0 || n_rot > head_dim)
        throw Error(strfmt("metal rope_neox: bad shape n_tok %lld n_head %lld head_dim %lld n_rot %lld", (long long)n_tok,
                           (long long)n_head, (long long)head_dim, (long long)n_rot));
    if (n_tok == 0) return;
    if (!x || !pos) throw Error("metal rope_neox: null x or pos");
    check_i32("rope_neox", n_tok * n_head * head_dim, "n_tok * n_head * head_dim");
    const float * inv = p.inv_freq;
    if (!inv) {
        uint32_t tb;
        std::memcpy(&tb, &p.theta_base, 4);
        auto key = std::make_pair(n_rot, tb);
        auto it = inv_freq_.find(key);
        if (it == inv_freq_.end()) {
            // As the CPU (nn-common.h rope_inv_freq): 1 / f32(base^(f32(2i / n_rot))), the power in double.
            std::vector<float> t((size_t)(n_rot / 2));
            for (int64_t i = 0; i < n_rot / 2; ++i) {
                const float expo = (float)(2 * i) / (float)n_rot;
                t[(size_t)i] = 1.0f / (float)std::pow((double)p.theta_base, (double)expo);
            }
            float * d = (float *)alloc(t.size() * sizeof(float));
            upload(d, t.data(), t.size() * sizeof(float));
            it = inv_freq_.emplace(key, d).first;
        }
        inv = it->second;
    }
    LdRopeArgs a{(int32_t)n_tok, (int32_t)n_head, (int32_t)head_dim, (int32_t)n_rot, p.freq_factors ? 1 : 0};
    const int64_t n = n_tok * n_head * (n_rot / 2);
    dispatch(Kernel::rope_neox, &a, sizeof a,
             {buf(x, n_tok * n_head * head_dim), buf(pos, n_tok), buf(inv, n_rot / 2),
              p.freq_factors ? buf(p.freq_factors, n_rot / 2) : buf(inv, n_rot / 2)},
             groups_for(n, 256), 1, 1, 256);
}

void OpsBackend::geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out) {
    if (n_rows < 0 || n < 1 || ld_in < n || !gate || !up || !out)
        throw Error(strfmt("metal geglu: bad arguments [%lld, %lld] ld_in %lld", (long long)n_rows, (long long)n, (long long)ld_in));
    if (n_rows == 0) return;
    check_i32("geglu", n_rows * ld_in, "n_rows * ld_in");
    LdGegluArgs a{(int32_t)n_rows, (int32_t)n, (int32_t)ld_in};
    const int64_t span = (n_rows - 1) * ld_in + n;
    dispatch(Kernel::geglu, &a, sizeof a, {buf(gate, span), buf(up, span), buf(out, n_rows * n)},
             groups_for(n_rows * n, 256), 1, 1, 256);
}

void OpsBackend::softcap(const float * x, int64_t n, float cap, float * out) {
    if (n < 0 || !(cap > 0.0f) || !std::isfinite(cap)) throw Error(strfmt("metal softcap: bad n %lld or cap %g", (long long)n, (double)cap));
    if (n == 0) return;
    check_i32("softcap", n, "n");
    LdEltArgs a{(int32_t)n, cap};
    dispatch(Kernel::softcap, &a, sizeof a, {buf(x, n), buf(out, n)}, groups_for(n, 256), 1, 1, 256);
}

void OpsBackend::softmax(const float * x, int64_t n_rows, int64_t n, float * out) {
    if (n_rows < 0 || n < 1 || !x || !out) throw Error(strfmt("metal softmax: bad shape [%lld, %lld]", (long long)n_rows, (long long)n));
    if (n_rows == 0) return;
    check_i32("softmax", n_rows * n, "n_rows * n");
    LdRowArgs a{(int32_t)n_rows, (int32_t)n, 0.0f, 0};
    dispatch(Kernel::softmax, &a, sizeof a, {buf(x, n_rows * n), buf(out, n_rows * n)}, (uint32_t)n_rows, 1, 1, 32);
}

void OpsBackend::router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k,
                             const float * per_expert_scale, int32_t * ids_out, float * weights_out) {
    if (n_tok < 0 || n_expert < 1 || n_expert > 1024 || k < 1 || k > n_expert)
        throw Error(strfmt("metal router_topk: bad shape n_tok %lld n_expert %lld (<= 1024) k %lld", (long long)n_tok,
                           (long long)n_expert, (long long)k));
    if (n_tok == 0) return;
    if (!logits || !ids_out || !weights_out) throw Error("metal router_topk: null argument");
    check_i32("router_topk", n_tok * n_expert, "n_tok * n_expert");
    LdRouterArgs a{(int32_t)n_tok, (int32_t)n_expert, (int32_t)k, per_expert_scale ? 1 : 0};
    dispatch(Kernel::router_topk, &a, sizeof a,
             {buf(logits, n_tok * n_expert), per_expert_scale ? buf(per_expert_scale, n_expert) : buf(logits, 1),
              buf(ids_out, n_tok * k), buf(weights_out, n_tok * k)},
             groups_for(n_tok, 64), 1, 1, 64);
}

void OpsBackend::attention(const AttnArgs & a) {
    attention_validate(a);
    if (a.head_dim > 512) throw Error(strfmt("metal attention: head_dim %lld > 512", (long long)a.head_dim));
    if (a.n_q == 0) return;
    const int64_t q_stride = a.q_stride ? a.q_stride : a.n_head * a.head_dim;
    check_i32("attention", a.n_q * q_stride, "n_q * q_stride");
    check_i32("attention", a.n_q * a.n_head * a.head_dim, "n_q * n_head * head_dim");
    if (a.n_kv == 0) {
        const int64_t n = a.n_q * a.n_head * a.head_dim;
        LdEltArgs f{(int32_t)n, 0.0f};
        dispatch(Kernel::fill, &f, sizeof f, {buf(a.out, n)}, groups_for(n, 256), 1, 1, 256);
        return;
    }
    const size_t row = row_size(a.kv_type, a.head_dim);
    const size_t stride = a.kv_stride ? a.kv_stride : row * (size_t)a.n_kv_head;
    if (stride > 0xFFFFFFFFu || (double)stride * (double)a.n_kv > 9e18) throw Error("metal attention: K/V too large");
    LdAttnArgs p{};
    p.n_q = (int32_t)a.n_q;
    p.n_head = (int32_t)a.n_head;
    p.head_dim = (int32_t)a.head_dim;
    p.q_stride = (int32_t)q_stride;
    p.n_kv = (int32_t)a.n_kv;
    p.n_kv_head = (int32_t)a.n_kv_head;
    p.kv_type = (int32_t)a.kv_type;
    p.mask = (int32_t)a.mask;
    p.kv_stride = (uint32_t)stride;
    p.kv_row_bytes = (uint32_t)row;
    p.window = a.window;
    p.canvas_begin = a.canvas_begin;
    p.scale = a.scale;
    const size_t kv_bytes = (size_t)(a.n_kv - 1) * stride + row * (size_t)a.n_kv_head;
    dispatch(Kernel::attention, &p, sizeof p,
             {buf(a.q, (a.n_q - 1) * q_stride + a.n_head * a.head_dim), buf(a.q_pos, a.n_q), bytes_buf(a.k, kv_bytes),
              bytes_buf(a.v, kv_bytes), buf(a.k_pos, a.n_kv), buf(a.out, a.n_q * a.n_head * a.head_dim)},
             (uint32_t)a.n_head, (uint32_t)a.n_q, 1, 32);
}

void OpsBackend::add(const float * a, const float * b, int64_t n, float * out) {
    if (n < 0 || (n > 0 && (!a || !b || !out))) throw Error("metal add: bad arguments");
    if (n == 0) return;
    check_i32("add", n, "n");
    LdEltArgs p{(int32_t)n, 0.0f};
    dispatch(Kernel::add, &p, sizeof p, {buf(a, n), buf(b, n), buf(out, n)}, groups_for(n, 256), 1, 1, 256);
}

void OpsBackend::scale(const float * x, int64_t n, float s, float * out) {
    if (n < 0 || (n > 0 && (!x || !out))) throw Error("metal scale: bad arguments");
    if (n == 0) return;
    check_i32("scale", n, "n");
    LdEltArgs p{(int32_t)n, s};
    dispatch(Kernel::scale, &p, sizeof p, {buf(x, n), buf(out, n)}, groups_for(n, 256), 1, 1, 256);
}

void OpsBackend::get_rows(const void * w, Type wtype, int64_t ne0, int64_t n_rows, const int32_t * ids, int64_t n,
                          float s, float * out) {
    const TypeTraits * tt = type_traits(wtype);
    if (!tt || ne0 < 1 || n_rows < 1 || n < 0 || ne0 % tt->block_size != 0)
        throw Error(strfmt("metal get_rows: bad arguments (type %s, ne0 %lld, rows %lld, n %lld)", type_name((int32_t)wtype),
                           (long long)ne0, (long long)n_rows, (long long)n));
    if (n == 0) return;
    if (!ids || !out) throw Error("metal get_rows: null ids or out");
    check_i32("get_rows", n * ne0, "n * ne0");
    check_i32("get_rows", n_rows, "n_rows");
    const Resolved r = resolve(w, wtype, ne0);
    LdGetRowsArgs a{(int32_t)ne0, (int32_t)n_rows, (int32_t)r.type, (int32_t)n, (uint32_t)r.row_bytes, s};
    dispatch(Kernel::get_rows, &a, sizeof a, {bytes_buf(r.p, r.row_bytes * (size_t)n_rows), buf(ids, n), buf(out, n * ne0)},
             groups_for(ne0, 256), (uint32_t)n, 1, 256);
}

void OpsBackend::store_rows(const float * src, int64_t n, int64_t width, Type dst_type, void * dst) {
    if (dst_type != Type::F32 && dst_type != Type::F16 && dst_type != Type::Q8_0)
        throw Error(strfmt("metal store_rows: destination type %s is not F32, F16 or Q8_0", type_name((int32_t)dst_type)));
    if (n < 0 || width < 1 || (dst_type == Type::Q8_0 && width % 32 != 0))
        throw Error(strfmt("metal store_rows: bad shape n %lld width %lld for %s", (long long)n, (long long)width,
                           type_name((int32_t)dst_type)));
    if (n == 0) return;
    if (!src || !dst) throw Error("metal store_rows: null src or dst");
    check_i32("store_rows", n * width, "n * width");
    const size_t row = row_size(dst_type, width);
    LdStoreRowsArgs a{(int32_t)n, (int32_t)width, (int32_t)dst_type, (uint32_t)row};
    const bool q8 = dst_type == Type::Q8_0;
    dispatch(Kernel::store_rows, &a, sizeof a, {buf(src, n * width), bytes_buf(dst, row * (size_t)n)},
             q8 ? (uint32_t)(width / 32) : groups_for(width, 256), (uint32_t)n, 1, q8 ? 32 : 256);
}

void OpsBackend::vocab_head(const VocabHeadArgs & h) {
    vocab_head_check_temperature(h.temperature);
    const int64_t C = h.C, H = h.H, V = h.V;
    if (C < 1 || V < 1 || H < 1)
        throw Error(strfmt("vocab head: empty input (C %lld, H %lld, V %lld)", (long long)C, (long long)H, (long long)V));
    if (!h.hidden || !h.out_w || !h.argmax || !h.draw || !h.entropy || (h.soft && !h.embd))
        throw Error("vocab head: null argument");
    check_i32("vocab head", V, "V");
    check_i32("vocab head", C * H, "C * H");
    const int64_t tile = std::min(kHeadTile, V);
    check_i32("vocab head", C * tile, "C * tile");
    const Resolved ow = resolve(h.out_w, h.out_type, H);
    const Resolved ew = h.soft ? resolve(h.embd, h.embd_type, H) : ow;
    float * lg = (float *)scratch(kHeadLogits, (size_t)(C * tile) * sizeof(float));
    LdHeadState * st = (LdHeadState *)scratch(kHeadState, (size_t)C * sizeof(LdHeadState));
    float * fac = (float *)scratch(kHeadFac, (size_t)C * sizeof(float));
    LdHeadArgs a{};
    a.C = (int32_t)C;
    a.H = (int32_t)H;
    a.temperature = h.temperature;
    a.sample = h.sample ? 1 : 0;
    a.has_soft = h.soft ? 1 : 0;
    a.etype = (int32_t)ew.type;
    a.erow_bytes = (uint32_t)ew.row_bytes;
    a.seed = h.seed;
    a.canvas_key = h.canvas_key;
    a.step_key = h.step_key;
    if (h.soft) {
        LdEltArgs f{(int32_t)(C * H), 0.0f};
        dispatch(Kernel::fill, &f, sizeof f, {buf(h.soft, C * H)}, groups_for(C * H, 256), 1, 1, 256);
    }
    for (int64_t v0 = 0; v0 < V; v0 += tile) {
        const int64_t nt = std::min(tile, V - v0);
        const Resolved tw{(const uint8_t *)ow.p + (size_t)v0 * ow.row_bytes, ow.type, ow.row_bytes};
        matmul_resolved(h.hidden, C, H, tw, nt, lg);
        if (h.softcap > 0.0f) softcap(lg, C * nt, h.softcap, lg);
        a.nt = (int32_t)nt;
        a.v0 = (int32_t)v0;
        a.first = v0 == 0 ? 1 : 0;
        dispatch(Kernel::head_stats, &a, sizeof a, {buf(lg, C * nt), buf(st, C), buf(fac, C)}, (uint32_t)C, 1, 1, 32);
        if (h.soft)
            dispatch(Kernel::head_soft, &a, sizeof a,
                     {buf(lg, C * nt), buf(fac, C), bytes_buf(ew.p, ew.row_bytes * (size_t)V), buf(h.soft, C * H)},
                     groups_for(H, 32), (uint32_t)C, 1, 32);
    }
    dispatch(Kernel::head_final, &a, sizeof a,
             {buf(st, C), buf(h.argmax, C), buf(h.draw, C), buf(h.entropy, C), h.soft ? buf(h.soft, C * H) : buf(h.entropy, C)},
             (uint32_t)C, 1, 1, 32);
    // The CPU head's check: every position's softmax must be finite (one small read-back).
    std::vector<LdHeadState> back((size_t)C);
    download(back.data(), st, back.size() * sizeof(LdHeadState));
    for (int64_t c = 0; c < C; ++c) vocab_head_check_finite(back[(size_t)c].s, back[(size_t)c].a, c);
}

}  // namespace ld::ggml::metal
