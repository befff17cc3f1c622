// Gemma 4 (and Gemma 3) chat prompt formatting; see chat.h for the format.
#include "tokenizer/chat.h"

#include "common/error.h"

namespace ld {

namespace {

std::string trim(const std::string & s) {
    const char * ws = " \t\n\r\v\f";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return std::string();
    size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

// Removes every <|channel>...<channel|> block (an unterminated one runs to the end).
std::string strip_thinking(const std::string & s) {
    static const std::string open = "<|channel>", close = "<channel|>";
    std::string out;
    size_t pos = 0;
    while (true) {
        size_t a = s.find(open, pos);
        if (a == std::string::npos) {
            out.append(s, pos, std::string::npos);
            break;
        }
        out.append(s, pos, a - pos);
        size_t b = s.find(close, a + open.size());
        if (b == std::string::npos) break;
        pos = b + close.size();
    }
    return out;
}

std::string role_name(const std::string & role, size_t index) {
    if (role == "user") return "user";
    if (role == "model" || role == "assistant") return "model";
    throw Error(strfmt("chat: message %zu has role '%s' (expected system, user, model or assistant)",
                       index, role.c_str()));
}

}  // namespace

ChatStyle chat_style(const Tokenizer & tok) {
    if (tok.token_id("<|turn>") >= 0 && tok.token_id("<turn|>") >= 0) return ChatStyle::Gemma4;
    if (tok.token_id("<start_of_turn>") >= 0 && tok.token_id("<end_of_turn>") >= 0) return ChatStyle::Gemma3;
    throw Error("chat: the vocabulary has neither <|turn> (Gemma 4) nor <start_of_turn> (Gemma 3) tokens");
}

std::string chat_format(const std::vector<ChatMessage> & messages, const ChatOptions & opts, ChatStyle style) {
    if (messages.empty() && !opts.add_generation_prompt) throw Error("chat: no messages");
    for (size_t i = 1; i < messages.size(); ++i) {
        if (messages[i].role == "system") {
            throw Error(strfmt("chat: message %zu is a system message; only the first message may be one", i));
        }
    }
    const bool has_system = !messages.empty() && messages[0].role == "system";
    const size_t first = has_system ? 1 : 0;
    std::string out;
    if (opts.add_bos) out += "<bos>";
    if (style == ChatStyle::Gemma4) {
        if (has_system || opts.thinking) {
            out += "<|turn>system\n";
            if (opts.thinking) out += "<|think|>\n";
            if (has_system) out += trim(messages[0].content);
            out += "<turn|>\n";
        }
        for (size_t i = first; i < messages.size(); ++i) {
            const std::string role = role_name(messages[i].role, i);
            std::string content = messages[i].content;
            if (role == "model") content = strip_thinking(content);
            out += "<|turn>" + role + "\n" + trim(content) + "<turn|>\n";
        }
        if (opts.add_generation_prompt) {
            out += "<|turn>model\n";
            if (!opts.thinking) out += "<|channel>thought\n<channel|>";
        }
    } else {
        std::string prefix = has_system ? trim(messages[0].content) + "\n\n" : std::string();
        for (size_t i = first; i < messages.size(); ++i) {
            const std::string role = role_name(messages[i].role, i);
            out += "<start_of_turn>" + role + "\n" + prefix + trim(messages[i].content) + "<end_of_turn>\n";
            prefix.clear();
        }
        if (opts.add_generation_prompt) out += "<start_of_turn>model\n";
    }
    return out;
}

std::vector<int32_t> chat_tokenize(const Tokenizer & tok, const std::vector<ChatMessage> & messages,
                                   const ChatOptions & opts) {
    return tok.encode(chat_format(messages, opts, chat_style(tok)), /*add_special=*/false,
                      /*parse_special=*/true);
}

}  // namespace ld
