// Reads HParams from GGUF metadata (docs/format.md for the diffusion-gemma keys; llama.cpp's gemma3
// keys). A file is untrusted input: every integer is range-checked and every float must be finite and
// in range before anything is sized from it (the limits below are far above any real Gemma model).
#include "model/hparams.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"
#include "gguf/gguf-reader.h"

namespace ld {

const char * model_arch_name(ModelArch a) {
    return a == ModelArch::gemma3 ? "gemma3" : "diffusion-gemma";
}

namespace {

// Upper bounds on sizes read from metadata, checked before any allocation: ~10-30x the largest
// Gemma 3 / Gemma 4 values, so a crafted file gets a clear error instead of a giant allocation.
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxEmbd = 1 << 16;        // H
constexpr int64_t kMaxFf = 1 << 18;          // dense and per-expert MLP widths
constexpr int64_t kMaxHeads = 1024;          // query and KV heads per layer
constexpr int64_t kMaxHeadDim = 4096;
constexpr int64_t kMaxQueryWidth = 1 << 17;  // n_head * head_dim
constexpr int64_t kMaxExperts = 4096;
constexpr int64_t kMaxCanvas = 8192;         // DiffusionGemma uses 256
constexpr double kMaxRopeBase = 1e12;

using gguf::File;
using gguf::Value;
using gguf::ValueType;

struct Keys {
    const File & f;
    std::string arch;

    std::string k(const char * suffix) const { return arch + "." + suffix; }

