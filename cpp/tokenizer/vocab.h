// The tokenizer vocabulary as GGUF files carry it (tokenizer.ggml.* keys, docs/format.md §B):
// token strings, scores, token types, BPE merges, special ids and the add_bos/add_eos flags.
//
// Vocab is a plain struct so the tokenizer can be built from any source (a GGUF file through
// vocab_from_gguf, or Python lists in tests). validate() checks it; Tokenizer::create calls it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ld::gguf {
class File;
}

namespace ld {

// llama.cpp token types (tokenizer.ggml.token_type), same numbering.
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,       // special tokens (<bos>, <|turn>, ...): atomic only when parse_special
    UserDefined = 4,   // always matched atomically in text (e.g. "\n\n", "<table>")
    Unused = 5,
    Byte = 6,          // <0xXX> byte-fallback tokens
};

struct Vocab {
    // tokenizer.ggml.model: "llama" (SentencePiece, Gemma 3) or "gemma4" (BPE with merges).
    std::string model = "gemma4";
    std::vector<std::string> tokens;        // [n_vocab] UTF-8 token texts, "▁" for spaces
    std::vector<float> scores;              // [n_vocab] or empty
    std::vector<int32_t> token_types;       // [n_vocab] TokenType values, or empty (all Normal)
    std::vector<std::string> merges;        // "left right" in priority order (gemma4 only)
    int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, mask_id = -1;  // -1 = none
    bool add_bos = false;
    bool add_eos = false;
    bool add_space_prefix = false;          // prepend "▁" to the text (false for all Gemmas)
    std::string chat_template;              // tokenizer.chat_template (informative; chat.h is code)

    int32_t n_tokens() const { return (int32_t)tokens.size(); }
    TokenType type(int32_t id) const {
        return token_types.empty() ? TokenType::Normal : (TokenType)token_types[(size_t)id];
    }

    // Throws ld::Error when sizes disagree, a special id is out of range, a token type is
    // unknown, the model is not supported, or a token is empty / invalid UTF-8.
    void validate() const;
};

// Reads the tokenizer.ggml.* keys of a GGUF file (throws ld::Error naming the missing key).
Vocab vocab_from_gguf(const ld::gguf::File & file);

}  // namespace ld
