// The Gemma 4 chat format as code (no Jinja), docs/algorithm.md §10:
//
//   <bos>
//   <|turn>system\n[<|think|>\n]{system}<turn|>\n      only with a system message or thinking on
//   <|turn>user\n{content}<turn|>\n                    per user turn
//   <|turn>model\n{content}<turn|>\n                   per earlier model turn ("assistant" too)
//   <|turn>model\n                                     generation prompt
//   <|channel>thought\n<channel|>                      when thinking is off
//
// Message contents are trimmed of surrounding whitespace, and an earlier model turn loses its
// thinking block (<|channel>...<channel|>), as the Gemma templates do. The text is encoded with
// special tokens parsed and no BOS added (the format writes <bos> itself). A vocabulary without
// <|turn> but with <start_of_turn> (Gemma 3) gets the Gemma 3 format instead: the system text is
// prepended to the first user turn, turns are <start_of_turn>role\n...<end_of_turn>\n, no thinking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ld {

struct ChatMessage {
    std::string role;     // "system", "user", "model" or "assistant"
    std::string content;
};

struct ChatOptions {
    bool thinking = false;               // enable_thinking
    bool add_generation_prompt = true;   // end with the opening of a model turn
    bool add_bos = true;                 // start with <bos>
};

enum class ChatStyle { Gemma4, Gemma3 };

// Gemma4 when the vocabulary has <|turn>, Gemma3 when it has <start_of_turn>; else ld::Error.
ChatStyle chat_style(const Tokenizer & tok);

// The prompt text. Throws ld::Error for an unknown role, a system message that is not first,
// or an empty message list.
std::string chat_format(const std::vector<ChatMessage> & messages, const ChatOptions & opts,
                        ChatStyle style = ChatStyle::Gemma4);

// chat_format with the tokenizer's style, encoded (parse_special = true, add_special = false).
std::vector<int32_t> chat_tokenize(const Tokenizer & tok, const std::vector<ChatMessage> & messages,
                                   const ChatOptions & opts);

}  // namespace ld
