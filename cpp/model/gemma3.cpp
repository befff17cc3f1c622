// Gemma 3 block configuration (see gemma3.h).
#include "model/gemma3.h"

#include "common/error.h"

namespace ld {

Gemma3::Gemma3(gguf::File && f, int n_threads, ggml::Type kv_type) : Model(std::move(f), n_threads, kv_type) {
    if (hp_.arch != ModelArch::gemma3) throw Error("Gemma3: the file is not a gemma3 model");
    if (hp_.rope_scale_linear != 1.0f) rope_ff_global_.assign((size_t)hp_.n_rot / 2, hp_.rope_scale_linear);
}

BlockConfig Gemma3::layer_config(int il) const {
    BlockConfig c;
    c.n_head = hp_.n_head;
    c.n_kv_head = hp_.n_kv_head[(size_t)il];
    c.head_dim = hp_.layer_head_dim(il);
    c.is_swa = hp_.is_swa[(size_t)il];
    c.window = hp_.sliding_window;
    c.rope.n_rot = hp_.layer_n_rot(il);
    c.rope.theta_base = hp_.layer_rope_base(il);
    c.rope.freq_factors = (!c.is_swa && !rope_ff_global_.empty()) ? rope_ff_global_.data() : nullptr;
    c.v_norm = false;
    c.attn_scale = hp_.attn_scale;
    return c;
}

}  // namespace ld
