// Internals shared by the tokenizer files: UTF-8 helpers, the atomic-token matcher and the BPE
// merge loop (templated on how a pair of adjacent symbols is ranked). Not a public header.
#pragma once

#include <cstdint>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ld::tok {

extern const char * const kSpaceMark;  // "▁" (U+2581), 3 bytes
constexpr size_t kSpaceMarkLen = 3;

// Length of the UTF-8 sequence starting at s[i] if it is a valid, complete character, else 0.
size_t utf8_char_len(std::string_view s, size_t i);
// Byte offset of the first invalid or truncated sequence, or std::string::npos.
size_t utf8_invalid_at(std::string_view s);
// Number of code points of valid UTF-8.
size_t utf8_count(std::string_view s);
// Expected total length of a sequence from its lead byte (1..4), 0 for a non-lead byte.
size_t utf8_lead_len(unsigned char c);

// Whitespace-only text containing at least one space (Python: " " in t and not t.strip(), for
// the ASCII whitespace that occurs in vocabularies).
bool is_space_run(std::string_view t);

// Spaces -> "▁" (plus a leading "▁" when add_prefix).
std::string normalize_spaces(std::string_view text, bool add_prefix);

// Atomic tokens matched leftmost-longest over the raw text (a byte trie).
struct SpecialMatcher {
    struct Node {
        int32_t token = -1;  // token ending here, or -1
    };
    std::vector<Node> nodes{Node{}};
    std::unordered_map<uint64_t, int32_t> edges;  // (node << 8 | byte) -> child node
    bool first[256] = {};                          // bytes that start some token

    void add(std::string_view text, int32_t id);
    // Longest token starting at text[pos]: sets id and returns its length, or returns 0.
    size_t match(std::string_view text, size_t pos, int32_t & id) const;
    bool empty() const { return nodes.size() == 1; }
};

// One BPE symbol in a doubly linked list over the initial symbols.
struct Symbol {
    int32_t id;
    int32_t prev, next;  // indices, -1 at the ends
    bool alive;
};

[[noreturn]] void throw_no_fallback(std::string_view ch);

// Initial symbols of a normalized text: one per character found in the vocabulary; a
// character missing from it becomes its byte tokens, or (if one of those is missing) the unk
// id, consecutive unks fused into one. Throws ld::Error when neither is available.
template <typename Lookup>
void initial_symbols(std::string_view text, const Lookup & lookup, const int32_t * byte_token,
                     int32_t unk_id, std::vector<Symbol> & syms) {
    syms.clear();
    auto push = [&](int32_t id) {
        int32_t i = (int32_t)syms.size();
        syms.push_back(Symbol{id, i - 1, -1, true});
        if (i > 0) syms[(size_t)i - 1].next = i;
    };
    bool last_unk = false;
    for (size_t i = 0; i < text.size();) {
        size_t n = utf8_char_len(text, i);
        if (n == 0) n = 1;  // not reached for validated input
        int32_t id = lookup(text.substr(i, n));
        if (id >= 0) {
            push(id);
            last_unk = false;
        } else {
            bool all = true;
            for (size_t k = 0; k < n; ++k) all = all && byte_token[(unsigned char)text[i + k]] >= 0;
            if (all) {
                for (size_t k = 0; k < n; ++k) push(byte_token[(unsigned char)text[i + k]]);
                last_unk = false;
            } else {
                if (unk_id < 0) throw_no_fallback(text.substr(i, n));
                if (!last_unk) push(unk_id);  // fuse consecutive unknowns
                last_unk = true;
            }
        }
        i += n;
    }
}

// The BPE merge loop. rank(left_id, right_id, merged_id&) returns the pair's rank (lower merges
// first) and the merged token, or UINT64_MAX when the pair does not merge. Among equal ranks
// the leftmost pair merges first.
template <typename Rank>
void bpe_merge(std::vector<Symbol> & syms, const Rank & rank, std::vector<int32_t> & out) {
    struct Cand {
        uint64_t rank;
        int32_t pos;
        int32_t left, right, merged;
        bool operator>(const Cand & o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    auto consider = [&](int32_t a) {
        if (a < 0) return;
        int32_t b = syms[(size_t)a].next;
        if (b < 0) return;
        int32_t merged = -1;
        uint64_t r = rank(syms[(size_t)a].id, syms[(size_t)b].id, merged);
        if (r != UINT64_MAX) heap.push(Cand{r, a, syms[(size_t)a].id, syms[(size_t)b].id, merged});
    };
    for (int32_t i = 0; i + 1 < (int32_t)syms.size(); ++i) consider(i);
    while (!heap.empty()) {
        Cand c = heap.top();
        heap.pop();
        Symbol & l = syms[(size_t)c.pos];
        if (!l.alive || l.id != c.left || l.next < 0) continue;
        Symbol & r = syms[(size_t)l.next];
        if (r.id != c.right) continue;
        l.id = c.merged;
        r.alive = false;
        l.next = r.next;
        if (r.next >= 0) syms[(size_t)r.next].prev = c.pos;
        consider(l.prev);
        consider(c.pos);
    }
    for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[(size_t)i].next) out.push_back(syms[(size_t)i].id);
}

}  // namespace ld::tok
