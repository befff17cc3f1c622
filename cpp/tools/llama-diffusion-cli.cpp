// llama-diffusion-cli: run a DiffusionGemma (block diffusion) or Gemma 3 (autoregressive) GGUF from
// the terminal, with llama.cpp-style flags. One-shot (-p / -f), chat (-cnv, with /clear and /exit),
// diffusion or AR mode, the entropy-bound sampler flags of the peer port, a live view of the canvas
// as it denoises (--diffusion-visual, plain output when stdout is not a terminal), and one JSON
// object at the end (--json). Errors are one line on stderr and exit status 1; Ctrl-C stops the
// current generation (twice: exits). Without -m it runs the built-in demo model shipped in the
// Python package (a small raw code model: prompts are used as raw text unless -cnv). -hf REPO[:QUANT]
// resolves a Hugging Face Hub file through the Python package (hub-resolve.h).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/demo-model.h"
#include "common/hub-resolve.h"
#include "common/error.h"
#include "generate/generate.h"
#include "gguf/gguf-check.h"
#include "gguf/gguf-reader.h"
#include "model/kv-cache.h"
#include "model/model.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

using namespace ld;
using namespace ld::gen;

namespace {

std::atomic<bool> g_cancel{false};

void on_sigint(int) {
    if (g_cancel.load()) std::_Exit(130);
    g_cancel.store(true);
}

// SIGBUS: the mapped model file was truncated while we read it (docs/format.md, "Files in use").
// Only async-signal-safe calls: write the explanation and exit, no recovery.
void on_sigbus(int) {
    static const char msg[] =
        "llama-diffusion-cli: error: bus error reading the model file: it was truncated or rewritten while in use "
        "(replace a model file by renaming a new one over it, never in place)\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)ignored;
    _exit(135);
}

const char * kUsage =
    "usage: llama-diffusion-cli [-m FILE] [-p PROMPT | -f FILE | -cnv] [options]\n"
    "  -m, --model FILE               GGUF model, diffusion-gemma or gemma3 (default: $LLAMA_DIFFUSION_MODEL, else\n"
    "                                 the built-in demo model: a small code model, prompts used as raw text)\n"
    "  -p, --prompt TEXT              prompt (a user turn of the chat format unless --raw or the demo model)\n"
    "  -f, --file FILE                read the prompt from a file\n"
    "  -sys, --system-prompt TEXT     system message\n"
    "  -cnv, --conversation           interactive chat (/clear, /exit); the KV cache is kept across turns\n"
    "  -n, --n-predict N              tokens to generate (diffusion: whole canvases; default 256)\n"
    "  -s, --seed N                   RNG seed (default: random)\n"
    "  -t, --threads N                CPU threads (default: all)\n"
    "  -c, --ctx-size N               context limit in tokens (0: none)\n"
    "  --mode diffusion|ar            block diffusion (default for diffusion-gemma) or autoregressive\n"
    "  --temp T                       AR mode temperature (0: greedy, default)\n"
    "  --diffusion-eb-max-steps N     denoising steps per canvas (GGUF default)\n"
    "  --diffusion-eb-t-min T         final temperature\n"
    "  --diffusion-eb-t-max T         initial temperature\n"
    "  --diffusion-eb-entropy-bound B entropy budget of the accepted positions per step\n"
    "  --diffusion-eb-stability N     stable steps needed to stop early (0: always stable)\n"
    "  --diffusion-eb-confidence C    mean-entropy threshold to stop early\n"
    "  --sparse-sc EPS                sparse self-conditioning: skip the vocabulary rows of provably negligible\n"
    "                                 probability, at most EPS of it per position (e.g. 1e-6; default 0: exact)\n"
    "  --diffusion-visual             redraw the canvas in place as it denoises (on a terminal; the default\n"
    "                                 for the built-in demo model)\n"
    "  --no-diffusion-visual          plain streamed text only\n"
    "  --diffusion-visual-ms MS       shortest time a canvas frame stays on screen (default 40; 0: no pacing)\n"
    "  --deterministic                reference-deterministic mode (argmax draws, formula noise)\n"
    "  --max-canvases N               cap on canvases\n"
    "  --head fused|plain             vocab head: streamed over the vocabulary (default; no [C x V] logits) or materialised logits\n"
    "  --kv-type f32|f16|q8_0         KV cache type (default f32)\n"
    "  --device auto|cpu|cuda[:N]     where the ops run (default auto: a usable GPU, else the CPU)\n"
    "  -ngl, --n-gpu-layers N         layers on the GPU (default: all; N < n_layer keeps the head on the CPU)\n"
    "  --cpu-moe                      keep the routed experts on the CPU (the rest on the GPU)\n"
    "  --repack                       repack weights on first use into the CPU kernels' panel form where the ISA has\n"
    "                                 one (e.g. Q4_K / Q5_0 / Q8_0 on AVX-512), replacing their mapped and cached pages,\n"
    "                                 and keep the transposed embedding across steps (+0.8 GB at full size)\n"
    "  --check-tensors                check the model's tensor data for NaN/Inf before loading (reads the whole file)\n"
    "  --raw                          use the prompt as is (no chat template)\n"
    "  --think                        enable thinking in the chat format\n"
    "  --json                         print one JSON object with text and stats at the end\n"
    "  --verbose                      print model and sampler details to stderr\n"
    "  -hf, --hf-repo REPO[:QUANT]    a GGUF from the Hugging Face Hub (e.g. unsloth/REPO-GGUF:Q4_K_M; needs the\n"
    "                                 Python package with huggingface_hub; standard HF cache, HF_HUB_OFFLINE=1 works)\n"
    "  --version                      print the version and exit\n"
    "  -h, --help                     this help\n";

struct Args {
    std::string model, prompt, prompt_file, system, mode, head = "fused", kv_type = "f32", device = "auto", hf_repo;
    int32_t n_gpu_layers = -1;
    bool cpu_moe = false;
    bool repack = false;
    bool demo = false;  // no -m: the built-in demo model
    int visual = -1;          // --diffusion-visual 1, --no-diffusion-visual 0, -1: on for the demo model on a terminal
    int32_t visual_ms = 40;   // frame pacing of the live view
    bool have_prompt = false, chat = false, json = false, verbose = false, raw = false, think = false,
         deterministic = false, have_seed = false, check_tensors = false;
    int32_t n_predict = 256, max_canvases = 0, threads = 0;
    int64_t ctx = 0;
    uint64_t seed = 0;
    float temp = 0.0f;
    float sparse_sc = 0.0f;
    // sampler overrides (set flags)
    bool s_steps = false, s_tmin = false, s_tmax = false, s_eb = false, s_stab = false, s_conf = false;
    int32_t steps = 0, stability = 0;
    float t_min = 0, t_max = 0, eb = 0, conf = 0;
};

long long parse_int(const std::string & flag, const std::string & v) {
    errno = 0;
    char * end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0) throw Error(strfmt("invalid integer '%s' for %s", v.c_str(), flag.c_str()));
    return x;
}

