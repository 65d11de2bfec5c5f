#pragma once

// The file half of snapshots and restores: which physical files a set of live adds needs, and
// copying or checking them between two tables (jobs/snapshot.h, jobs/restore.h).
//
// Thread-safety: CopyTableFiles fans out to worker threads (the observer must be thread-safe,
// as RunObserver requires); the functions themselves share no state.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "delta/actions.h"
#include "jobs/commit_files.h"
#include "jobs/incremental.h"
#include "jobs/run_observer.h"

namespace lakesync::jobs {

// The physical files of `adds`: data files and 'u' deletion-vector files (relative, with the
// size the log gives, or for DV files the minimum length), one entry per path; absolute
// paths ('p' DVs, shallow adds) are included with `absolute` set. Corruption for a malformed
// DV id.
Result<std::vector<FileRef>> FilesOfAdds(std::span<const delta::Add* const> adds);

struct CopyTotals {
  int64_t files = 0;
  int64_t bytes = 0;
};

// Copies every relative file of `files` from the table `from` to the same relative path in
// the table `to` (absolute ones are skipped), up to `parallelism` at a time, checking each
// copy's size against the log (exact size for data files, at least min_size for DV files),
// then makes them durable with one SyncAll. Calls observer.CheckContinue before each file and
// OnFileCopied(to.name, path, bytes) after. Errors: NotFound naming a file missing from
// `from` ("… is missing from <from> (referenced by <what>) …"), Corruption naming a file
// whose size disagrees with the log, Cancelled from the observer, storage errors with the
// file as context. On error some files may have been copied (the caller cleans up).
Result<CopyTotals> CopyTableFiles(const TableLocation& from, const TableLocation& to,
                                  const std::vector<FileRef>& files, int parallelism,
                                  RunObserver& observer, std::string_view what);

// OK when every absolute file of `files` (shallow adds, 'p' DVs) on the local filesystem
// exists with the log's size (file: URIs in their three forms and bare absolute paths,
// percent-decoded; files at locations lakesync cannot read — s3://, abfss://, a file URI naming
// a host — are not checked). NotFound naming the first missing file (with `what` saying who
// needs it), Corruption for a size that disagrees or a malformed percent escape.
Status CheckAbsoluteFiles(const std::vector<FileRef>& files, std::string_view what);

// OK when every relative file of `files` exists in `table` with the log's size, and every
// absolute one as CheckAbsoluteFiles says. NotFound naming the first missing file (with `what`
// saying who needs it), Corruption for a size that disagrees.
Status CheckTableFiles(const TableLocation& table, const std::vector<FileRef>& files,
                       std::string_view what);

// The URL of a table location ("file:///data/t"), for messages and shallow paths.
std::string TableUrl(const TableLocation& table);

// Deletes every file under the storage prefix `dir` (recursively). Missing files are fine. On
// a local filesystem the folders left empty go too (bottom-up; a folder something else wrote
// into meanwhile stays), `dir` itself only with `remove_dir`.
Status DeleteTree(storage::Storage& storage, const std::string& dir, bool remove_dir = false);

}  // namespace lakesync::jobs
