// The model-independent half of the tokenizer: UTF-8 helpers, atomic-token matching, the
// encode driver (atomic tokens, then the model's BPE on the text between them), decoding and
// the streaming decoder. The BPE models are in tokenizer-spm.cpp and tokenizer-bpe.cpp.
#include "tokenizer/tokenizer.h"

#include <cstring>

#include "common/error.h"
#include "tokenizer/tokenizer-impl.h"

namespace ld {

// Defined in tokenizer-spm.cpp / tokenizer-bpe.cpp.
std::shared_ptr<const Tokenizer> make_spm_tokenizer(Vocab vocab);
std::shared_ptr<const Tokenizer> make_bpe_tokenizer(Vocab vocab);

namespace tok {

const char * const kSpaceMark = "\xE2\x96\x81";

size_t utf8_lead_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

// Whether byte b may follow lead byte `lead` as the second byte (rules out overlong forms,
// surrogates and code points above U+10FFFF).
static bool utf8_second_ok(unsigned char lead, unsigned char b) {
    if ((b & 0xC0) != 0x80) return false;
    if (lead == 0xE0) return b >= 0xA0;
    if (lead == 0xED) return b <= 0x9F;
    if (lead == 0xF0) return b >= 0x90;
    if (lead == 0xF4) return b <= 0x8F;
    return true;
}

size_t utf8_char_len(std::string_view s, size_t i) {
    const unsigned char c = (unsigned char)s[i];
    const size_t n = utf8_lead_len(c);
    if (n == 0 || i + n > s.size()) return 0;
    if (n >= 2 && !utf8_second_ok(c, (unsigned char)s[i + 1])) return 0;
    for (size_t k = 2; k < n; ++k) {
        if (((unsigned char)s[i + k] & 0xC0) != 0x80) return 0;
    }
    return n;
}

// Whether s[i..] is the start of a valid character that is cut off by the end of s.
static bool utf8_truncated(std::string_view s, size_t i) {
    const unsigned char c = (unsigned char)s[i];
    const size_t n = utf8_lead_len(c);
    if (n < 2 || i + n <= s.size()) return false;
    if (i + 1 < s.size() && !utf8_second_ok(c, (unsigned char)s[i + 1])) return false;
    for (size_t k = i + 2; k < s.size(); ++k) {
        if (((unsigned char)s[k] & 0xC0) != 0x80) return false;
    }
    return true;
}

size_t utf8_invalid_at(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_char_len(s, i);
        if (n == 0) return i;
        i += n;
    }
    return std::string::npos;
}

size_t utf8_count(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::string normalize_spaces(std::string_view text, bool add_prefix) {
    std::string out;
    out.reserve(text.size() + 16);
    if (add_prefix) out.append(kSpaceMark, kSpaceMarkLen);
    for (char c : text) {
        if (c == ' ') out.append(kSpaceMark, kSpaceMarkLen);
        else out.push_back(c);
    }
    return out;
}

void throw_no_fallback(std::string_view ch) {
    std::string hex;
    for (unsigned char c : ch) hex += strfmt("%02X", c);
    throw Error(strfmt("tokenizer: character 0x%s is not in the vocabulary, which has neither byte "
                       "tokens nor an unknown token", hex.c_str()));
}

void SpecialMatcher::add(std::string_view text, int32_t id) {
    int32_t node = 0;
    for (unsigned char c : text) {
        uint64_t key = ((uint64_t)node << 8) | c;
        auto it = edges.find(key);
        if (it == edges.end()) {
            int32_t child = (int32_t)nodes.size();
            nodes.push_back(Node{});
            edges.emplace(key, child);
            node = child;
        } else {
            node = it->second;
        }
    }
    first[(unsigned char)text[0]] = true;
    if (nodes[(size_t)node].token < 0) nodes[(size_t)node].token = id;  // first id wins
}

size_t SpecialMatcher::match(std::string_view text, size_t pos, int32_t & id) const {
    if (!first[(unsigned char)text[pos]]) return 0;
    int32_t node = 0;
    size_t best = 0;
    for (size_t i = pos; i < text.size(); ++i) {
        auto it = edges.find(((uint64_t)node << 8) | (unsigned char)text[i]);
        if (it == edges.end()) break;
        node = it->second;
        if (nodes[(size_t)node].token >= 0) {
            best = i + 1 - pos;
            id = nodes[(size_t)node].token;
        }
    }
    return best;
}

}  // namespace tok

static int parse_byte_token(std::string_view t) {
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
    int v = 0;
    for (size_t i = 3; i < 5; ++i) {
        char c = t[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
              : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

std::shared_ptr<const Tokenizer> Tokenizer::create(Vocab vocab) {
    vocab.validate();
    if (vocab.model == "llama") return make_spm_tokenizer(std::move(vocab));
    return make_bpe_tokenizer(std::move(vocab));
}

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}
Tokenizer::~Tokenizer() = default;

void Tokenizer::init_common() {
    const size_t n = vocab_.tokens.size();
    by_text_.reserve(n * 2);
    byte_of_.assign(n, -1);
    for (int i = 0; i < 256; ++i) byte_token_[i] = -1;
    for (size_t i = 0; i < n; ++i) {
        std::string_view t = vocab_.tokens[i];
        by_text_.emplace(t, (int32_t)i);
        byte_of_[i] = (int16_t)parse_byte_token(t);
    }
    for (int b = 0; b < 256; ++b) byte_token_[b] = token_id(strfmt("<0x%02X>", b));
    specials_ = std::make_unique<tok::SpecialMatcher>();
}

// Python's str.isspace() set: ASCII whitespace, 0x1C-0x1F, U+0085, U+00A0, U+1680,
// U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
static bool is_py_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool tok::is_space_run(std::string_view t) {
    bool space = false;
    for (size_t i = 0; i < t.size();) {
        size_t n = utf8_char_len(t, i);
        if (n == 0) return false;
        uint32_t cp = n == 1 ? (unsigned char)t[i] : ((unsigned char)t[i] & (0x7F >> n));
        for (size_t k = 1; k < n; ++k) cp = (cp << 6) | ((unsigned char)t[i + k] & 0x3F);
        if (!is_py_space(cp)) return false;
        space = space || cp == 0x20;
        i += n;
    }
    return space;
}

void Tokenizer::add_atomic_tokens(bool skip_space_runs) {
    for (int32_t i = 0; i < n_tokens(); ++i) {
        const TokenType t = vocab_.type(i);
        if (t != TokenType::Control && t != TokenType::UserDefined) continue;
        if (skip_space_runs && t == TokenType::UserDefined && tok::is_space_run(vocab_.tokens[(size_t)i])) continue;
        specials_->add(vocab_.tokens[(size_t)i], i);
    }
}

void Tokenizer::check_id(int32_t id) const {
    if (id < 0 || id >= n_tokens()) {
        throw Error(strfmt("tokenizer: token id %d is outside the vocabulary of %d tokens", id, n_tokens()));
    }
}

int32_t Tokenizer::token_id(std::string_view text) const {
    auto it = by_text_.find(text);
    return it == by_text_.end() ? -1 : it->second;
}

bool Tokenizer::is_control(int32_t id) const {
    check_id(id);
    return vocab_.type(id) == TokenType::Control;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    size_t bad = tok::utf8_invalid_at(text);
    if (bad != std::string::npos) {
        throw Error(strfmt("tokenizer: the text is not valid UTF-8 (byte %zu of %zu: 0x%02X)", bad,
                           text.size(), (unsigned char)text[bad]));
    }
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && vocab_.add_bos) out.push_back(vocab_.bos_id);
    size_t seg = 0, pos = 0;
    while (pos < text.size()) {
        int32_t id = -1;
        size_t len = specials_->match(text, pos, id);
        if (len == 0) {
            ++pos;
        } else if (parse_special || vocab_.type(id) != TokenType::Control) {
            if (pos > seg) encode_text(text.substr(seg, pos - seg), out);
            out.push_back(id);
            pos += len;
            seg = pos;
        } else {
            pos += len;  // a control token's text, tokenized as ordinary text
        }
    }
    if (text.size() > seg) encode_text(text.substr(seg), out);
    if (add_special && vocab_.add_eos) out.push_back(vocab_.eos_id);
    return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool special) const {
    check_id(id);
    if (vocab_.type(id) == TokenType::Control && !special) return std::string();
    int b = byte_of_[(size_t)id];
    if (b >= 0) return std::string(1, (char)b);
    const std::string & t = vocab_.tokens[(size_t)id];
    std::string out;
    out.reserve(t.size());
    for (size_t i = 0; i < t.size();) {
        if (t.compare(i, tok::kSpaceMarkLen, tok::kSpaceMark) == 0) {
            out.push_back(' ');
            i += tok::kSpaceMarkLen;
        } else {
            out.push_back(t[i++]);
        }
    }
    return out;
}

std::string Tokenizer::decode(const std::vector<int32_t> & ids, bool skip_special) const {
    static const char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
    std::string out, run;
    auto flush_run = [&]() {
        if (run.empty()) return;
        if (tok::utf8_invalid_at(run) == std::string::npos) {
            out += run;
        } else {
            for (size_t i = 0; i < run.size(); ++i) out += kReplacement;
        }
        run.clear();
    };
    for (int32_t id : ids) {
        check_id(id);
        if (skip_special && vocab_.type(id) == TokenType::Control) continue;
        int b = byte_of_[(size_t)id];
        if (b >= 0) {
            run.push_back((char)b);
        } else {
            flush_run();
            out += token_to_piece(id, true);
        }
    }
    flush_run();
    return out;
}

StreamDecoder::StreamDecoder(std::shared_ptr<const Tokenizer> tok, bool skip_special)
    : tok_(std::move(tok)), skip_special_(skip_special) {
    if (!tok_) throw Error("StreamDecoder: no tokenizer");
}

std::string StreamDecoder::push(int32_t id) {
    static const char kReplacement[] = "\xEF\xBF\xBD";
    pending_ += tok_->token_to_piece(id, !skip_special_);
    std::string out;
    size_t i = 0;
    while (i < pending_.size()) {
        size_t n = tok::utf8_char_len(pending_, i);
        if (n > 0) {
            out.append(pending_, i, n);
            i += n;
        } else if (tok::utf8_truncated(pending_, i)) {
            break;  // wait for the rest of this character
        } else {
            out += kReplacement;
            ++i;
        }
    }
    pending_.erase(0, i);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    for (size_t i = 0; i < pending_.size(); ++i) out += "\xEF\xBF\xBD";
    pending_.clear();
    return out;
}

}  // namespace ld