float parse_float(const std::string & flag, const std::string & v) {
    errno = 0;
    char * end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno != 0) throw Error(strfmt("invalid number '%s' for %s", v.c_str(), flag.c_str()));
    return (float)x;
}

int32_t to_i32(const std::string & flag, long long x) {
    if (x < INT32_MIN || x > INT32_MAX) throw Error(strfmt("value %lld for %s is out of range", x, flag.c_str()));
    return (int32_t)x;
}

Args parse_args(int argc, char ** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string f = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) throw Error("missing value for " + f);
            return argv[++i];
        };
        if (f == "-h" || f == "--help") { std::fputs(kUsage, stdout); std::exit(0); }
        else if (f == "--version") { std::printf("llama-diffusion-cli %s\n", LD_VERSION); std::exit(0); }
        else if (f == "-hf" || f == "--hf-repo") a.hf_repo = val();
        else if (f == "-m" || f == "--model") a.model = val();
        else if (f == "-p" || f == "--prompt") { a.prompt = val(); a.have_prompt = true; }
        else if (f == "-f" || f == "--file") a.prompt_file = val();
        else if (f == "-sys" || f == "--system-prompt") a.system = val();
        else if (f == "-cnv" || f == "--conversation") a.chat = true;
        else if (f == "-n" || f == "--n-predict") a.n_predict = to_i32(f, parse_int(f, val()));
        else if (f == "-s" || f == "--seed") {
            const long long s = parse_int(f, val());
            a.seed = (uint64_t)s;
            a.have_seed = s >= 0;  // -1: random, as in llama.cpp
        }
        else if (f == "-t" || f == "--threads") a.threads = to_i32(f, parse_int(f, val()));
        else if (f == "-c" || f == "--ctx-size") a.ctx = parse_int(f, val());
        else if (f == "--mode") a.mode = val();
        else if (f == "--temp") a.temp = parse_float(f, val());
        else if (f == "--sparse-sc") {
            a.sparse_sc = parse_float(f, val());
            if (!(a.sparse_sc >= 0.0f && a.sparse_sc < 1.0f))
                throw Error(strfmt("--sparse-sc must be in [0, 1) (probability mass), got %g", (double)a.sparse_sc));
        }
        else if (f == "--diffusion-eb-max-steps") { a.steps = to_i32(f, parse_int(f, val())); a.s_steps = true; }
        else if (f == "--diffusion-eb-t-min") { a.t_min = parse_float(f, val()); a.s_tmin = true; }
        else if (f == "--diffusion-eb-t-max") { a.t_max = parse_float(f, val()); a.s_tmax = true; }
        else if (f == "--diffusion-eb-entropy-bound") { a.eb = parse_float(f, val()); a.s_eb = true; }
        else if (f == "--diffusion-eb-stability") { a.stability = to_i32(f, parse_int(f, val())); a.s_stab = true; }
        else if (f == "--diffusion-eb-confidence") { a.conf = parse_float(f, val()); a.s_conf = true; }
        else if (f == "--diffusion-visual") a.visual = 1;
        else if (f == "--no-diffusion-visual") a.visual = 0;
        else if (f == "--diffusion-visual-ms") {
            a.visual_ms = to_i32(f, parse_int(f, val()));
            if (a.visual_ms < 0 || a.visual_ms > 10000) throw Error("--diffusion-visual-ms must be in [0, 10000]");
        }
        else if (f == "--deterministic") a.deterministic = true;
        else if (f == "--max-canvases") a.max_canvases = to_i32(f, parse_int(f, val()));
        else if (f == "--head") a.head = val();
        else if (f == "--kv-type") a.kv_type = val();
        else if (f == "--device") a.device = val();
        else if (f == "-ngl" || f == "--n-gpu-layers" || f == "--gpu-layers") a.n_gpu_layers = to_i32(f, parse_int(f, val()));
        else if (f == "--cpu-moe") a.cpu_moe = true;
        else if (f == "--repack") a.repack = true;
        else if (f == "--raw") a.raw = true;
        else if (f == "--think") a.think = true;
        else if (f == "--json") a.json = true;
        else if (f == "--verbose") a.verbose = true;
        else if (f == "--check-tensors") a.check_tensors = true;
        else throw Error("unknown argument '" + f + "' (see --help)");
    }
    if (!a.hf_repo.empty()) {
        if (!a.model.empty()) throw Error("give either -m or -hf, not both");
        a.model = resolve_hf_model(a.hf_repo);
    }
    if (a.model.empty()) {
        const char * env = std::getenv("LLAMA_DIFFUSION_MODEL");
        if (env && *env) a.model = env;
        else a.demo = true;  // located after the argument checks below
    }
    if (a.threads < 0) throw Error(strfmt("-t must be >= 0, got %d", a.threads));
    if (a.n_gpu_layers < -1) throw Error(strfmt("-ngl must be >= 0 (or -1 for all layers), got %d", a.n_gpu_layers));
    const int cpus = (int)std::max(1u, std::thread::hardware_concurrency());
    if (a.threads > cpus) {
        std::fprintf(stderr, "llama-diffusion-cli: note: -t %d is more than the %d CPUs of this machine; using %d\n",
                     a.threads, cpus, cpus);
        a.threads = cpus;
    }
    if (a.head != "fused" && a.head != "plain") throw Error("unknown --head '" + a.head + "' (expected fused or plain)");
    if (!a.prompt_file.empty()) {
        if (a.have_prompt) throw Error("give either -p or -f, not both");
        std::ifstream in(a.prompt_file, std::ios::binary);
        if (!in) throw Error("cannot read prompt file '" + a.prompt_file + "': " + std::strerror(errno));
        std::stringstream ss;
        ss << in.rdbuf();
        a.prompt = ss.str();
        a.have_prompt = true;
    }
    if (!a.chat) {
        if (!a.have_prompt) throw Error("no prompt: give -p TEXT, -f FILE or -cnv");
        if (a.prompt.empty()) throw Error("the prompt is empty");
    }
    if (a.demo) {
        a.model = find_demo_model();
        if (!a.chat) a.raw = true;  // a raw code model: no chat template
    }
    return a;
}

