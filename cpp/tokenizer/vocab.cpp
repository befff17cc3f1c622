// Vocab validation and loading from GGUF metadata (tokenizer.ggml.* keys).
#include "tokenizer/vocab.h"

#include "common/error.h"
#include "gguf/gguf-reader.h"
#include "gguf/gguf-utf8.h"
#include "tokenizer/tokenizer-impl.h"

namespace ld {

void Vocab::validate() const {
    if (model != "llama" && model != "gemma4") {
        throw Error(strfmt("tokenizer: unsupported tokenizer.ggml.model '%s' (supported: 'llama' "
                           "(SentencePiece, Gemma 3), 'gemma4' (BPE))", model.c_str()));
    }
    const size_t n = tokens.size();
    if (n == 0) throw Error("tokenizer: the vocabulary is empty");
    if (n > (size_t)INT32_MAX) throw Error(strfmt("tokenizer: %zu tokens is too many", n));
    if (!scores.empty() && scores.size() != n) {
        throw Error(strfmt("tokenizer: %zu scores for %zu tokens", scores.size(), n));
    }
    if (!token_types.empty() && token_types.size() != n) {
        throw Error(strfmt("tokenizer: %zu token types for %zu tokens", token_types.size(), n));
    }
    for (size_t i = 0; i < token_types.size(); ++i) {
        if (token_types[i] < 0 || token_types[i] > (int32_t)TokenType::Byte) {
            throw Error(strfmt("tokenizer: token %zu has unknown token type %d", i, token_types[i]));
        }
    }
    for (size_t i = 0; i < n; ++i) {
        if (tokens[i].empty()) throw Error(strfmt("tokenizer: token %zu is an empty string", i));
        size_t bad = tok::utf8_invalid_at(tokens[i]);
        if (bad != std::string::npos) {
            throw Error(strfmt("tokenizer: token %zu is not valid UTF-8 (byte %zu)", i, bad));
        }
    }
    const struct { const char * name; int32_t id; } ids[] = {
        {"bos", bos_id}, {"eos", eos_id}, {"unknown", unk_id}, {"padding", pad_id}, {"mask", mask_id}};
    for (const auto & s : ids) {
        if (s.id < -1 || s.id >= (int64_t)n) {
            throw Error(strfmt("tokenizer: %s token id %d is outside the vocabulary of %zu tokens",
                               s.name, s.id, n));
        }
    }
    if (add_bos && bos_id < 0) throw Error("tokenizer: add_bos is set but there is no bos token id");
    if (add_eos && eos_id < 0) throw Error("tokenizer: add_eos is set but there is no eos token id");
    if (model == "gemma4" && merges.empty()) {
        throw Error("tokenizer: a 'gemma4' (BPE) vocabulary needs tokenizer.ggml.merges");
    }
}

Vocab vocab_from_gguf(const gguf::File & f) {
    // Metadata strings reach Python and the terminal as text: each must be valid UTF-8 (as the GGUF
    // format requires); the error names the key and entry.
    auto text = [&](const char * key, std::string_view s, int64_t index = -1) -> std::string_view {
        if (!gguf::utf8_valid(s)) {
            throw Error(index < 0 ? strfmt("%s: metadata string '%s' is not valid UTF-8", f.name().c_str(), key)
                                  : strfmt("%s: metadata string '%s'[%lld] is not valid UTF-8", f.name().c_str(), key,
                                           (long long)index));
        }
        return s;
    };
    Vocab v;
    v.model = text("tokenizer.ggml.model", f.get_string("tokenizer.ggml.model"));
    {
        int64_t i = 0;
        for (std::string_view s : f.get_string_array("tokenizer.ggml.tokens"))
            v.tokens.emplace_back(text("tokenizer.ggml.tokens", s, i++));
    }
    if (f.has("tokenizer.ggml.scores")) v.scores = f.get_f32_array("tokenizer.ggml.scores");
    if (f.has("tokenizer.ggml.token_type")) {
        std::vector<int64_t> tt = f.get_int_array("tokenizer.ggml.token_type");
        v.token_types.reserve(tt.size());
        for (size_t i = 0; i < tt.size(); ++i) {
            if (tt[i] < 0 || tt[i] > (int64_t)TokenType::Byte) {
                throw Error(strfmt("%s: tokenizer.ggml.token_type[%zu] = %lld is not a token type",
                                   f.name().c_str(), i, (long long)tt[i]));
            }
            v.token_types.push_back((int32_t)tt[i]);
        }
    }
    if (f.has("tokenizer.ggml.merges")) {
        int64_t i = 0;
        for (std::string_view s : f.get_string_array("tokenizer.ggml.merges"))
            v.merges.emplace_back(text("tokenizer.ggml.merges", s, i++));
    }
    auto id = [&](const char * key) -> int32_t {
        std::optional<int64_t> x = f.find_i64(key);
        if (!x) return -1;
        if (*x < 0 || *x >= (int64_t)v.tokens.size()) {
            throw Error(strfmt("%s: %s = %lld is outside the vocabulary of %zu tokens", f.name().c_str(),
                               key, (long long)*x, v.tokens.size()));
        }
        return (int32_t)*x;
    };
    v.bos_id = id("tokenizer.ggml.bos_token_id");
    v.eos_id = id("tokenizer.ggml.eos_token_id");
    v.unk_id = id("tokenizer.ggml.unknown_token_id");
    v.pad_id = id("tokenizer.ggml.padding_token_id");
    v.mask_id = id("tokenizer.ggml.mask_token_id");
    // llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise.
    v.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(v.model == "llama");
    v.add_eos = f.find_bool("tokenizer.ggml.add_eos_token").value_or(false);
    v.add_space_prefix = f.find_bool("tokenizer.ggml.add_space_prefix").value_or(false);
    v.chat_template = text("tokenizer.chat_template", f.find_string("tokenizer.chat_template").value_or(""));
    if (v.add_bos && v.bos_id < 0) v.add_bos = false;
    if (v.add_eos && v.eos_id < 0) v.add_eos = false;
    v.validate();
    return v;
}

}  // namespace ld
