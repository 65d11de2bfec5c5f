#pragma once

// Failpoints: named places in the code where a test can make the process crash for real, to
// check that every invariant (DESIGN.md R1–R7) survives a kill at that point.
//
// Enabling: the environment variable LAKESYNC_FAILPOINTS="name[@N][,name2[@M]...]", read
// once, on the first failpoint reached. At the N-th hit (default 1) of an enabled name the
// process kills itself with raise(SIGKILL): no destructors, no flushing, no cleanup — exactly
// what a power cut or an OOM kill leaves behind. A malformed entry is logged and ignored.
//
// Names (each is reached by one code path; the README lists them for operators and tests):
//   copy.mid_file                       LocalStorage copies: after the first chunk has been
//                                       written to the temp file (after FICLONE, the first
//                                       copy_file_range chunk, the first read/write chunk,
//                                       or the first streamed chunk), before the publish.
//   commit.before_link                  LocalStorage put-if-absent publishes (PutIfAbsent,
//                                       CopyFromIfAbsent): temp file written and fsynced,
//                                       before link().
//   incremental.before_commit_publish   incremental replication: a commit's files are
//                                       copied, its publish is next.
//   incremental.after_commit_publish    incremental replication: a commit was published,
//                                       before its modification time is set and before the
//                                       next commit.
//   runner.before_record                the runner: before recording a run's result.
//   snapshot.before_manifest            snapshot: a snapshot's files and commit are written;
//                                       its manifest (what makes it count) is next.
//   snapshot.mid_retention              snapshot retention: the manifest and commit of a
//                                       snapshot being deleted are gone; its files are next.
//   consolidation.after_copy            consolidation: the regions' files are copied and
//                                       durable; the global commit is not built yet.
//   consolidation.before_commit_publish consolidation: right before the global commit's
//                                       put-if-absent.
//   consolidation.after_commit_publish  consolidation: the global commit was published.
//
// Cost when nothing is enabled: one relaxed atomic load per failpoint.
//
// Thread-safety: Failpoint() may be called from any thread. The testing hooks must not race
// with each other (call them from the test's main thread).

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lakesync {

namespace failpoint_internal {
enum State : int { kUninitialized = 0, kOff = 1, kOn = 2 };
extern std::atomic<int> g_state;
// The slow path: reads the environment on first use, counts the hit, crashes when due.
void Hit(std::string_view name);
}  // namespace failpoint_internal

// Counts a hit of `name`; at the configured hit, crashes (or calls the test handler).
inline void Failpoint(std::string_view name) {
  if (failpoint_internal::g_state.load(std::memory_order_relaxed) != failpoint_internal::kOff) {
    failpoint_internal::Hit(name);
  }
}

// Unit-test hooks. Not for production code.
namespace failpoint_testing {

// Called instead of raise(SIGKILL) when set; receives the failpoint's name.
using Handler = std::function<void(std::string_view name)>;

// Replaces the configuration (as if LAKESYNC_FAILPOINTS were `spec`) and resets hit counts.
// An empty spec disables every failpoint. InvalidArgument for a malformed spec (nothing
// changes then).
[[nodiscard]] Status Enable(std::string_view spec);
// Installs (or, with nullptr, removes) the handler.
void SetHandler(Handler handler);
// Hits of enabled failpoint `name` since the last Enable (names not enabled are not counted).
int64_t Hits(std::string_view name);
// Disables everything and removes the handler.
void Reset();

}  // namespace failpoint_testing
}  // namespace lakesync

#define LAKESYNC_FAILPOINT(name) ::lakesync::Failpoint(name)
