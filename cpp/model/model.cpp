// Model base: loading, embeddings, the chunked causal encoder pass, the LM head (see model.h).
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "model/diffusion-gemma.h"
#include "model/gemma3.h"

namespace ld {

std::pair<ggml::BackendKind, int> resolve_device(const std::string & device) {
    if (device.empty() || device == "auto") {
        for (const ggml::BackendInfo & i : ggml::backends_list())
            if (i.kind != ggml::BackendKind::cpu && i.kind != ggml::BackendKind::sim && i.available) {
                int idx = 0;
                const size_t colon = i.name.find(':');
                if (colon != std::string::npos) idx = std::atoi(i.name.c_str() + colon + 1);
                return {i.kind, idx};
            }
        return {ggml::BackendKind::cpu, 0};
    }
    std::string kind = device;
    int idx = 0;
    const size_t colon = device.find(':');
    if (colon != std::string::npos) {
        kind = device.substr(0, colon);
        const std::string num = device.substr(colon + 1);
        char * end = nullptr;
        const long v = std::strtol(num.c_str(), &end, 10);
        if (num.empty() || *end != '\0' || v < 0 || v > 1024)
            throw Error(strfmt("device '%s': the device index must be a number >= 0", device.c_str()));
        idx = (int)v;
    }
    const ggml::BackendKind k = ggml::backend_kind_from_name(kind);
    if (k == ggml::BackendKind::cpu || k == ggml::BackendKind::sim) {
        if (idx != 0) throw Error(strfmt("device '%s': this device has no index", device.c_str()));
        return {k, 0};
    }
    std::string why;
    for (const ggml::BackendInfo & i : ggml::backends_list()) {
        if (i.kind != k) continue;
        if (i.available && (i.name == kind + ":" + std::to_string(idx) || (i.name == kind && idx == 0))) return {k, idx};
        if (!i.reason.empty() && why.empty()) why = i.reason;
    }
    throw Error(strfmt("device '%s' is not usable: %s", device.c_str(),
                       why.empty() ? "no such device on this machine" : why.c_str()));
}

std::unique_ptr<Model> Model::open(const std::string & path, int n_threads, ggml::Type kv_type, const Placement & pl) {
    // Check the device before mapping the file, so a bad --device fails fast.
    const auto dev = resolve_device(pl.device);
    gguf::File f = gguf::File::open(path);
    const std::string arch = f.architecture();
    std::unique_ptr<Model> m;
    if (arch == "diffusion-gemma") m.reset(new DiffusionGemma(std::move(f), n_threads, kv_type));
    else if (arch == "gemma3") m.reset(new Gemma3(std::move(f), n_threads, kv_type));
    else
        throw Error(strfmt("%s: unsupported architecture '%s' (general.architecture); supported: diffusion-gemma, gemma3",
                           path.c_str(), arch.empty() ? "<missing>" : arch.c_str()));
    m->init_layers();
    m->place(pl, dev);
    return m;
}

Model::Model(gguf::File && f, int n_threads, ggml::Type kv_type)
    : file_(std::move(f)), hp_(HParams::from_gguf(file_)), w_(Weights::load(file_, hp_)), kv_type_(kv_type),
      own_(hp_, kv_type) {
    if (n_threads > 0) {
        own_pool_ = std::make_unique<ggml::ThreadPool>(n_threads);
        pool_ = own_pool_.get();
    } else {
        pool_ = &ggml::ThreadPool::global();
    }
    cpu_ = std::make_unique<ExecSlot>(ggml::backend_create(ggml::BackendKind::cpu, pool_));
    layer_slot_.assign((size_t)hp_.n_layer, cpu_.get());
    moe_slot_.assign((size_t)hp_.n_layer, cpu_.get());
    head_ = cpu_.get();
    for (int il = 0; il < hp_.n_layer; ++il) own_.cache_.place(il, cpu_->be.get());
    own_.soft_.bind(head_->be.get());
}

std::unique_ptr<Sequence> Model::new_sequence() {
    std::unique_ptr<Sequence> s(new Sequence(hp_, kv_type_));
    for (int il = 0; il < hp_.n_layer; ++il) s->cache_.place(il, layer_slot_[(size_t)il]->be.get());
    s->soft_.bind(head_->be.get());
    return s;
}

void Model::place(const Placement & pl, std::pair<ggml::BackendKind, int> dev) {
    placement_ = pl;
    {
        const char * env = std::getenv("LD_REPACK");
        ggml::Backend::WeightRepack r;
        r.enabled = env && std::string(env) == "1" ? true : env && std::string(env) == "0" ? false : pl.repack;
        r.release = [this](const void * p, size_t n) { file_.release_pages(p, n); };
        r.keep = {w_.tok_embd.data, w_.output.data};  // also read by get_rows and the vocab head
        placement_.repack = r.enabled;
        cpu_->be->set_weight_repack(std::move(r));
    }
    if (dev.first == ggml::BackendKind::cpu) {
        placement_.device = "cpu";
        return;
    }
    gpu_ = std::make_unique<ExecSlot>(ggml::backend_create(dev.first, pool_, dev.second));
    placement_.device = gpu_->be->name();
    const int L = hp_.n_layer;
    const int ngl = pl.n_gpu_layers < 0 ? L : std::min(pl.n_gpu_layers, L);
    own_.reset();
    for (int il = 0; il < L; ++il) {
        ExecSlot * s = il < ngl ? gpu_.get() : cpu_.get();
        layer_slot_[(size_t)il] = s;
        moe_slot_[(size_t)il] = pl.cpu_moe ? cpu_.get() : s;
        own_.cache_.place(il, s->be.get());
    }
    head_ = ngl >= L ? gpu_.get() : cpu_.get();
    own_.soft_.bind(head_->be.get());

    // Upload every weight of the GPU's share once, now (the first pass would otherwise pay for it).
    auto up = [](ExecSlot * s, const Mat & m) { if (s->be->kind() != ggml::BackendKind::cpu) s->exec().mat(m); };
    auto upv = [](ExecSlot * s, const Vec & v) { if (s->be->kind() != ggml::BackendKind::cpu) s->vecs.get(v); };
    // (for the CPU, exec().mat() is the mmapped bytes themselves and vecs.get() the host vector)
    for (int il = 0; il < L; ++il) {
        const LayerWeights & w = w_.layers[(size_t)il];
        ExecSlot * s = layer_slot_[(size_t)il], * me = moe_slot_[(size_t)il];
        for (const Mat * m : {&w.wq, &w.wk, &w.wv, &w.wo, &w.ffn_gate, &w.ffn_up, &w.ffn_down}) up(s, *m);
        for (const Vec * v : {&w.attn_norm, &w.q_norm, &w.k_norm, &w.post_attn_norm, &w.ffn_norm, &w.post_ffw_norm_1,
                              &w.post_ffw_norm, &w.post_ffw_norm_2})
            upv(s, *v);
        for (const Mat * m : {&w.router, &w.exp_gate_up, &w.exp_gate, &w.exp_up, &w.exp_down}) up(me, *m);
        for (const Vec * v : {&w.pre_ffw_norm_2, &w.router_scale, &w.expert_scale}) upv(me, *v);
    }
    for (const Mat * m : {&w_.tok_embd, &w_.output, &w_.sc_gate, &w_.sc_up, &w_.sc_down}) up(head_, *m);
    for (const Vec * v : {&w_.output_norm, &w_.sc_pre_norm}) upv(head_, *v);
    gpu_->be->synchronize();
}

int Model::n_layers_on(ggml::BackendKind k) const {
    int n = 0;
    for (const ExecSlot * s : layer_slot_) n += s->be->kind() == k;
    return n;
}

size_t Model::device_weight_bytes() const {
    return gpu_ ? gpu_->be->weight_bytes() + gpu_->vecs.bytes() : 0;
}

std::string Model::placement_summary() const {
    if (!gpu_) return "cpu";
    const int on = n_layers_on(gpu_->be->kind());
    std::string s = strfmt("%s (%d/%d layers%s", gpu_->be->name().c_str(), on, hp_.n_layer,
                           head_ == gpu_.get() ? " + head" : ", head on the CPU");
    if (placement_.cpu_moe && hp_.n_expert > 0) s += ", experts on the CPU";
    const double b = (double)device_weight_bytes();
    s += b >= 1073741824.0 ? strfmt(", %.2f GiB of weights)", b / 1073741824.0) : strfmt(", %.1f MiB of weights)", b / 1048576.0);
    return s;
}

void Model::init_layers() {
    cfg_.clear();
    for (int il = 0; il < hp_.n_layer; ++il) cfg_.push_back(layer_config(il));
}

void Model::set_chunk_size(int64_t n) {
    if (n < 1) throw Error(strfmt("encoder chunk size must be >= 1, got %lld", (long long)n));
    chunk_ = n;
}

void Model::check_ids(const int32_t * ids, int64_t n, const char * what) const {
    for (int64_t i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= hp_.n_vocab)
            throw Error(strfmt("%s: token id %d at index %lld is outside the vocabulary [0, %d)", what, ids[i],
                               (long long)i, hp_.n_vocab));
}

void Model::embed(const int32_t * ids, int64_t n, float * out) {
    const int64_t H = hp_.n_embd;
    const float scale = (float)std::sqrt((double)H);  // HF: a buffer sqrt(H) in the weight dtype (f32 here)
    ggml::Backend & be = *head_->be;
    int32_t * tok = head_->scratch.tok.i32(n);
    be.upload(tok, ids, sizeof(int32_t) * (size_t)n);
    const Mat & E = w_.tok_embd;
    be.get_rows(head_->exec().mat(E), E.type, H, E.ne[1], tok, n, scale, out);
}

void Model::upload_positions(const std::vector<int32_t> & pos) {
    const int64_t n = (int64_t)pos.size();
    for (ExecSlot * s : {cpu_.get(), gpu_.get()})
        if (s) s->be->upload(s->scratch.pos.i32(n), pos.data(), sizeof(int32_t) * (size_t)n);
}

float * Model::run_layers(float * x, int64_t S, bool decoder, const std::vector<PassSegment> & segs,
                          int64_t last_ffn_begin) {
    const int64_t H = hp_.n_embd;
    ExecSlot * cur = head_;
    std::vector<BlockSegment> bs(segs.size());
    for (int il = 0; il < hp_.n_layer; ++il) {
        ExecSlot * ls = layer_slot_[(size_t)il];
        if (ls != cur) {
            float * nx = ls->scratch.x.f32(S * H);  // another slot: another buffer
            transfer(*cur->be, x, *ls->be, nx, S * H);
            x = nx;
            cur = ls;
        }
        for (size_t i = 0; i < segs.size(); ++i) {
            bs[i].row0 = segs[i].row0;
            bs[i].n = segs[i].n;
            bs[i].kv = &segs[i].seq->cache_.layer(il);
            bs[i].canvas_begin = segs[i].canvas_begin;
        }
        BlockArgs a;
        a.x = x;
        a.S = S;
        a.pos = (const int32_t *)ls->scratch.pos.i32(S);
        a.segs = bs.data();
        a.n_segs = (int)bs.size();
        a.decoder = decoder;
        const LayerWeights & w = w_.layers[(size_t)il];
        a.layer_scalar = decoder ? w.scalar_dec : w.scalar_enc;
        a.ffn_begin = il == hp_.n_layer - 1 ? last_ffn_begin : 0;
        block_forward(hp_, w, cfg_[(size_t)il], a, ls->exec(), moe_slot_[(size_t)il]->exec());
        capture_rows(1 + il, *ls->be, x, S);
    }
    if (cur != head_) {
        float * nx = head_->scratch.x.f32(S * H);
        transfer(*cur->be, x, *head_->be, nx, S * H);
        x = nx;
    }
    return x;
}

void Model::lm_project(const float * xn, int64_t n, float * logits) {
    const int64_t H = hp_.n_embd, V = hp_.n_vocab;
    ggml::Backend & be = *head_->be;
    be.matmul(xn, n, H, head_->exec().mat(w_.output), w_.output.type, V, logits);
    if (hp_.final_softcap > 0.0f) be.softcap(logits, n * V, hp_.final_softcap, logits);
}

void Model::capture_begin() {
    captured_.clear();
    if (capture_) captured_.resize((size_t)hp_.n_layer + 1);
}

void Model::capture_rows(int slot, ggml::Backend & be, const float * x, int64_t n) {
    if (!capture_) return;
    auto & v = captured_[(size_t)slot];
    const size_t off = v.size();
    v.resize(off + (size_t)(n * hp_.n_embd));
    be.download(v.data() + off, x, sizeof(float) * (size_t)(n * hp_.n_embd));
}

void Model::encode(Sequence & seq, const int32_t * ids, int64_t n, int32_t pos0, float * last_logits) {
    if (n < 1) throw Error("encode: no tokens given");
    check_ids(ids, n, "encode");
    KvCache & cache = seq.cache_;
    if (pos0 < 0) pos0 = cache.next_pos();
    if ((int64_t)pos0 + n > INT32_MAX) throw Error(strfmt("encode: positions overflow (pos0 %d + %lld tokens)", pos0, (long long)n));
    const int64_t H = hp_.n_embd, V = hp_.n_vocab;
    capture_begin();

    for (int64_t c0 = 0; c0 < n; c0 += chunk_) {
        const int64_t S = std::min<int64_t>(chunk_, n - c0);
        const bool last_chunk = c0 + S == n;
        float * x = head_->scratch.x.f32(S * H);  // [S, H]
        embed(ids + c0, S, x);
        capture_rows(0, *head_->be, x, S);
        std::vector<int32_t> pos((size_t)S);
        for (int64_t i = 0; i < S; ++i) pos[(size_t)i] = pos0 + (int32_t)(c0 + i);
        upload_positions(pos);
        // Only K/V of the last layer matter, unless the AR head needs the last token.
        const int64_t last_ffn = capture_ ? 0 : ((last_chunk && last_logits) ? S - 1 : S);
        x = run_layers(x, S, false, {PassSegment{0, S, &seq, 0}}, last_ffn);
        cache.advance(S, pos0 + (int32_t)(c0 + S));
        if (last_chunk && last_logits) {
            ggml::Backend & be = *head_->be;
            float * xn = head_->scratch.a.f32(H);
            be.rms_norm(x + (S - 1) * H, 1, H, head_->vecs.get(w_.output_norm), hp_.eps, xn);
            float * lg = be.host_visible() ? last_logits : head_->scratch.logits.f32(V);
            lm_project(xn, 1, lg);
            if (lg != last_logits) be.download(last_logits, lg, sizeof(float) * (size_t)V);
        }
    }
}

void Model::decode_canvas(const int32_t *, int64_t, const float *, float *) {
    throw Error(strfmt("decode_canvas: the %s architecture is autoregressive and has no canvas decoder; use "
                       "encode + ar_logits", model_arch_name(hp_.arch)));
}

void Model::decode_hidden(const int32_t *, int64_t, const float *, float *) {
    throw Error(strfmt("decode_hidden: the %s architecture is autoregressive and has no canvas decoder; use "
                       "encode + ar_logits", model_arch_name(hp_.arch)));
}

void Model::decode_steps(const std::vector<StepJob> &) {
    throw Error(strfmt("decode_steps: the %s architecture is autoregressive and has no canvas decoder",
                       model_arch_name(hp_.arch)));
}

}  // namespace ld
