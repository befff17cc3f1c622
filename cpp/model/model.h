// The common part of the models: the GGUF file, hparams, weights, KV cache, thread pool and backends,
// and the causal encoder pass (prefill) with its autoregressive head. DiffusionGemma adds the canvas
// decoder pass (diffusion-gemma.h); Gemma 3 only configures its blocks (gemma3.h).
//
// Placement (llama.cpp's meanings): every op runs on a backend (ld-ggml/backend.h). With device cpu
// everything runs on the CPU backend, on the mmapped weights. With a GPU device, layers [0, n_gpu_layers)
// run on the GPU (weights uploaded once at load, their KV cache in GPU memory) and the rest on the CPU;
// the input embedding, self-conditioning and the head run on the GPU when every layer does
// (n_gpu_layers < 0 or >= n_layer); cpu_moe keeps the routed experts (and their router) on the CPU while
// the rest of each GPU layer runs on the GPU. Rows cross between backends only at whole-layer (and
// expert-block) boundaries.
//
// Encoder pass (docs/algorithm.md §5): tokens at positions pos0.. (default: after the cached tokens), causal
// (sliding layers: the query and the W-1 previous tokens), processed in chunks of chunk_size()
// tokens so memory stays bounded; every layer's K/V is appended to the cache. Without an AR head
// request it skips the last layer's FFN and the final norm / LM head (only K/V matter).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf-reader.h"
#include "ld-ggml/backend.h"
#include "ld-ggml/thread-pool.h"
#include "model/exec.h"
#include "model/gemma4-block.h"
#include "model/hparams.h"
#include "model/kv-cache.h"
#include "model/weights.h"

namespace ld {

struct Placement {
    std::string device = "cpu";   // "cpu", "cuda", "cuda:N", "metal", or "auto" (a GPU when one is usable)
    int n_gpu_layers = -1;        // layers on the GPU: < 0 = all (and the head), N = the first N
    bool cpu_moe = false;         // routed experts stay on the CPU
    // CPU, opt-in: matmul weights repacked on first use into the kernels' prepared panel form where the ISA
    // has one within 7% of their bytes (e.g. Q4_K / Q5_0 / Q8_0 on avx512), replacing their mapped and cached
    // pages (Backend::set_weight_repack). The environment variable LD_REPACK=1 turns it on, LD_REPACK=0 off,
    // whatever this says. Off by default: at full size the weights stream from DRAM either way and the layers
    // gain ~2-4%, while the copy costs a first-use pass over the file and takes it out of the page cache
    // (bench/results/repack-block32-et-prefetch.md).
    bool repack = false;
};

// Resolves "auto" and checks a device name: ("cpu"|"cuda"|"metal", index). Throws ld::Error naming the
// problem (unknown name, backend not compiled, no usable device).
std::pair<ggml::BackendKind, int> resolve_device(const std::string & device);

class Model;

// A sequence of its own on a shared model: its KV cache (in the memory of the model's layer backends)
// and the soft embedding of its last denoising step (on the head backend). Made by
// Model::new_sequence(); must not outlive the model. The canvases of several sequences can be denoised
// in one decoder pass (DiffusionGemma::decode_steps), each attending to its own cache only.
class Sequence {
public:
    KvCache & cache() { return cache_; }
    const KvCache & cache() const { return cache_; }
    void reset() {
        cache_.clear();
        soft_valid_ = false;
    }

private:
    friend class Model;
    friend class DiffusionGemma;
    Sequence(const HParams & hp, ggml::Type kv_type) : cache_(hp, kv_type) {}
    KvCache cache_;
    DevBuf soft_;            // [C, H] on the head backend
    bool soft_valid_ = false;
};

class Model {
public:
    // Opens a diffusion-gemma or gemma3 GGUF. n_threads <= 0: the process-wide pool.
    static std::unique_ptr<Model> open(const std::string & path, int n_threads = 0,
                                       ggml::Type kv_type = ggml::Type::F32, const Placement & placement = {});
    virtual ~Model() = default;
    Model(const Model &) = delete;
    Model & operator=(const Model &) = delete;

    const HParams & hparams() const { return hp_; }
    const Weights & weights() const { return w_; }
    const gguf::File & file() const { return file_; }
    KvCache & cache() { return own_.cache_; }
    const KvCache & cache() const { return own_.cache_; }
    // Another sequence on this model (its own KV cache); see Sequence.
    std::unique_ptr<Sequence> new_sequence();
    int n_threads() const { return pool_->n_threads(); }
    ggml::ThreadPool * pool() const { return pool_; }

    // Where the ops run (see the top of this file).
    const Placement & placement() const { return placement_; }
    ggml::Backend & head_backend() { return *head_->be; }
    ggml::Backend & layer_backend(int il) { return *layer_slot_[(size_t)il]->be; }
    int n_layers_on(ggml::BackendKind k) const;
    size_t device_weight_bytes() const;   // weight bytes held by non-host backends
    size_t repacked_bytes() const { return cpu_->be->repacked_bytes(); }  // the CPU's repacked weights (repack)
    // "cpu", or e.g. "cuda:0 (30/30 layers + head, experts on the CPU, 14.2 GiB of weights)".
    std::string placement_summary() const;

    int64_t chunk_size() const { return chunk_; }
    void set_chunk_size(int64_t n);

