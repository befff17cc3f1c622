// Private: <immintrin.h> for the files compiled with the AVX-512 (and AMX) flags, with GCC 12's false
// positives silenced: its AVX-512 headers build some results from _mm512_undefined_*(), which -Wall reports
// as (maybe-)uninitialized. Include it before anything else; the pragmas hold for the rest of the file.
#pragma once

#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
