// The batched decoder pass (DiffusionGemma::decode_steps): several sequences' canvases denoised in one
// pass, each attending to its own KV cache, must give each sequence exactly what stepping it alone gives
// (argmax, draw, entropy per position, over several self-conditioned steps), on the CPU backend and on
// the simulated device with mixed placements. Uses the packaged demo model (a trained DiffusionGemma).
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "common/error.h"
#include "model/model.h"
#include "test-check.h"

using namespace ld;

namespace {

struct StepOut {
    std::vector<int32_t> argmax, draw;
    std::vector<float> entropy;
};

std::vector<int32_t> prompt_of(int k, int32_t V) {
    std::vector<int32_t> p((size_t)(5 + 7 * k));
    for (size_t i = 0; i < p.size(); ++i) p[i] = (int32_t)((37 * (i + 1) + 101 * k) % (V - 10) + 5);
    return p;
}

// Runs `steps` steps of B sequences, batched (one decode_steps call per step) or one at a time.
std::vector<std::vector<StepOut>> run(Model & m, int B, int steps, bool batched, bool sample) {
    const int64_t C = m.hparams().canvas_length;
    const int32_t V = m.hparams().n_vocab;
    std::vector<std::unique_ptr<Sequence>> seqs;
    for (int b = 0; b < B; ++b) {
        seqs.push_back(m.new_sequence());
        const std::vector<int32_t> p = prompt_of(b, V);
        m.encode(*seqs.back(), p.data(), (int64_t)p.size(), -1, nullptr);
    }
    std::vector<std::vector<int32_t>> canvas((size_t)B, std::vector<int32_t>((size_t)C));
    for (int b = 0; b < B; ++b)
        for (int64_t i = 0; i < C; ++i) canvas[(size_t)b][(size_t)i] = (int32_t)((i * 13 + b * 7) % V);
    std::vector<std::vector<StepOut>> out((size_t)B);
    for (int s = 0; s < steps; ++s) {
        std::vector<Model::StepJob> jobs;
        std::vector<StepOut> o((size_t)B);
        for (int b = 0; b < B; ++b) {
            o[(size_t)b].argmax.resize((size_t)C);
            o[(size_t)b].draw.resize((size_t)C);
            o[(size_t)b].entropy.resize((size_t)C);
            Model::StepJob j;
            j.seq = seqs[(size_t)b].get();
            j.canvas = canvas[(size_t)b].data();
            j.C = C;
            j.use_soft = s > 0;
            j.head.temperature = 0.5f + 0.1f * (float)s;
            j.head.sample = sample;
            j.head.want_soft = true;
            j.head.seed = 42;
            j.head.canvas_key = (uint64_t)seqs[(size_t)b]->cache().next_pos();
            j.head.step_key = (uint64_t)(s + 1);
            j.argmax = o[(size_t)b].argmax.data();
            j.draw = o[(size_t)b].draw.data();
            j.entropy = o[(size_t)b].entropy.data();
            jobs.push_back(j);
        }
        if (batched) m.decode_steps(jobs);
        else
            for (const auto & j : jobs) m.decode_steps({j});
        for (int b = 0; b < B; ++b) {
            canvas[(size_t)b] = o[(size_t)b].draw;  // the next step denoises the drawn canvas
            out[(size_t)b].push_back(o[(size_t)b]);
        }
    }
    return out;
}

bool same(const std::vector<std::vector<StepOut>> & a, const std::vector<std::vector<StepOut>> & b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        for (size_t s = 0; s < a[i].size(); ++s) {
            if (a[i][s].argmax != b[i][s].argmax || a[i][s].draw != b[i][s].draw) return false;
            if (std::memcmp(a[i][s].entropy.data(), b[i][s].entropy.data(), a[i][s].entropy.size() * sizeof(float)) != 0)
                return false;
        }
    return true;
}

}  // namespace

int main() {
    const std::string path = std::string(LD_SOURCE_DIR) + "/python/llama_diffusion/models/diffusiongemma-demo-q8_0.gguf";
    const Placement placements[] = {
        Placement{"cpu", -1, false},
        Placement{"sim", -1, false},
        Placement{"sim", 2, true},
    };
    std::vector<std::vector<StepOut>> ref;
    for (const Placement & pl : placements) {
        auto m = Model::open(path, 2, ggml::Type::F32, pl);
        for (bool sample : {false, true}) {
            const auto alone = run(*m, 3, 3, false, sample);
            const auto batched = run(*m, 3, 3, true, sample);
            CHECK(same(alone, batched));
            if (pl.device == "cpu" && sample) ref = alone;
            if (pl.device != "cpu" && sample) CHECK(same(alone, ref));  // placement does not change results
        }
        // the model's own sequence is untouched by other sequences' passes
        CHECK(m->cache().n_tokens() == 0);
        // a sequence twice in one batch is an error, not a silent overwrite
        auto s = m->new_sequence();
        const std::vector<int32_t> p = prompt_of(0, m->hparams().n_vocab);
        m->encode(*s, p.data(), (int64_t)p.size(), -1, nullptr);
        const int64_t C = m->hparams().canvas_length;
        std::vector<int32_t> cv((size_t)C, 5), am((size_t)C), dr((size_t)C);
        std::vector<float> en((size_t)C);
        Model::StepJob j;
        j.seq = s.get();
        j.canvas = cv.data();
        j.C = C;
        j.argmax = am.data();
        j.draw = dr.data();
        j.entropy = en.data();
        bool threw = false;
        try {
            m->decode_steps({j, j});
        } catch (const ggml::Error &) {
            threw = true;
        }
        CHECK(threw);
        // conditioning on a soft embedding that does not exist yet is an error
        j.use_soft = true;
        threw = false;
        try {
            m->decode_steps({j});
        } catch (const ggml::Error &) {
            threw = true;
        }
        CHECK(threw);
    }
    std::printf("batch decode: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