    [[noreturn]] void missing(const std::string & key) const {
        throw Error(strfmt("%s: %s model: required metadata key '%s' is missing", f.name().c_str(), arch.c_str(),
                           key.c_str()));
    }
    int64_t req_int(const std::string & key, int64_t lo, int64_t hi) const {
        if (!f.has(key)) missing(key);
        return check(key, f.get_i64(key), lo, hi);
    }
    int64_t opt_int(const std::string & key, int64_t def, int64_t lo, int64_t hi) const {
        auto v = f.find_i64(key);
        return v ? check(key, *v, lo, hi) : def;
    }
    // Floats: finite and in [lo, hi] (lo_open: lo itself excluded).
    float req_f32(const std::string & key, double lo, double hi, bool lo_open = false) const {
        if (!f.has(key)) missing(key);
        return check_f32(key, f.get_f32(key), lo, hi, lo_open);
    }
    float opt_f32(const std::string & key, float def, double lo, double hi, bool lo_open = false) const {
        auto v = f.find_f32(key);
        return v ? check_f32(key, *v, lo, hi, lo_open) : def;
    }
    float check_f32(const std::string & key, float v, double lo, double hi, bool lo_open) const {
        const bool ok = std::isfinite(v) && (lo_open ? (double)v > lo : (double)v >= lo) && (double)v <= hi;
        if (!ok)
            throw Error(strfmt("%s: metadata key '%s' = %g is not a finite number in %c%g, %g]", f.name().c_str(),
                               key.c_str(), (double)v, lo_open ? '(' : '[', lo, hi));
        return v;
    }
    int64_t check(const std::string & key, int64_t v, int64_t lo, int64_t hi) const {
        if (v < lo || v > hi)
            throw Error(strfmt("%s: metadata key '%s' = %lld is out of range [%lld, %lld]", f.name().c_str(), key.c_str(),
                               (long long)v, (long long)lo, (long long)hi));
        return v;
    }
    // A scalar integer (same for every layer) or an integer array of length n_layer.
    std::vector<int32_t> per_layer_int(const std::string & key, int n_layer, int64_t lo, int64_t hi) const {
        const Value * v = f.find(key);
        if (!v) missing(key);
        std::vector<int32_t> out((size_t)n_layer);
        if (v->is_array()) {
            if ((int64_t)v->array_size() != n_layer)
                throw Error(strfmt("%s: metadata key '%s' has %llu entries, expected one per layer (%d)", f.name().c_str(),
                                   key.c_str(), (unsigned long long)v->array_size(), n_layer));
            for (int i = 0; i < n_layer; ++i) out[(size_t)i] = (int32_t)check(key, v->int_at((uint64_t)i), lo, hi);
        } else {
            const int32_t x = (int32_t)check(key, v->as_int(), lo, hi);
            for (auto & o : out) o = x;
        }
        return out;
    }
};

// Sliding pattern: an array of bools (true = sliding) or a scalar period n (layer il is sliding
// unless (il + 1) % n == 0, llama.cpp's convention for the scalar form).
std::vector<bool> read_swa_pattern(const Keys & K, const std::string & key, int n_layer, int default_period,
                                   bool required) {
    std::vector<bool> out((size_t)n_layer);
    const Value * v = K.f.find(key);
    if (!v) {
        if (required) K.missing(key);
        for (int i = 0; i < n_layer; ++i) out[(size_t)i] = ((i + 1) % default_period) != 0;
        return out;
    }
    if (v->is_array()) {
        if ((int64_t)v->array_size() != n_layer)
            throw Error(strfmt("%s: metadata key '%s' has %llu entries, expected one per layer (%d)", K.f.name().c_str(),
                               key.c_str(), (unsigned long long)v->array_size(), n_layer));
        for (int i = 0; i < n_layer; ++i) out[(size_t)i] = v->int_at((uint64_t)i) != 0;
    } else {
        const int64_t n = K.check(key, v->as_int(), 1, 1 << 20);
        for (int i = 0; i < n_layer; ++i) out[(size_t)i] = n > 1 && ((i + 1) % n) != 0;
    }
    return out;
}

void read_common(const Keys & K, HParams & hp) {
    hp.n_layer = (int32_t)K.req_int(K.k("block_count"), 1, kMaxLayers);
    hp.n_embd = (int32_t)K.req_int(K.k("embedding_length"), 1, kMaxEmbd);
    hp.n_ff = (int32_t)K.req_int(K.k("feed_forward_length"), 1, kMaxFf);
    hp.n_ctx_train = K.opt_int(K.k("context_length"), 0, 0, INT64_C(1) << 40);
    {
        auto heads = K.per_layer_int(K.k("attention.head_count"), hp.n_layer, 1, kMaxHeads);
        for (int32_t h : heads)
            if (h != heads[0])
                throw Error(strfmt("%s: per-layer query head counts differ (%d vs %d); not supported", K.f.name().c_str(),
                                   h, heads[0]));
        hp.n_head = heads[0];
    }
    hp.n_kv_head = K.per_layer_int(K.k("attention.head_count_kv"), hp.n_layer, 1, kMaxHeads);
    for (int il = 0; il < hp.n_layer; ++il)
        if (hp.n_head % hp.n_kv_head[(size_t)il] != 0)
            throw Error(strfmt("%s: layer %d: %d query heads are not a multiple of %d KV heads", K.f.name().c_str(), il,
                               hp.n_head, hp.n_kv_head[(size_t)il]));
    hp.eps = K.req_f32(K.k("attention.layer_norm_rms_epsilon"), 0.0, 1.0, true);
    hp.head_dim = (int32_t)K.req_int(K.k("attention.key_length"), 2, kMaxHeadDim);
    const int64_t vl = K.opt_int(K.k("attention.value_length"), hp.head_dim, 2, kMaxHeadDim);
    if (vl != hp.head_dim)
        throw Error(strfmt("%s: attention.value_length %lld != key_length %d (not supported)", K.f.name().c_str(),
                           (long long)vl, hp.head_dim));
    hp.rope_base = K.opt_f32(K.k("rope.freq_base"), 10000.0f, 1.0, kMaxRopeBase, true);
    hp.sliding_window = (int32_t)K.req_int(K.k("attention.sliding_window"), 1, 1 << 30);
}

void read_diffusion_gemma(const Keys & K, HParams & hp) {
    read_common(K, hp);
    hp.head_dim_swa = (int32_t)K.req_int(K.k("attention.key_length_swa"), 2, kMaxHeadDim);
    const int64_t vls = K.req_int(K.k("attention.value_length_swa"), 2, kMaxHeadDim);
    if (vls != hp.head_dim_swa)
        throw Error(strfmt("%s: attention.value_length_swa %lld != key_length_swa %d (not supported)", K.f.name().c_str(),
                           (long long)vls, hp.head_dim_swa));
    hp.n_rot = (int32_t)K.opt_int(K.k("rope.dimension_count"), hp.head_dim, 2, hp.head_dim);
    hp.n_rot_swa = (int32_t)K.opt_int(K.k("rope.dimension_count_swa"), hp.head_dim_swa, 2, hp.head_dim_swa);
    if (hp.n_rot % 2 || hp.n_rot_swa % 2)
        throw Error(strfmt("%s: rope dimension counts must be even (%d, %d)", K.f.name().c_str(), hp.n_rot, hp.n_rot_swa));
    hp.rope_base_swa = K.opt_f32(K.k("rope.freq_base_swa"), 10000.0f, 1.0, kMaxRopeBase, true);
    hp.is_swa = read_swa_pattern(K, K.k("attention.sliding_window_pattern"), hp.n_layer, 6, true);
    hp.final_softcap = K.opt_f32(K.k("final_logit_softcapping"), 30.0f, 0.0, 1e6);
    hp.attn_scale = 1.0f;
    hp.n_expert = (int32_t)K.req_int(K.k("expert_count"), 1, kMaxExperts);
    hp.n_expert_used = (int32_t)K.req_int(K.k("expert_used_count"), 1, hp.n_expert);
    hp.n_ff_exp = (int32_t)K.req_int(K.k("expert_feed_forward_length"), 1, kMaxFf);

    const std::string cl = "diffusion.canvas_length";
    if (!K.f.has(cl)) K.missing(cl);
    hp.canvas_length = (int32_t)K.check(cl, K.f.get_i64(cl), 1, kMaxCanvas);
    // Sampler defaults: the ranges SamplerParams::validate() accepts (checked again per call).
    SamplerDefaults & s = hp.sampler;
    s.max_steps = (int32_t)K.opt_int("diffusion.eb_max_steps", s.max_steps, 1, 1 << 20);
    s.t_min = K.opt_f32("diffusion.eb_t_min", s.t_min, 0.0, 1e4);
    s.t_max = K.opt_f32("diffusion.eb_t_max", s.t_max, 0.0, 1e4, true);
    s.entropy_bound = K.opt_f32("diffusion.eb_entropy_bound", s.entropy_bound, 0.0, 1e6, true);
    s.stability_threshold = (int32_t)K.opt_int("diffusion.eb_stability_threshold", s.stability_threshold, 0, 1 << 20);
    s.confidence_threshold = K.opt_f32("diffusion.eb_confidence_threshold", s.confidence_threshold, 0.0, 1e6, true);
    const std::string ek = "diffusion.eos_token_ids";
    if (K.f.has(ek))
        for (int64_t e : K.f.get_int_array(ek)) hp.eos_token_ids.push_back((int32_t)K.check(ek, e, 0, INT32_MAX));
}

void read_gemma3(const Keys & K, HParams & hp) {
    read_common(K, hp);
    hp.head_dim_swa = hp.head_dim;
    hp.n_rot = (int32_t)K.opt_int(K.k("rope.dimension_count"), hp.head_dim, 2, hp.head_dim);
    hp.n_rot_swa = hp.n_rot;
    // llama.cpp hard-codes Gemma 3's local base 10000 (HF rope_local_base_freq); honour a key if present.
    hp.rope_base_swa = K.opt_f32(K.k("rope.freq_base_swa"), 10000.0f, 1.0, kMaxRopeBase, true);
    hp.is_swa = read_swa_pattern(K, K.k("attention.sliding_window_pattern"), hp.n_layer, 6, false);
    // Linear RoPE scaling (larger Gemma 3 models) applies to the global layers only.
    if (auto t = K.f.find_string(K.k("rope.scaling.type")); t && *t == "linear")
        hp.rope_scale_linear = K.opt_f32(K.k("rope.scaling.factor"), 1.0f, 0.0, 1e6, true);
    // Query scaling query_pre_attn_scalar^-1/2; the GGUF has no key for it and every Gemma 3 text
    // model except 27B uses query_pre_attn_scalar = head_dim.
    const float qpas = K.opt_f32(K.k("attention.query_pre_attn_scalar"), (float)hp.head_dim, 0.0, 1e9, true);
    hp.attn_scale = (float)(1.0 / std::sqrt((double)qpas));
    hp.final_softcap = K.opt_f32(K.k("final_logit_softcapping"), 0.0f, 0.0, 1e6);
}

}  // namespace

HParams HParams::from_gguf(const gguf::File & f) {
    const std::string arch = f.architecture();
    HParams hp;
    Keys K{f, arch};
    if (arch == "diffusion-gemma") {
        hp.arch = ModelArch::diffusion_gemma;
        read_diffusion_gemma(K, hp);
    } else if (arch == "gemma3") {
        hp.arch = ModelArch::gemma3;
        read_gemma3(K, hp);
    } else {
        throw Error(strfmt("%s: unsupported architecture '%s' (general.architecture); supported: diffusion-gemma, gemma3",
                           f.name().c_str(), arch.empty() ? "<missing>" : arch.c_str()));
    }
    const int64_t q_width = (int64_t)hp.n_head * std::max(hp.head_dim, hp.head_dim_swa);
    if (q_width > kMaxQueryWidth)
        throw Error(strfmt("%s: %d query heads x head dim %d = %lld is larger than the supported %lld", f.name().c_str(),
                           hp.n_head, std::max(hp.head_dim, hp.head_dim_swa), (long long)q_width,
                           (long long)kMaxQueryWidth));
    return hp;
}

}  // namespace ld
