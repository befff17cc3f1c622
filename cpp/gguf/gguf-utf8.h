// UTF-8 validation for GGUF keys and tensor names (rejects overlong forms, surrogates, code
// points above U+10FFFF and truncated sequences).
#pragma once

#include <string_view>

namespace ld::gguf {

bool utf8_valid(std::string_view s);

}  // namespace ld::gguf
