// DiffusionGemma canvas decoder pass and self-conditioning (see diffusion-gemma.h).
#include "model/diffusion-gemma.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "ld-ggml/cpu-nn.h"

namespace ld {

DiffusionGemma::DiffusionGemma(gguf::File && f, int n_threads, ggml::Type kv_type)
    : Model(std::move(f), n_threads, kv_type) {
    if (hp_.arch != ModelArch::diffusion_gemma) throw Error("DiffusionGemma: the file is not a diffusion-gemma model");
}

BlockConfig DiffusionGemma::layer_config(int il) const {
    BlockConfig c;
    c.n_head = hp_.n_head;
    c.n_kv_head = hp_.n_kv_head[(size_t)il];
    c.head_dim = hp_.layer_head_dim(il);
    c.is_swa = hp_.is_swa[(size_t)il];
    c.window = hp_.sliding_window;
    c.rope.n_rot = hp_.layer_n_rot(il);
    c.rope.theta_base = hp_.layer_rope_base(il);
    // Full layers: proportional partial rotary through rope_freqs (1 = rotated, 1e30 = unrotated).
    c.rope.freq_factors = c.is_swa ? nullptr : w_.rope_freqs.data();
    c.v_norm = true;
    c.attn_scale = hp_.attn_scale;  // 1.0
    return c;
}

void DiffusionGemma::bind_buffers() {
    if (bufs_on_ == head_->be.get()) return;
    bufs_on_ = head_->be.get();
    for (DevBuf * b : {&sc_, &g_, &u_, &hidden_, &soft_in_, &step_out_, &logits_}) b->bind(bufs_on_);
}

void DiffusionGemma::add_self_conditioning(const float * soft, int64_t C, float * x) {
    if (!w_.has_self_cond())
        throw Error(strfmt("%s: the decoder got a self-conditioning input but the model has no self-conditioning "
                           "tensors (self_cond_*)", file_.name().c_str()));
    const int64_t H = hp_.n_embd, F = hp_.n_ff;
    const Exec ex = head_->exec();
    ggml::Backend & be = *ex.be;
    float * sc = sc_.f32(C * H);  // [C, H]
    float * g = g_.f32(C * F);    // [C, F]
    float * u = u_.f32(C * F);    // [C, F]
    be.scale(soft, C * H, (float)std::sqrt((double)H), sc);
    be.rms_norm(sc, C, H, ex.vec(w_.sc_pre_norm), hp_.eps, sc);
    be.matmul(sc, C, H, ex.mat(w_.sc_gate), w_.sc_gate.type, F, g);
    be.matmul(sc, C, H, ex.mat(w_.sc_up), w_.sc_up.type, F, u);
    be.geglu(g, u, C, F, F, g);
    be.matmul(g, C, F, ex.mat(w_.sc_down), w_.sc_down.type, H, sc);
    be.add(x, sc, C * H, x);
}

const float * DiffusionGemma::decode_pass(const std::vector<PassIn> & in) {
    const int64_t H = hp_.n_embd;
    int64_t S = 0;
    std::vector<int32_t> ids, pos;
    std::vector<PassSegment> segs;
    for (const PassIn & p : in) {
        if (p.C < 1) throw Error("decode_canvas: empty canvas");
        check_ids(p.canvas, p.C, "decode_canvas");
        for (const PassSegment & sg : segs)
            if (sg.seq == p.seq) throw Error("decode_steps: a sequence appears twice in one batch");
        const int32_t begin = p.seq->cache_.next_pos();
        if ((int64_t)begin + p.C > INT32_MAX) throw Error("decode_canvas: positions overflow");
        segs.push_back(PassSegment{S, p.C, p.seq, begin});
        ids.insert(ids.end(), p.canvas, p.canvas + p.C);
        for (int64_t i = 0; i < p.C; ++i) pos.push_back(begin + (int32_t)i);
        S += p.C;
    }
    bind_buffers();
    capture_begin();
    ggml::Backend & be = *head_->be;

    float * x = head_->scratch.x.f32(S * H);  // [S, H]
    embed(ids.data(), S, x);
    for (size_t i = 0; i < in.size(); ++i)
        if (in[i].soft) add_self_conditioning(in[i].soft, in[i].C, x + segs[i].row0 * H);
    be.rms_norm(x, S, H, nullptr, hp_.eps, x);  // weightless post_norm
    capture_rows(0, be, x, S);
    upload_positions(pos);
    x = run_decoder_layers(x, S, segs);
    float * hidden = hidden_.f32(S * H);
    be.rms_norm(x, S, H, head_->vecs.get(w_.output_norm), hp_.eps, hidden);
    return hidden;
}

float * DiffusionGemma::run_decoder_layers(float * x, int64_t S, const std::vector<PassSegment> & segs) {
    ggml::Backend & be = *head_->be;
    const bool one_backend = gpu_ && head_ == gpu_.get() && !placement_.cpu_moe &&
                             n_layers_on(gpu_->be->kind()) == hp_.n_layer;
    static const bool disabled = std::getenv("LD_NO_GRAPHS") != nullptr;  // debugging: always eager
    if (!one_backend || capture_ || disabled || !be.supports_capture()) return run_layers(x, S, true, segs, 0);
    std::string key = strfmt("%p %lld", (const void *)x, (long long)S);
    for (const PassSegment & sg : segs) {
        key += strfmt(" | %p %lld %lld %d", (const void *)sg.seq, (long long)sg.row0, (long long)sg.n, sg.canvas_begin);
        for (int il = 0; il < hp_.n_layer; ++il) {
            const LayerKv & kv = sg.seq->cache_.layer(il);
            key += strfmt(" %p:%lld", kv.k_data(), (long long)kv.n_rows());
        }
    }
    if (key == graph_key_ && graph_id_ >= 0) {
        be.replay(graph_id_);
        ++graph_replays_;
        return x;
    }
    if (key != graph_key_) {
        // First use: run eagerly (this also grows every scratch buffer and cache to its size).
        if (graph_id_ >= 0) be.capture_release(graph_id_);
        graph_id_ = -1;
        graph_key_ = key;
        return run_layers(x, S, true, segs, 0);
    }
    be.capture_begin();
    try {
        run_layers(x, S, true, segs, 0);
    } catch (...) {
        try {
            be.capture_end();
        } catch (...) {
        }
        graph_key_.clear();
        throw;
    }
    graph_id_ = be.capture_end();
    be.replay(graph_id_);
    ++graph_replays_;
    return x;
}

const float * DiffusionGemma::upload_soft(const float * soft, int64_t C) {
    if (!soft) return nullptr;
    bind_buffers();
    float * s = soft_in_.f32(C * hp_.n_embd);
    head_->be->upload(s, soft, sizeof(float) * (size_t)(C * hp_.n_embd));
    return s;
}

void DiffusionGemma::decode_hidden(const int32_t * canvas, int64_t C, const float * soft, float * hidden) {
    const int64_t H = hp_.n_embd;
    const float * h = decode_pass({PassIn{&own_, canvas, C, upload_soft(soft, C)}});
    head_->be->download(hidden, h, sizeof(float) * (size_t)(C * H));
}

void DiffusionGemma::decode_steps(const std::vector<StepJob> & jobs) {
    const int64_t H = hp_.n_embd, V = hp_.n_vocab;
    if (jobs.empty()) return;
    bind_buffers();
    std::vector<PassIn> in;
    for (const StepJob & j : jobs) {
        Sequence * seq = j.seq ? j.seq : &own_;
        if (!j.canvas || !j.argmax || !j.draw || !j.entropy) throw Error("decode_steps: null argument");
        const float * soft = nullptr;
        if (j.use_soft) {
            if (!seq->soft_valid_ || seq->soft_.capacity() < (size_t)(j.C * H) * sizeof(float))
                throw Error("decode_steps: no soft embedding from a previous step of this sequence to condition on");
            soft = seq->soft_.f32(j.C * H);
        }
        in.push_back(PassIn{seq, j.canvas, j.C, soft});
    }
    const float * hidden = decode_pass(in);
    ggml::Backend & be = *head_->be;
    const Exec ex = head_->exec();
    const bool host = be.host_visible();
    int64_t row = 0;
    for (size_t i = 0; i < jobs.size(); ++i) {
        const StepJob & j = jobs[i];
        const int64_t C = j.C;
        ggml::VocabHeadArgs a;
        a.hidden = hidden + row * H;
        a.C = C;
        a.H = H;
        a.V = V;
        a.out_w = ex.mat(w_.output);
        a.out_type = w_.output.type;
        a.embd = ex.mat(w_.tok_embd);
        a.embd_type = w_.tok_embd.type;
        a.softcap = hp_.final_softcap;
        a.temperature = j.head.temperature;
        a.sample = j.head.sample;
        a.seed = j.head.seed;
        a.canvas_key = j.head.canvas_key;
        a.step_key = j.head.step_key;
        int32_t * dev = host ? nullptr : step_out_.i32(3 * C);  // [3, C]: argmax, draw, entropy bits
        a.argmax = host ? j.argmax : dev;
        a.draw = host ? j.draw : dev + C;
        a.entropy = host ? j.entropy : (float *)(dev + 2 * C);
        a.soft = j.head.want_soft ? in[i].seq->soft_.f32(C * H) : nullptr;
        a.soft_drop_mass = j.head.soft_drop_mass;
        int64_t rows = V;  // (a device head does not report them: it uses every row)
        a.soft_rows_used = host ? &rows : nullptr;
        be.vocab_head(a);
        if (j.soft_rows) *j.soft_rows = j.head.want_soft ? rows : 0;
        in[i].seq->soft_valid_ = j.head.want_soft;
        if (!host) {
            std::vector<int32_t> back((size_t)(3 * C));
            be.download(back.data(), dev, sizeof(int32_t) * (size_t)(3 * C));
            std::copy(back.begin(), back.begin() + C, j.argmax);
            std::copy(back.begin() + C, back.begin() + 2 * C, j.draw);
            std::memcpy(j.entropy, back.data() + 2 * C, sizeof(float) * (size_t)C);
        }
        row += C;
    }
}

void DiffusionGemma::decode_canvas(const int32_t * canvas, int64_t C, const float * sc_logits, float * logits) {
    if (C < 1) throw Error("decode_canvas: empty canvas");
    const int64_t H = hp_.n_embd, V = hp_.n_vocab;
    std::vector<float> soft;
    if (sc_logits) {
        if (!w_.has_self_cond())
            throw Error(strfmt("%s: decode_canvas got self-conditioning logits but the model has no self-conditioning "
                               "tensors (self_cond_*)", file_.name().c_str()));
        for (int64_t i = 0; i < C * V; ++i)
            if (std::isnan(sc_logits[i]))
                throw Error(strfmt("decode_canvas: self-conditioning logits contain NaN at [%lld, %lld]",
                                   (long long)(i / V), (long long)(i % V)));
        // soft [C, H] = softmax(sc_logits) [C, V] · E via Eᵀ (one matmul on the CPU; embedding-t.h).
        std::vector<float> probs((size_t)(C * V));
        ggml::softmax(sc_logits, C, V, probs.data(), pool_);
        soft.resize((size_t)(C * H));
        embedding_t().apply(probs.data(), C, soft.data(), pool_);
    }
    const float * hidden = decode_pass({PassIn{&own_, canvas, C, upload_soft(sc_logits ? soft.data() : nullptr, C)}});
    ggml::Backend & be = *head_->be;
    float * lg = be.host_visible() ? logits : logits_.f32(C * V);
    lm_project(hidden, C, lg);
    if (lg != logits) be.download(logits, lg, sizeof(float) * (size_t)(C * V));
}

}  // namespace ld
