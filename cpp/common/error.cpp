// ld::Error lives in error.h (header-only); this unit anchors the engine library's common code.
#include "common/error.h"

namespace ld {

// Out-of-line so the error type's vtable has one home.
const char * error_kind() { return "ld::Error"; }

}  // namespace ld
