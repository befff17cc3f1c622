// Optional validation of tensor *data* (spec/gguf.md §1.7 item 12; llama.cpp's --check-tensors):
// NaN/Inf in F32/F16/BF16 values, NaN/Inf in the fp16 (Q8_K: f32) scale fields of the block types
// whose layout is in ld-ggml/blocks.h, and the reserved E8M0 exponent 0xFF of MXFP4. Quant codes are
// integers and are never checked. It touches every block of every tensor (the whole file), so it is
// opt-in: llama-diffusion-cli --check-tensors, GGUFFile.check_tensors(), Model(check_tensors=True).
//
// Types checked: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q6_K, Q8_K, IQ4_NL, IQ4_XS,
// MXFP4. Not checked (no float-field table here yet, or no layout in blocks.h, or no float fields):
// IQ1_S, IQ1_M, IQ2_*, IQ3_*, TQ*, NVFP4, Q1_0 and the integer types; their tensors pass unchecked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "gguf/gguf-reader.h"
#include "ld-ggml/types.h"

namespace ld::gguf {

// True when check_tensor_data validates the values of this type (false: it only checks the size).
bool tensor_data_checked(ggml::Type type);

// Checks one tensor's bytes: `nbytes` must be exactly the size of `n_elements` values of `type`,
// then every value / scale field is checked in order. Returns "" when valid, else a description of
// the first bad value naming the tensor, type, block (element for plain types) and field, e.g.
//   "tensor 'blk.0.ffn_down.weight' (Q4_K): block 1234 has a NaN/Inf fp16 scale dmin (0x7c00)"
std::string check_tensor_data(const std::string & name, ggml::Type type, const void * data, size_t nbytes,
                              int64_t n_elements);

// Checks every tensor of the file, split into chunks run on a private pool of n_threads threads
// (<= 0: as many as the process-wide pool has; the global pool itself is not used, so this may run
// while the model computes). Throws FormatError "invalid tensor data in '<file>': <description>" for
// the first bad value in tensor-table order. Returns the number of tensors whose values were checked.
size_t check_tensors(const File & file, int n_threads = 0);

}  // namespace ld::gguf
