// libFuzzer target: arbitrary bytes as a commit file. The parser must return a Commit or a
// Status, never crash, hang or read out of bounds; a parsed commit must re-serialise and
// re-parse to the same number of actions.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "delta/actions.h"
#include "delta/commit_writer.h"
#include "delta/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto commit = lakesync::delta::ParseCommit(0, bytes);
  if (!commit.ok()) return 0;
  std::string again = lakesync::delta::SerializeCommit(commit->actions);
  auto reparsed = lakesync::delta::ParseCommit(0, again);
  if (!reparsed.ok() || reparsed->actions.size() != commit->actions.size()) std::abort();
  for (const auto& a : commit->actions) {
    if (const auto* add = std::get_if<lakesync::delta::Add>(&a); add && add->deletion_vector) {
      (void)add->deletion_vector->UniqueId();
      auto p = add->deletion_vector->AbsolutePath("file:///t");
      (void)p.ok();
    }
  }
  auto snap = lakesync::delta::ReplayCommits({std::move(commit).value()});
  (void)snap.ok();
  return 0;
}