std::string json_escape(const std::string & s) {
    std::string o;
    for (unsigned char c : s) {
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (c < 0x20) o += strfmt("\\u%04x", c);
                else o += (char)c;
        }
    }
    return o;
}

std::string stats_json(const GenStats & s, const GenParams & p) {
    std::string steps;
    for (size_t i = 0; i < s.steps_per_canvas.size(); ++i) steps += (i ? "," : "") + std::to_string(s.steps_per_canvas[i]);
    return strfmt("{\"mode\":\"%s\",\"prompt_tokens\":%lld,\"canvases\":%d,\"steps_per_canvas\":[%s],\"steps\":%lld,"
                  "\"prefill_ms\":%.3f,\"generate_ms\":%.3f,\"ms_per_step\":%.3f,\"generated_tokens\":%lld,"
                  "\"delivered_tokens\":%lld,\"tokens_per_s\":%.3f,\"peak_rss_bytes\":%lld,\"stop_reason\":\"%s\","
                  "\"seed\":%llu,\"soft_rows_fraction\":%.6f}",
                  gen_mode_name(p.mode), (long long)s.prompt_tokens, s.n_canvases, steps.c_str(), (long long)s.n_steps,
                  s.prefill_ms, s.generate_ms, s.ms_per_step, (long long)s.generated_tokens,
                  (long long)s.delivered_tokens, s.tokens_per_s, (long long)s.peak_rss_bytes, s.stop_reason.c_str(),
                  (unsigned long long)p.seed, s.soft_rows_fraction);
}