    // Encodes ids[n] at positions pos0.. (pos0 < 0: continue after the cache) and appends their
    // K/V to the cache. last_logits [n_vocab]: when non-null, receives the AR logits of the last token.
    void encode(const int32_t * ids, int64_t n, int32_t pos0, float * last_logits) {
        encode(own_, ids, n, pos0, last_logits);
    }
    // The same into a sequence's cache.
    void encode(Sequence & seq, const int32_t * ids, int64_t n, int32_t pos0, float * last_logits);

    // Canvas decoder pass: logits [C, n_vocab]. sc_logits [C, n_vocab] or nullptr. Only DiffusionGemma.
    virtual void decode_canvas(const int32_t * canvas, int64_t C, const float * sc_logits, float * logits);
    // The same pass up to the final norm: hidden [C, n_embd] (the vocab head's input), with the
    // self-conditioning input given as the expected embedding soft [C, n_embd] = Σ_v p_v E_v (or
    // nullptr). Only DiffusionGemma.
    virtual void decode_hidden(const int32_t * canvas, int64_t C, const float * soft, float * hidden);

    // Denoising steps on the model's backends: per job, the decoder pass (self-conditioned on the soft
    // embedding the sequence's previous step left on the head backend when use_soft) and the fused vocab
    // head (ld-ggml/cpu-vocab-head.h). Only the per-position results come back to the host: argmax,
    // draw [C] and entropy [C]; the next soft embedding stays on the head backend when head.want_soft.
    struct StepHead {
        float temperature = 1.0f;
        bool sample = true;
        bool want_soft = true;
        uint64_t seed = 0, canvas_key = 0, step_key = 0;
        float soft_drop_mass = 0.0f;  // sparse self-conditioning (VocabHeadArgs); 0: exact
    };
    // Several jobs are one decoder pass over their canvases (rows concatenated, so every matmul and the
    // experts see all of them; attention per sequence on its own cache), then the vocab head per
    // sequence. Each job's results equal what its sequence gives stepped alone (one job) (up to the
    // kernels' row-count-dependent rounding paths; identical on the demo model, tested).
    struct StepJob {
        Sequence * seq = nullptr;          // nullptr: the model's own sequence
        const int32_t * canvas = nullptr;  // [C] host memory
        int64_t C = 0;
        bool use_soft = false;             // condition on the sequence's soft embedding of its last step
        StepHead head;
        int32_t * argmax = nullptr;        // [C] host memory
        int32_t * draw = nullptr;          // [C]
        float * entropy = nullptr;         // [C]
        int64_t * soft_rows = nullptr;     // out (optional): vocabulary rows the soft embedding used
    };
    virtual void decode_steps(const std::vector<StepJob> & jobs);

    void reset() { own_.reset(); }

    // Debugging: when enabled, every pass records its input stream and each layer's output
    // (rows appended over the encoder's chunks): captured()[0] = input [S, H], [1 + l] = layer l.
    void set_capture(bool on) { capture_ = on; }
    bool capture() const { return capture_; }
    const std::vector<std::vector<float>> & captured() const { return captured_; }

protected:
    Model(gguf::File && f, int n_threads, ggml::Type kv_type);
    void init_layers();                       // fills cfg_ from layer_config()
    virtual BlockConfig layer_config(int il) const = 0;
    // Creates the GPU backend of the resolved device `dev` and assigns / uploads the weights.
    void place(const Placement & pl, std::pair<ggml::BackendKind, int> dev);

    void check_ids(const int32_t * ids, int64_t n, const char * what) const;
    // out[n, H] = E[id]·sqrt(H) on the head backend (ids: host memory).
    void embed(const int32_t * ids, int64_t n, float * out);
    // pos[n] into every backend's scratch.pos.
    void upload_positions(const std::vector<int32_t> & pos);
    // A run of rows of a pass that shares one sequence's cache.
    struct PassSegment {
        int64_t row0 = 0, n = 0;
        Sequence * seq = nullptr;
        int32_t canvas_begin = 0;
    };
    // Runs the layers [0, n_layer) on x [S, H] (on the head backend); returns the residual stream's new
    // location, on the head backend again.
    float * run_layers(float * x, int64_t S, bool decoder, const std::vector<PassSegment> & segs, int64_t last_ffn_begin);
    // logits[n, V] = softcap(xn · Wᵀ) on the head backend for final-normed rows xn[n, H]; out on the head backend.
    void lm_project(const float * xn, int64_t n, float * logits);
    void capture_begin();
    void capture_rows(int slot, ggml::Backend & be, const float * x, int64_t n);

    gguf::File file_;
    HParams hp_;
    Weights w_;
    std::unique_ptr<ggml::ThreadPool> own_pool_;
    ggml::ThreadPool * pool_ = nullptr;
    // Backends before the cache: the cache's rows live in their memory.
    Placement placement_;
    std::unique_ptr<ExecSlot> cpu_, gpu_;
    std::vector<ExecSlot *> layer_slot_, moe_slot_;  // [n_layer]
    ExecSlot * head_ = nullptr;
    ggml::Type kv_type_;
    Sequence own_;          // the model's own sequence (cache(), encode(), decode_steps() with seq nullptr)
    std::vector<BlockConfig> cfg_;
    // 1024: a 1,000-token prompt in one pass, each weight packed once (512: 1.05-1.08x the prefill time on the
    // full-size file, bench/results/encoder-chunk.md) for ~0.4 MB of activations per token
    int64_t chunk_ = 1024;
    bool capture_ = false;
    std::vector<std::vector<float>> captured_;
};

}  // namespace ld
