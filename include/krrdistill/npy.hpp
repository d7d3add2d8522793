// NumPy .npy files (format version 1.0/2.0, C order, little-endian).
#pragma once

#include <armadillo>
#include <cstdint>
#include <string>
#include <vector>

#include "krrdistill/io.hpp"

namespace krrdistill {

struct NpyArray {
  std::vector<std::uint64_t> shape;  // C order, outermost first
  std::string dtype;                 // numpy descr, e.g. "<f8", "|u1", "<i8"
  std::vector<char> bytes;           // raw little-endian data, C order
  std::uint64_t count() const;       // product of shape
};

// A .npy header, checked against the file's length: the data (shape's
// product of dtype values, C order) are data_bytes bytes from data_offset,
// the end of the file.
struct NpyHeader {
  std::vector<std::uint64_t> shape;
  std::string dtype;  // canonical descr, as NpyArray::dtype
  std::uint64_t data_offset = 0;
  std::uint64_t data_bytes = 0;
  bool fortran_order = false;  // column-major data (only where allowed)
};

// Reads the header from the start of file (opened without inflating: a
// compressed .npy is not one); throws Error naming the file when it is bad,
// and for Fortran order unless allow_fortran.
NpyHeader read_npy_header(InputFile& file, bool allow_fortran = false);

// Reads and checks the header against the file length before allocating.
NpyArray read_npy(const std::string& path);

// Values converted to double / uint8 (integer or float dtypes; uint8 only for uint8).
std::vector<double> npy_as_double(const NpyArray& array, const std::string& path);

// Writes a float64 C-order array with the given shape, atomically (temporary
// name then rename). data holds count(shape) values in C order. Because
// Armadillo is column-major, a d×m matrix written with shape {m, ...d} stores
// each column as one C-order record.
void write_npy(const std::string& path, const std::vector<std::uint64_t>& shape,
               const double* data);

}  // namespace krrdistill
