// Private to the dataset readers: a gzip image file's length is known only
// once it is inflated, so both opening a dataset (dataset_source.cpp) and
// reading its pixels (stream.cpp) check it, with the same message.
#pragma once

#include "krrdistill/stream.hpp"

namespace krrdistill::detail {

// Inflates a gzip image file no further than its header says (and a byte)
// and throws Error when its length differs (a no-op for other files).
void check_inflated_length(const RecordFile& f);

}  // namespace krrdistill::detail
