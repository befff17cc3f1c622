// The SentencePiece vocabulary of Gemma 3 (tokenizer.ggml.model = "llama"): BPE whose merges
// are implied by the vocabulary itself, as transformers builds it from the same GGUF.
//
// A pair of adjacent symbols (L, R) merges when the concatenation L+R is a token. Pairs are
// ranked by the id of the merged token (lower first: Gemma's file order is its merge order, its
// scores are not), then by the longer left part; the leftmost of equal-rank pairs goes first.
// This is exactly the merge list transformers derives (every split of every token into two
// tokens, sorted that way), computed on the fly from one hash lookup per candidate pair.
//
// Whitespace-only tokens that contain a space (Gemma 3's user-defined runs "  ", "   ", ...)
// are spelled as that many "▁" for merging, so a run of spaces in the text is reached by merging
// "▁"s; they are therefore not matched atomically (the "\n\n" and "\t\t" runs are).
#include <limits>

#include "common/error.h"
#include "tokenizer/tokenizer-impl.h"
#include "tokenizer/tokenizer.h"

namespace ld {

namespace {

class SpmTokenizer final : public Tokenizer {
public:
    explicit SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
        init_common();
        add_atomic_tokens(/*skip_space_runs=*/true);
        const size_t n = vocab_.tokens.size();
        spelling_.resize(n);
        nchars_.resize(n);
        for (size_t i = 0; i < n; ++i) {
            const std::string & t = vocab_.tokens[i];
            if (tok::is_space_run(t)) {
                const size_t k = tok::utf8_count(t);
                for (size_t j = 0; j < k; ++j) spelling_[i].append(tok::kSpaceMark, tok::kSpaceMarkLen);
            } else {
                spelling_[i] = t;
            }
            nchars_[i] = (uint32_t)tok::utf8_count(spelling_[i]);
        }
        by_spelling_.reserve(n * 2);
        for (size_t i = 0; i < n; ++i) by_spelling_[spelling_[i]] = (int32_t)i;  // last wins, as in a dict
    }

protected:
    void encode_text(std::string_view text, std::vector<int32_t> & out) const override {
        const std::string norm = tok::normalize_spaces(text, vocab_.add_space_prefix);
        std::vector<tok::Symbol> syms;
        auto lookup = [&](std::string_view s) -> int32_t {
            auto it = by_spelling_.find(s);
            return it == by_spelling_.end() ? -1 : it->second;
        };
        tok::initial_symbols(norm, lookup, byte_token_, vocab_.unk_id, syms);
        std::string buf;
        auto rank = [&](int32_t a, int32_t b, int32_t & merged) -> uint64_t {
            buf.assign(spelling_[(size_t)a]);
            buf += spelling_[(size_t)b];
            merged = lookup(buf);
            if (merged < 0) return std::numeric_limits<uint64_t>::max();
            return ((uint64_t)(uint32_t)merged << 32) | (uint64_t)(0xFFFFFFFFu - nchars_[(size_t)a]);
        };
        tok::bpe_merge(syms, rank, out);
    }

private:
    std::vector<std::string> spelling_;   // [n_vocab] the text used for merging
    std::vector<uint32_t> nchars_;        // [n_vocab] code points of spelling_
    std::unordered_map<std::string_view, int32_t> by_spelling_;
};

}  // namespace

std::shared_ptr<const Tokenizer> make_spm_tokenizer(Vocab vocab) {
    return std::make_shared<SpmTokenizer>(std::move(vocab));
}

}  // namespace ld
