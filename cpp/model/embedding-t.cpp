// Transposed embedding for the self-conditioning product (see embedding-t.h).
#include "model/embedding-t.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "ld-ggml/cpu-matmul.h"

namespace ld {

void TransposedEmbedding::build(const Mat & E, ggml::ThreadPool * pool) {
    if (built() && src_ == E.data) return;
    const int64_t H = E.ne[0], V = E.ne[1];
    const auto * tt = ggml::type_traits(E.type);
    if (!tt || !tt->to_float)
        throw Error(strfmt("self-conditioning: cannot read the embedding %s of type %d", E.name.c_str(), (int)E.type));
    const ggml::Type type = (E.type == ggml::Type::F32 || V % 32 != 0) ? ggml::Type::F32 : ggml::Type::Q8_0;
    const auto * ot = ggml::type_traits(type);
    const size_t out_row = (size_t)(V / ot->block_size) * ot->type_size;  // bytes of one Eᵀ row (V values)
    std::vector<uint8_t> data((size_t)H * out_row);
    const size_t in_row = E.row_bytes();
    constexpr int64_t VB = 32;  // vocabulary rows per task: one Q8_0 block of every Eᵀ row
    const int64_t n_tasks = (V + VB - 1) / VB;
    pool->parallel_for(n_tasks, [&](int64_t t, int) {
        const int64_t v0 = t * VB, nv = std::min(VB, V - v0);
        std::vector<float> rows((size_t)(VB * H)), col((size_t)VB);
        for (int64_t r = 0; r < nv; ++r)
            tt->to_float((const uint8_t *)E.data + (size_t)(v0 + r) * in_row, rows.data() + r * H, H);
        for (int64_t h = 0; h < H; ++h) {
            uint8_t * dst = data.data() + (size_t)h * out_row;
            if (type == ggml::Type::F32) {
                float * d = (float *)dst + v0;
                for (int64_t r = 0; r < nv; ++r) d[r] = rows[(size_t)(r * H + h)];
            } else {
                for (int64_t r = 0; r < VB; ++r) col[(size_t)r] = rows[(size_t)(r * H + h)];
                ot->from_float_ref(col.data(), dst + (size_t)(v0 / VB) * ot->type_size, VB);
            }
        }
    });
    data_ = std::move(data);
    src_ = E.data;
    H_ = H;
    V_ = V;
    type_ = type;
}

void TransposedEmbedding::apply(const float * P, int64_t C, float * out, ggml::ThreadPool * pool) const {
    LD_ASSERT(built());
    ggml::matmul(P, C, V_, data_.data(), type_, H_, out, pool);
}

}  // namespace ld
