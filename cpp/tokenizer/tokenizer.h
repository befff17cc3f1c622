// Text <-> token ids for the Gemma vocabularies (common API of both tokenizer models).
//
//   auto tok = Tokenizer::create(vocab_from_gguf(file));
//   std::vector<int32_t> ids = tok->encode("Hello", /*add_special=*/true, /*parse_special=*/false);
//   std::string text = tok->decode(ids);
//
// Encoding, for both models (the behaviour of HF `tokenizers` on the same vocabulary):
//  1. Atomic tokens are cut out of the text first, leftmost-longest: user-defined tokens always,
//     control tokens ("<bos>", "<|turn>", ...) only when parse_special is true (otherwise their
//     text is tokenized as ordinary text).
//  2. Every other run of text: spaces become "▁" (U+2581), then BPE: start from one symbol per
//     character (characters missing from the vocabulary fall back to their UTF-8 bytes <0xXX>),
//     repeatedly merge the adjacent pair of lowest rank (leftmost on ties).
//     - "gemma4" (tokenizer-bpe.cpp): ranks are the order of tokenizer.ggml.merges.
//     - "llama"  (tokenizer-spm.cpp, Gemma 3): the file has no merges; they are implied by the
//       vocabulary (every split of a token into two tokens), ranked by the merged token's id,
//       then by longer left part, as transformers rebuilds them. Tokens made only of spaces are
//       spelled with "▁" for merging (so "   " is reached by merging "▁"s).
//  3. add_special adds BOS / EOS as the vocabulary's add_bos / add_eos say.
// Decoding maps "▁" back to spaces, joins runs of byte tokens into UTF-8 (a run that is not
// valid UTF-8 becomes one U+FFFD per byte, as HF's ByteFallback does).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace ld {

namespace tok {
struct SpecialMatcher;  // trie of atomic tokens (tokenizer.cpp)
}

class Tokenizer {
public:
    // Validates the vocabulary and builds the lookup structures once (hash maps, tries, merge
    // tables); the result is immutable and safe to share between threads.
    static std::shared_ptr<const Tokenizer> create(Vocab vocab);
    virtual ~Tokenizer();

    // Text (UTF-8; invalid UTF-8 throws ld::Error) to ids.
    std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                                bool parse_special = false) const;
    // Ids to text. Control tokens are written as their text unless skip_special. Out-of-range
    // ids throw ld::Error.
    std::string decode(const std::vector<int32_t> & ids, bool skip_special = false) const;
    // The bytes one token stands for ("▁" as space; a byte token is one raw byte, which may be
    // part of a UTF-8 character). Control tokens give "" unless special is true.
    std::string token_to_piece(int32_t id, bool special = true) const;

    const Vocab & vocab() const { return vocab_; }
    int32_t n_tokens() const { return vocab_.n_tokens(); }
    int32_t bos_id() const { return vocab_.bos_id; }
    int32_t eos_id() const { return vocab_.eos_id; }
    int32_t pad_id() const { return vocab_.pad_id; }
    int32_t mask_id() const { return vocab_.mask_id; }
    // The id of the token whose text is exactly `text` (file spelling), or -1.
    int32_t token_id(std::string_view text) const;
    bool is_control(int32_t id) const;
    // Byte value of a <0xXX> token, or -1.
    int byte_value(int32_t id) const { return check_id(id), byte_of_[(size_t)id]; }

protected:
    explicit Tokenizer(Vocab vocab);
    void init_common();
    // Registers the control and user-defined tokens for atomic matching; skip_space_runs leaves
    // out user-defined tokens made only of whitespace with at least one space (see tokenizer-spm).
    void add_atomic_tokens(bool skip_space_runs);
    // Appends the ids of one run of text that holds no atomic token (before normalization).
    virtual void encode_text(std::string_view text, std::vector<int32_t> & out) const = 0;
    void check_id(int32_t id) const;

    Vocab vocab_;
    std::unordered_map<std::string_view, int32_t> by_text_;  // file spelling -> id (first wins)
    std::vector<int16_t> byte_of_;                           // [n_vocab] byte of <0xXX> tokens or -1
    int32_t byte_token_[256];                                // byte -> "<0xXX>" id or -1
    std::unique_ptr<tok::SpecialMatcher> specials_;
};

// Streams text out of a token sequence without ever emitting part of a UTF-8 character:
// bytes of a character split over several byte tokens are held back until it is complete.
// For valid sequences, the concatenation of push() results plus flush() equals decode().
class StreamDecoder {
public:
    explicit StreamDecoder(std::shared_ptr<const Tokenizer> tok, bool skip_special = false);
    std::string push(int32_t id);   // the text that became complete with this token
    std::string flush();            // whatever is pending (an incomplete character -> U+FFFD)
    void reset() { pending_.clear(); }

private:
    std::shared_ptr<const Tokenizer> tok_;
    bool skip_special_;
    std::string pending_;  // bytes of an incomplete character (at most 3)
};

}  // namespace ld