void print_summary(const GenStats & s, const GenParams & p) {
    std::string steps;
    for (size_t i = 0; i < s.steps_per_canvas.size(); ++i) steps += (i ? " " : "") + std::to_string(s.steps_per_canvas[i]);
    std::fprintf(stderr, "\n[%s] prompt %lld tokens, prefill %.1f ms (%.1f tok/s)\n", gen_mode_name(p.mode),
                 (long long)s.prompt_tokens, s.prefill_ms,
                 s.prefill_ms > 0 ? 1000.0 * (double)s.prompt_tokens / s.prefill_ms : 0.0);
    if (p.mode == GenMode::diffusion)
        std::fprintf(stderr, "[diffusion] %d canvases, steps per canvas [%s], %.2f ms/step%s\n", s.n_canvases,
                     steps.c_str(), s.ms_per_step,
                     p.soft_drop_mass > 0.0f
                         ? strfmt(", sparse self-conditioning: %.1f%% of the vocabulary rows", 100.0 * s.soft_rows_fraction).c_str()
                         : "");
    else
        std::fprintf(stderr, "[ar] %lld tokens, %.2f ms/token\n", (long long)s.n_steps, s.ms_per_step);
    std::fprintf(stderr, "[timing] %lld tokens delivered in %.1f ms (%.2f tok/s), stop: %s, peak RSS %.1f MiB\n",
                 (long long)s.delivered_tokens, s.generate_ms, s.tokens_per_s, s.stop_reason.c_str(),
                 (double)s.peak_rss_bytes / (1024.0 * 1024.0));
}

