#include "krrdistill/stream.hpp"

#include <libdeflate.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <string>

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/memory.hpp"
#include "record_length.hpp"

namespace krrdistill {

namespace {

// A gzip IDX image file whose inflated length differs from its header's.
Error length_error(const RecordFile& f, const std::string& held) {
  return Error(f.path + ": " + f.header_claim + " but the file holds " + held +
               " bytes after the " + std::to_string(f.data_offset) + "-byte header");
}

void check_range(const SplitSource& split, const Range& range) {
  if (range.first > range.last || range.last > split.size())
    throw Error("sample range [" + std::to_string(range.first) + ", " + std::to_string(range.last) +
                ") is out of bounds");
  if (split.memory != nullptr && range.size() > 0 &&
      (range.first < split.memory_first || range.last > split.memory_first + split.memory->n_cols))
    throw Error("samples outside the part of the split held in memory");
}

// Bytes in an anonymous mapping of their own, returned to the system when
// freed whatever the heap's policy: the compressed file (26 MB for
// Fashion-MNIST) would otherwise stay resident in the heap as a hole beside
// the fit's feature cache (the CLI keeps chunk-sized matrices in the heap).
class MappedBytes {
 public:
  explicit MappedBytes(std::size_t size) : size_(size) {
    void* at = mmap(nullptr, std::max<std::size_t>(size, 1), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at == MAP_FAILED) throw Error("out of memory for " + std::to_string(size) + " bytes");
    data_ = static_cast<unsigned char*>(at);
    // Filled at once: its pages in one call on the calling thread, never
    // split (the test split is read on a thread of its own, whose OpenMP
    // thread count is not --threads), and huge ones where the kernel gives
    // them on request (malloc's memory asks under kMallocHugePages,
    // tuned_environment.hpp; this mapping is not malloc's). On a virtual
    // machine that shadows the page tables, each 4 KiB page also costs about
    // 5 µs at its first touch: reading the 26 MB file took 0.037 s into
    // small pages and 0.006 s into huge ones.
    madvise(at, std::max<std::size_t>(size, 1), MADV_HUGEPAGE);
    populate_pages(data_, size_);
  }
  ~MappedBytes() { munmap(data_, std::max<std::size_t>(size_, 1)); }
  MappedBytes(const MappedBytes&) = delete;
  MappedBytes& operator=(const MappedBytes&) = delete;
  unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

// The pixels of a whole gzip IDX image file in one call to libdeflate, about
// three times zlib's streaming speed, inflated straight into the matrix
// returned: one spare column takes the header, the pixels are moved over it,
// and the matrix shrinks in place (Armadillo keeps its memory when a matrix
// shrinks; checked, since the move would be lost otherwise). Only for one
// gzip member exactly as long as the header says; false otherwise, and the
// streaming path reads the file and names any fault.
bool inflate_whole_file(const RecordFile& f, arma::uword dim, PixelMatrix& out) {
  if (!f.gzip || f.pixel_offset != 0 || f.record_size != dim || dim == 0) return false;
  const std::uint64_t content = f.data_offset + f.count * dim;
  out.set_size(dim, f.count + (f.data_offset + dim - 1) / dim);
  {
    // Fresh pages, faulted in on another thread while the file is read and
    // inflated; waited for at the end of this block, before out moves.
    const std::future<bool> populated = populate_pages_async(out.memptr(), out.n_elem);
    InputFile file(f.path, false);
    MappedBytes packed(file.size());
    if (file.read(packed.data(), packed.size()) != packed.size()) return false;
    libdeflate_decompressor* inflater = libdeflate_alloc_decompressor();
    if (inflater == nullptr) return false;
    std::size_t used = 0, got = 0;
    const libdeflate_result result = libdeflate_gzip_decompress_ex(
        inflater, packed.data(), packed.size(), out.memptr(), out.n_elem, &used, &got);
    libdeflate_free_decompressor(inflater);
    if (result != LIBDEFLATE_SUCCESS || used != packed.size() || got != content) return false;
  }
  std::memmove(out.memptr(), out.memptr() + f.data_offset, f.count * dim);
  const std::uint8_t* kept = out.memptr();
  out.set_size(dim, f.count);
  return out.memptr() == kept;
}

}  // namespace

namespace detail {

void check_inflated_length(const RecordFile& f) {
  if (!f.gzip || f.header_claim.empty()) return;
  InputFile file(f.path);
  const std::uint64_t end = f.data_offset + f.count * f.record_size;
  file.seek(end);
  if (file.position() != end)
    throw length_error(f, std::to_string(file.position() - f.data_offset));
  unsigned char extra = 0;
  if (file.read(&extra, 1) != 0)
    throw length_error(f, "more than " + std::to_string(f.count * f.record_size));
}

}  // namespace detail

// ---- PixelReader ------------------------------------------------------------

struct PixelReader::Open {
  explicit Open(const std::string& path) : file(path) {}
  InputFile file;
  std::vector<unsigned char> buffer;  // records with more than pixels (CIFAR)
};

PixelReader::PixelReader(const SplitSource& source) : source_(source) {
  arma::uword first = 0;
  for (const RecordFile& f : source.files) {
    file_first_.push_back(first);
    first += f.count;
  }
  if (source.memory == nullptr && source.memory_features == nullptr && first != source.size())
    throw Error("the image files hold " + std::to_string(first) + " images but there are " +
                std::to_string(source.size()) + " labels");
  open_.resize(source.files.size());
}

PixelReader::~PixelReader() = default;

void PixelReader::read_records(std::size_t index, arma::uword first, arma::uword count,
                               std::uint8_t* out) {
  const RecordFile& f = source_.files[index];
  if (!open_[index]) open_[index] = std::make_unique<Open>(f.path);
  Open& open = *open_[index];
  open.file.seek(f.data_offset + first * f.record_size);
  const std::uint64_t bytes = count * f.record_size;
  const bool direct = f.pixel_offset == 0 && f.record_size == source_.dim;
  if (!direct) open.buffer.resize(bytes);
  unsigned char* target = direct ? out : open.buffer.data();
  const std::size_t got = open.file.read(target, bytes);
  if (got != bytes) {
    // Only inflated data has no length checked up front.
    if (!f.header_claim.empty())
      throw length_error(f, std::to_string(open.file.position() - f.data_offset));
    throw Error(f.path + ": the data ends inside image " +
                std::to_string(first + got / f.record_size) + " of the " + std::to_string(f.count) +
                " the header announces");
  }
  if (!direct)
    for (arma::uword r = 0; r < count; ++r)
      std::memcpy(out + r * source_.dim, target + r * f.record_size + f.pixel_offset, source_.dim);
  // Inflated data has no length to check up front: refuse trailing bytes
  // when the last record has been read.
  unsigned char extra = 0;
  if (f.gzip && first + count == f.count && open.file.read(&extra, 1) != 0) {
    if (!f.header_claim.empty())
      throw length_error(f, "more than " + std::to_string(f.count * f.record_size));
    throw Error(f.path + ": holds more data than the " + std::to_string(f.count) +
                " images its header announces");
  }
}

void PixelReader::read_into(arma::uword first, arma::uword count, std::uint8_t* out) {
  check_range(source_, Range{first, first + count});
  if (count == 0) return;
  if (source_.memory != nullptr) {
    std::memcpy(out, source_.memory->colptr(first - source_.memory_first), count * source_.dim);
    return;
  }
  arma::uword done = 0;
  while (done < count) {
    const std::size_t index =
        std::size_t(std::upper_bound(file_first_.begin(), file_first_.end(), first + done) -
                    file_first_.begin()) -
        1;
    const arma::uword local = first + done - file_first_[index];
    const arma::uword take = std::min(count - done, source_.files[index].count - local);
    read_records(index, local, take, out + done * source_.dim);
    done += take;
  }
}

PixelMatrix PixelReader::read(arma::uword first, arma::uword count) {
  PixelMatrix out;
  if (source_.memory == nullptr && source_.files.size() == 1 && first == 0 &&
      count == source_.files[0].count && inflate_whole_file(source_.files[0], source_.dim, out))
    return out;
  out.set_size(source_.dim, count);
  read_into(first, count, out.memptr());
  return out;
}

void PixelReader::read(arma::uword first, arma::uword count, PixelMatrix& out) {
  if (out.n_rows != source_.dim || out.n_cols < count) out.set_size(source_.dim, count);
  read_into(first, count, out.memptr());
}

PixelMatrix PixelReader::gather(const arma::uvec& indices) {
  PixelMatrix out(source_.dim, indices.n_elem);
  for (arma::uword j = 0; j < indices.n_elem;) {
    // A run of consecutive samples is one read.
    arma::uword run = 1;
    while (j + run < indices.n_elem && indices[j + run] == indices[j] + run) ++run;
    read_into(indices[j], run, out.colptr(j));
    j += run;
  }
  return out;
}

void for_each_pixel_chunk(const SplitSource& split, const Range& range, arma::uword chunk,
                          const PixelVisitor& visit) {
  if (chunk == 0) throw Error("--chunk must be at least 1");
  check_range(split, range);
  if (split.memory != nullptr) {
    for (arma::uword first = range.first; first < range.last; first += chunk)
      visit(first, *split.memory, first - split.memory_first, std::min(chunk, range.last - first));
    return;
  }
  // Two buffers, allocated once: the next chunk is read into one while the
  // visitor works on the other.
  PixelReader reader(split);
  auto count_at = [&](arma::uword first) { return std::min(chunk, range.last - first); };
  PixelMatrix buffers[2];
  if (range.size() == 0) return;
  reader.read(range.first, count_at(range.first), buffers[0]);
  std::future<void> next;
  int current = 0;
  for (arma::uword first = range.first; first < range.last; first += chunk) {
    if (next.valid()) next.get();
    const arma::uword ahead = first + chunk;
    if (ahead < range.last) {
      PixelMatrix& into = buffers[1 - current];
      const arma::uword count = count_at(ahead);
      next = std::async(std::launch::async,
                        [&reader, &into, ahead, count] { reader.read(ahead, count, into); });
    }
    visit(first, buffers[current], 0, count_at(first));
    current = 1 - current;
  }
}

// ---- feature matrices ---------------------------------------------------

namespace {

// Converts count little-endian float32 or float64 values to double at out
// with the given stride, refusing a non-finite one (value j of sample i
// named by at(v), v the value's index among these).
template <typename At>
void convert_values(const unsigned char* bytes, arma::uword count, bool single, double* out,
                    arma::uword stride, const std::string& path, At at) {
  for (arma::uword v = 0; v < count; ++v) {
    double value;
    if (single) {
      float f;
      std::memcpy(&f, bytes + 4 * v, 4);
      value = f;
    } else {
      std::memcpy(&value, bytes + 8 * v, 8);
    }
    if (!std::isfinite(value)) {
      const auto [feature, sample] = at(v);
      throw Error(path + ": feature " + std::to_string(feature) + " of sample " +
                  std::to_string(sample) + " is not a finite number");
    }
    out[v * stride] = value;
  }
}

// Samples [first, first + count) of one feature file into out (dim×count).
void read_feature_records(const RecordFile& f, arma::uword dim, arma::uword first,
                          arma::uword count, double* out) {
  const bool single = f.values == RecordFile::Values::float32;
  const std::uint64_t item = single ? 4 : 8;
  InputFile file(f.path, false);
  const auto fail = [&f] { return Error(f.path + ": file shrank while being read"); };
  if (!f.fortran) {  // one record a sample: one read
    std::vector<unsigned char> bytes(count * dim * item);
    file.seek(f.data_offset + first * dim * item);
    if (file.read(bytes.data(), bytes.size()) != bytes.size()) throw fail();
    convert_values(bytes.data(), count * dim, single, out, 1, f.path,
                   [&](arma::uword v) { return std::make_pair(v % dim, first + v / dim); });
    return;
  }
  // Fortran order: each feature's values of all samples are contiguous.
  std::vector<unsigned char> bytes(count * item);
  for (arma::uword j = 0; j < dim; ++j) {
    file.seek(f.data_offset + (std::uint64_t(j) * f.count + first) * item);
    if (file.read(bytes.data(), bytes.size()) != bytes.size()) throw fail();
    convert_values(bytes.data(), count, single, out + j, dim, f.path,
                   [&](arma::uword v) { return std::make_pair(j, first + v); });
  }
}

}  // namespace

arma::mat read_features(const SplitSource& split, arma::uword first, arma::uword count) {
  if (!split.feature_matrix) throw Error("the split holds images, not a feature matrix");
  check_range(split, Range{first, first + count});
  if (split.memory_features != nullptr) {
    const arma::mat& held = *split.memory_features;
    if (count > 0 &&
        (first < split.memory_first || first + count > split.memory_first + held.n_cols))
      throw Error("samples outside the part of the split held in memory");
    return count == 0 ? arma::mat(split.dim, 0)
                      : arma::mat(held.cols(first - split.memory_first,
                                            first - split.memory_first + count - 1));
  }
  arma::mat out(split.dim, count);
  arma::uword done = 0, file_first = 0;
  for (const RecordFile& f : split.files) {
    if (done == count) break;
    const arma::uword at = first + done;
    if (at < file_first + f.count) {
      const arma::uword take = std::min(count - done, file_first + f.count - at);
      read_feature_records(f, split.dim, at - file_first, take, out.colptr(done));
      done += take;
    }
    file_first += f.count;
  }
  if (done != count) throw Error("the feature files hold fewer samples than the split");
  return out;
}

arma::mat gather_features(const SplitSource& split, const arma::uvec& indices) {
  arma::mat out(split.dim, indices.n_elem);
  for (arma::uword j = 0; j < indices.n_elem;) {
    arma::uword run = 1;  // a run of consecutive samples is one read
    while (j + run < indices.n_elem && indices[j + run] == indices[j] + run) ++run;
    out.cols(j, j + run - 1) = read_features(split, indices[j], run);
    j += run;
  }
  return out;
}

arma::mat model_inputs(const Preprocessor& pre, const SplitSource& split, const arma::uvec& indices,
                       const Range& shard, const Communicator& comm) {
  if (arma::any(indices >= split.size())) throw Error("image index out of bounds");
  const arma::uvec mine = arma::find(indices >= shard.first && indices < shard.last);
  arma::mat X(split.dim, indices.n_elem, arma::fill::zeros);
  if (!mine.is_empty()) {
    // Read in sample order (one forward pass through a gzip file).
    const arma::uvec order = mine.elem(arma::sort_index(indices.elem(mine)));
    const arma::uvec wanted = indices.elem(order);
    arma::mat inputs;
    if (split.feature_matrix) {
      inputs = feature_inputs(pre, gather_features(split, wanted));
    } else if (split.memory != nullptr) {
      check_range(split, shard);
      inputs = to_model_input(pre, *split.memory, wanted - split.memory_first);
    } else {
      PixelReader reader(split);
      inputs = to_model_input(pre, reader.gather(wanted), 0, wanted.n_elem);
    }
    X.cols(order) = inputs;
  }
  allreduce_sum(comm, X);  // each column comes from one process; x + 0 = x exactly
  return X;
}

}  // namespace krrdistill
