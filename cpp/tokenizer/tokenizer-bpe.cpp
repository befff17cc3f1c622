// The Gemma 4 vocabulary (tokenizer.ggml.model = "gemma4"): BPE with an explicit merge list
// (tokenizer.ggml.merges, "left right", best first), SentencePiece-style spaces ("▁"), byte
// fallback <0xXX>, control and user-defined tokens matched atomically (tokenizer.cpp).
#include <limits>

#include "common/error.h"
#include "tokenizer/tokenizer-impl.h"
#include "tokenizer/tokenizer.h"

namespace ld {

namespace {

class BpeTokenizer final : public Tokenizer {
public:
    explicit BpeTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
        init_common();
        add_atomic_tokens(/*skip_space_runs=*/false);
        by_text_last_.reserve(vocab_.tokens.size() * 2);
        for (size_t i = 0; i < vocab_.tokens.size(); ++i) by_text_last_[vocab_.tokens[i]] = (int32_t)i;
        merges_.reserve(vocab_.merges.size() * 2);
        std::string buf;
        for (size_t r = 0; r < vocab_.merges.size(); ++r) {
            const std::string & m = vocab_.merges[r];
            // The separator is a space; a token may itself hold spaces, so take the first split
            // whose two halves and their concatenation are all tokens.
            bool ok = false;
            for (size_t k = m.find(' ', 1); k != std::string::npos && !ok; k = m.find(' ', k + 1)) {
                int32_t a = lookup(std::string_view(m).substr(0, k));
                int32_t b = lookup(std::string_view(m).substr(k + 1));
                if (a < 0 || b < 0) continue;
                buf.assign(m, 0, k);
                buf.append(m, k + 1, std::string::npos);
                int32_t c = lookup(buf);
                if (c < 0) continue;
                merges_[((uint64_t)(uint32_t)a << 32) | (uint32_t)b] = Merge{(uint32_t)r, c};  // last wins
                ok = true;
            }
            if (!ok) {
                throw Error(strfmt("tokenizer: merge %zu '%s' does not join two tokens of the vocabulary "
                                   "into a third", r, m.c_str()));
            }
        }
    }

protected:
    void encode_text(std::string_view text, std::vector<int32_t> & out) const override {
        const std::string norm = tok::normalize_spaces(text, vocab_.add_space_prefix);
        std::vector<tok::Symbol> syms;
        tok::initial_symbols(norm, [&](std::string_view s) { return lookup(s); }, byte_token_,
                             vocab_.unk_id, syms);
        auto rank = [&](int32_t a, int32_t b, int32_t & merged) -> uint64_t {
            auto it = merges_.find(((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
            if (it == merges_.end()) return std::numeric_limits<uint64_t>::max();
            merged = it->second.merged;
            return it->second.rank;
        };
        tok::bpe_merge(syms, rank, out);
    }

private:
    struct Merge {
        uint32_t rank;
        int32_t merged;
    };
    int32_t lookup(std::string_view s) const {
        auto it = by_text_last_.find(s);
        return it == by_text_last_.end() ? -1 : it->second;
    }
    std::unordered_map<std::string_view, int32_t> by_text_last_;  // text -> id (last wins, as a dict)
    std::unordered_map<uint64_t, Merge> merges_;                   // (left << 32 | right) -> merge
};

}  // namespace

std::shared_ptr<const Tokenizer> make_bpe_tokenizer(Vocab vocab) {
    return std::make_shared<BpeTokenizer>(std::move(vocab));
}

}  // namespace ld
