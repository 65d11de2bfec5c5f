#pragma once

// commit_files: what one Delta commit means to a replicator, reduced to what the replication
// engine and verify need (the files to copy, their expected sizes, the rows added, and the
// add/remove keys to decide which files are live at the end of a range of commits).
//
// Files of a commit (DELTA_NOTES §2, §9): add paths, cdc paths and the files of `u`
// deletion-vector descriptors of adds. Removes reference files that earlier adds already
// referenced, so they contribute no file, only a key.
//
// Thread-safety: values and pure functions.

#include <cstdint>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "delta/actions.h"
#include "storage/storage.h"

namespace lakesync::jobs {

enum class FileRole { kData, kDeletionVector, kChangeData };
std::string_view FileRoleName(FileRole role);

struct FileRef {
  std::string path;  // relative to the table root (decoded), or the absolute URI
  FileRole role = FileRole::kData;
  bool absolute = false;  // an absolute URI (shallow clone, 'p' DV): never copied
  // The size the log gives (add.size, cdc.size); -1 for DV files (the log gives only the
  // byte range of each DV inside the file).
  int64_t size = -1;
  // DV files: the smallest length holding every DV of this commit in the file
  // (offset + 4 + sizeInBytes + 4, DELTA_NOTES §9). 0 otherwise.
  int64_t min_size = 0;
};

// An add or remove reduced to its logical key (decoded path + DV id) and, for adds, the
// physical files it keeps live.
struct KeyAction {
  bool add = false;
  std::string key;
  std::string data_path;  // adds only; empty for an absolute path
  std::string dv_path;    // adds with a 'u' DV only
};

struct CommitFiles {
  int64_t version = 0;
  std::vector<FileRef> files;  // in log order, one entry per distinct path (sizes merged)
  std::vector<KeyAction> actions;
  int64_t rows = 0;  // sum of numRecords of the adds (adds without it count 0)
  int64_t adds = 0;
};

// Reduces a parsed commit. Corruption for a malformed 'u' deletion vector id.
Result<CommitFiles> ExtractCommitFiles(const delta::Commit& commit);

// The physical files (data and DV paths, relative) kept live at the end of `commits`
// (ascending, contiguous) by adds inside them: an add is live at the end when no later
// action in the range (nor a later action of its own commit) names its logical key. Files
// live from before the range are not included.
std::unordered_set<std::string> LiveAtEnd(std::span<const CommitFiles* const> commits);

// How many new versions delta::DeltaLog::ProbeFromVersion is asked to find by name before a
// listing is cheaper (used for the source tail of incremental runs).
inline constexpr int kMaxProbedVersions = 64;

// The newest version of the table at `table_prefix` (-1 when it holds no table), as
// delta::DeltaLog::HeadVersion, but cheap even without a `_last_checkpoint` hint: when commit 0
// exists, a galloping search over Stat(V.json) finds a present commit near the head in
// O(log head) stats, and probing by name from there (DeltaLog::ProbeFromVersion, which lists
// only past kMaxProbedVersions) gives the end of that contiguous run of commits — a gap
// after it (damage) is not seen. Otherwise falls back to HeadVersion (which uses the hint or
// lists the whole log).
Result<int64_t> TableHead(storage::Storage& storage, std::string_view table_prefix);

// Whether a path found by listing a table (relative to it, outside _delta_log) may hold one of
// its files, by the rule Spark and Delta's VACUUM follow: no component starting with '.'
// (Hadoop's .crc files, editors' temporaries) and none starting with '_' unless it is a
// partition directory (holds '=') or _change_data (_temporary, _spark_metadata, _SUCCESS do
// not; a writer's in-progress output lives there).
bool MayHoldTableFiles(std::string_view relative);

// The storage key of `relative` inside the table at `table_prefix` ("" = storage root).
std::string TableKey(std::string_view table_prefix, std::string_view relative);

// Seconds from the commit time of `commit` (DELTA_NOTES §3) to `now`, never negative. Only this
// commit is read, so the table's ICT enablement is unknown: a commit carrying an
// inCommitTimestamp is timed by it (ICT commits always carry one), others by the file's
// `modification_time` (Delta's rule).
Result<double> CommitAgeSeconds(const delta::Commit& commit, TimePoint modification_time,
                                TimePoint now);

}  // namespace lakesync::jobs