// Streams committed text to stdout; in visual mode redraws the current canvas in place.
struct Printer {
    std::shared_ptr<const Tokenizer> tokp;
    const Tokenizer * tok = nullptr;
    std::vector<int32_t> eos;
    bool visual = false, quiet = false, stopped = false;
    int32_t frame_ms = 0;     // pacing: a drawn frame stays at least this long (the engine waits meanwhile)
    double paced_ms = 0.0;    // time spent waiting for the pacing (included in the engine's timings)
    std::chrono::steady_clock::time_point last_frame{};
    std::unique_ptr<StreamDecoder> dec;
    bool drawn = false;

    void begin() {
        stopped = false;
        drawn = false;
        if (tokp) dec = std::make_unique<StreamDecoder>(tokp, true);
    }
    static std::string printable(std::string s) {
        for (char & c : s)
            if ((unsigned char)c < 0x20 && c != '\n') c = ' ';
        return s;
    }
    void clear_draft() {
        if (drawn) std::fputs("\0338\033[J", stdout);  // restore cursor, clear below
        drawn = false;
    }
    void step(const StepEvent & ev) {
        if (!visual || quiet || stopped || !tok) return;
        std::vector<int32_t> ids;
        for (int64_t i = 0; i < ev.C; ++i) {
            if (std::find(eos.begin(), eos.end(), ev.draft[i]) != eos.end()) break;
            ids.push_back(ev.draft[i]);
        }
        if (drawn && frame_ms > 0) {  // let the previous frame be seen before drawing over it
            const auto due = last_frame + std::chrono::milliseconds(frame_ms);
            const auto now = std::chrono::steady_clock::now();
            if (now < due) {
                paced_ms += std::chrono::duration<double, std::milli>(due - now).count();
                std::this_thread::sleep_until(due);
            }
        }
        if (!drawn) std::fputs("\0337", stdout);  // save the cursor where the canvas starts
        else std::fputs("\0338\033[J", stdout);
        drawn = true;
        std::fprintf(stdout, "\033[2m%s\033[0m\n\033[36m[canvas %d | step %d/%d | accepted %lld/%lld | entropy %.3f | T %.3f]\033[0m",
                     printable(tok->decode(ids, true)).c_str(), ev.canvas + 1, ev.step, ev.max_steps,
                     (long long)ev.n_accepted, (long long)ev.C, (double)ev.mean_entropy, (double)ev.temperature);
        std::fflush(stdout);
        last_frame = std::chrono::steady_clock::now();
    }
    void commit(const CommitEvent & ev) {
        if (visual) clear_draft();
        if (quiet || !tok) return;
        std::string out;
        for (int64_t i = 0; i < ev.n && !stopped; ++i) {
            if (std::find(eos.begin(), eos.end(), ev.tokens[i]) != eos.end()) { stopped = true; break; }
            out += dec->push(ev.tokens[i]);
        }
        if (ev.finished || stopped) out += dec->flush();
        std::fputs(out.c_str(), stdout);
        std::fflush(stdout);
    }
};

// A prompt past the model's trained context warns; past -c it is an error.
void check_prompt_length(size_t n, const Args & a, const HParams & hp) {
    if (a.ctx > 0 && (int64_t)n >= a.ctx)
        throw Error(strfmt("no room to generate: the prompt is %zu tokens, which does not fit in the context of -c %lld "
                           "tokens", n, (long long)a.ctx));
    if (hp.n_ctx_train > 0 && (int64_t)n > hp.n_ctx_train)
        std::fprintf(stderr, "llama-diffusion-cli: warning: the prompt is %zu tokens, longer than the model's context "
                             "length %lld; quality degrades past it\n", n, (long long)hp.n_ctx_train);
}

