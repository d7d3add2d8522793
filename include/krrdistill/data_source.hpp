// A dataset as a user names it (name, folder, label set) and the
// preprocessing asked for: what a run records in report.json and what eval
// needs to load and preprocess the same data again.
#pragma once

#include <string>

namespace krrdistill {

// Where the data came from and how it was preprocessed: enough to load and
// preprocess it again.
struct DataSource {
  std::string dataset = "fashion-mnist";  // name given to load_dataset
  std::string dir;                        // folder (empty: the dataset's default)
  bool coarse = false;
  bool standardize = false;  // feature matrices: per-feature mean and std (docs/design.md §11)
  bool zca = false;
  double zca_reg_fraction = 0.1;
};

}  // namespace krrdistill
