#pragma once

// Prints rows as left-aligned columns for a terminal, the way kubectl does.

#include <ostream>
#include <string>
#include <vector>

namespace lakesync::runner {

class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace lakesync::runner