GenParams make_params(const Args & a, const Model & m, const Tokenizer * tok) {
    GenParams p = default_gen_params(m, tok);
    if (!a.mode.empty()) p.mode = gen_mode_from_name(a.mode);
    p.max_tokens = a.n_predict;
    p.max_canvases = a.max_canvases;
    p.n_ctx = a.ctx;
    p.deterministic = a.deterministic;
    p.seed = a.have_seed ? a.seed : (a.deterministic ? 0 : ((uint64_t)std::random_device{}() << 32) ^ std::random_device{}());
    p.head = a.head == "plain" ? HeadKind::plain : HeadKind::fused;
    p.ar_temperature = a.temp;
    p.soft_drop_mass = a.sparse_sc;
    if (a.s_steps) p.sampler.max_steps = a.steps;
    if (a.s_tmin) p.sampler.t_min = a.t_min;
    if (a.s_tmax) p.sampler.t_max = a.t_max;
    if (a.s_eb) p.sampler.entropy_bound = a.eb;
    if (a.s_stab) p.sampler.stability = a.stability;
    if (a.s_conf) p.sampler.confidence = a.conf;
    p.validate(m);
    return p;
}

int run(int argc, char ** argv) {
    const Args a = parse_args(argc, argv);
    const ggml::Type kv = kv_type_from_name(a.kv_type.c_str());
    if (a.check_tensors) {
        const size_t n = gguf::check_tensors(gguf::File::open(a.model), a.threads);
        if (a.verbose) std::fprintf(stderr, "check-tensors: %s: data of %zu tensors is valid\n", a.model.c_str(), n);
    }
    Placement pl;
    pl.device = a.device;
    pl.n_gpu_layers = a.n_gpu_layers;
    pl.cpu_moe = a.cpu_moe;
    pl.repack = a.repack;
    std::unique_ptr<Model> model = Model::open(a.model, a.threads, kv, pl);
    if (a.demo) {
        int64_t n_params = 0;
        for (const gguf::TensorInfo & t : model->file().tensors()) n_params += t.n_elements();
        std::fprintf(stderr, "llama-diffusion-cli: no -m given; using the built-in demo model %s (%.1fM-parameter "
                             "DiffusionGemma trained on Python code; %s; pass -m FILE for a real model)\n",
                     a.model.c_str(), (double)n_params / 1e6,
                     a.chat ? "chat mode applies a chat template this model was not trained on"
                            : "prompt used as raw text, no chat template");
    }
    std::shared_ptr<const Tokenizer> tok;
    std::string tok_err;
    try {
        tok = Tokenizer::create(vocab_from_gguf(model->file()));
    } catch (const Error & e) {
        tok_err = e.what();
    }
    if (!tok) throw Error(a.model + ": the file has no usable tokenizer (" + tok_err + ")");
    GenParams p = make_params(a, *model, tok.get());
    Generator gen(*model);
    if (a.verbose) {
        const HParams & hp = model->hparams();
        std::fprintf(stderr, "model: %s (%s), %d layers, H %d, V %d, canvas %d, %d threads, kv %s, device %s\n",
                     a.model.c_str(), model_arch_name(hp.arch), hp.n_layer, hp.n_embd, hp.n_vocab, hp.canvas_length,
                     model->n_threads(), a.kv_type.c_str(), model->placement_summary().c_str());
        std::fprintf(stderr, "sampler: mode %s, steps %d, t %.3f..%.3f, entropy bound %.3f, stability %d, confidence %.4f, "
                             "seed %llu%s, head %s\n",
                     gen_mode_name(p.mode), p.sampler.max_steps, (double)p.sampler.t_min, (double)p.sampler.t_max,
                     (double)p.sampler.entropy_bound, p.sampler.stability, (double)p.sampler.confidence,
                     (unsigned long long)p.seed, p.deterministic ? " (deterministic)" : "", a.head.c_str());
    }
    std::signal(SIGINT, on_sigint);
    std::signal(SIGBUS, on_sigbus);

    Printer pr;
    pr.tokp = tok;
    pr.tok = tok.get();
    pr.eos = p.eos_ids;
    pr.visual = (a.visual == 1 || (a.visual == -1 && a.demo)) && p.mode == GenMode::diffusion && !a.json &&
                isatty(STDOUT_FILENO);
    pr.frame_ms = a.visual_ms;
    pr.quiet = a.json;
    GenCallbacks cb;
    cb.cancel = &g_cancel;
    cb.on_step = [&](const StepEvent & ev) { pr.step(ev); };
    cb.on_commit = [&](const CommitEvent & ev) { pr.commit(ev); };

    ChatOptions copt;
    copt.thinking = a.think;
    if (!a.chat) {
        std::vector<int32_t> ids;
        if (a.raw) ids = tok->encode(a.prompt, true, true);
        else {
            std::vector<ChatMessage> msgs;
            if (!a.system.empty()) msgs.push_back({"system", a.system});
            msgs.push_back({"user", a.prompt});
            ids = chat_tokenize(*tok, msgs, copt);
        }
        check_prompt_length(ids.size(), a, model->hparams());
        // The prompt is encoded here chunk by chunk (the encoder's own chunks, so the cache is the
        // same), so Ctrl-C during a long prefill is seen within one chunk; the engine gets the rest.
        const size_t chunk = (size_t)std::max<int64_t>(1, model->chunk_size());
        const size_t n_pre = (ids.size() - 1) / chunk * chunk;
        const auto t_pre = std::chrono::steady_clock::now();
        for (size_t c0 = 0; c0 < n_pre; c0 += chunk) {
            if (g_cancel.load()) {
                std::fprintf(stderr, "\n[interrupted during the prompt's prefill, %zu of %zu tokens encoded]\n", c0,
                             ids.size());
                return 130;
            }
            model->encode(ids.data() + c0, (int64_t)chunk, -1, nullptr);
        }
        const double pre_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_pre).count();
        const std::vector<int32_t> tail(ids.begin() + (std::ptrdiff_t)n_pre, ids.end());
        pr.begin();
        model->file().check_unchanged();
        GenResult r = gen.generate(tail, p, cb);
        r.stats.prompt_tokens += (int64_t)n_pre;
        r.stats.prefill_ms += pre_ms;
        std::vector<int32_t> text_ids;
        for (int32_t t : r.tokens) {
            if (std::find(p.eos_ids.begin(), p.eos_ids.end(), t) != p.eos_ids.end()) break;
            text_ids.push_back(t);
        }
        if (a.json) {
            std::string toks;
            for (size_t i = 0; i < r.tokens.size(); ++i) toks += (i ? "," : "") + std::to_string(r.tokens[i]);
            std::printf("{\"text\":\"%s\",\"tokens\":[%s],\"stats\":%s}\n", json_escape(tok->decode(text_ids, true)).c_str(),
                        toks.c_str(), stats_json(r.stats, p).c_str());
        } else {
            std::fputs("\n", stdout);
            print_summary(r.stats, p);
            if (pr.paced_ms > 0)
                std::fprintf(stderr, "[visual] %.1f ms of the time above was display pacing (--diffusion-visual-ms %d; "
                                     "0 turns it off)\n", pr.paced_ms, a.visual_ms);
        }
        return r.stats.stop_reason == "cancelled" ? 130 : 0;
    }

    ChatSession chat(gen, tok, copt, a.system);
    const bool tty_in = isatty(STDIN_FILENO);
    std::string first = a.have_prompt ? a.prompt : std::string();
    while (true) {
        std::string line;
        if (!first.empty()) {
            line = first;
            first.clear();
        } else {
            if (tty_in) { std::fputs("\n> ", stdout); std::fflush(stdout); }
            if (!std::getline(std::cin, line)) break;
        }
        if (line == "/exit" || line == "/quit") break;
        if (line == "/clear") {
            chat.clear();
            std::fputs("[cleared]\n", a.json ? stderr : stdout);
            continue;
        }
        if (line.empty()) continue;
        g_cancel = false;
        pr.begin();
        model->file().check_unchanged();
        ChatSession::Reply rep = chat.send(line, p, cb);
        if (a.json) {
            std::printf("{\"text\":\"%s\",\"turn\":%d,\"stats\":%s}\n", json_escape(rep.text).c_str(), chat.turns(),
                        stats_json(rep.result.stats, p).c_str());
        } else {
            std::fputs("\n", stdout);
            if (a.verbose) print_summary(rep.result.stats, p);
        }
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int main(int argc, char ** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception & e) {
        std::string msg = e.what();
        for (char & c : msg)
            if (c == '\n') c = ' ';
        std::fprintf(stderr, "llama-diffusion-cli: error: %s\n", msg.c_str());
        return 1;
    }
}
