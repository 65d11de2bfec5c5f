#pragma once

// Delta log actions as value types, and the commit parser (DELTA_NOTES §2, PROTOCOL.md
// "Actions").
//
// Every action parsed from a commit keeps its original JSON line in `raw_json` (without the
// newline), so a commit can be re-serialised byte for byte and unknown fields survive. Actions
// built in code leave `raw_json` empty and are serialised canonically (commit_writer.h).
//
// Paths: `path` is exactly as written in the log (a percent-encoded URI reference);
// `decoded_path` is what it names: for a relative path, the key below the table root,
// percent-decoded exactly once and normalised ("a/./b" → "a/b"; "a/../b" → "b"); for an
// absolute URI (`s3://…`, `file:/…`, or a path starting with '/'), the URI as written and
// `absolute` is true. A relative path that climbs out of the table root ("../x") is Corruption.
//
// Thread-safety: values.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace lakesync::delta {

// Partition values: a null value is std::nullopt (JSON null).
using PartitionValues = std::map<std::string, std::optional<std::string>>;
using StringMap = std::map<std::string, std::string>;

struct DeletionVectorDescriptor {
  char storage_type = 'u';        // 'u' (relative, UUID-named), 'p' (absolute URI), 'i' (inline)
  std::string path_or_inline_dv;  // see PROTOCOL.md "Deletion Vector Descriptor Schema"
  std::optional<int32_t> offset;  // absent for inline DVs
  int32_t size_in_bytes = 0;
  int64_t cardinality = 0;

  // storageType + pathOrInlineDv (+ "@" + offset): the DV half of a logical file's key.
  std::string UniqueId() const;

  // True for 'u' and 'p' (the bitmap lives in a file).
  bool HasFile() const { return storage_type == 'u' || storage_type == 'p'; }

  // 'u' only: "<prefix>/deletion_vector_<uuid>.bin" relative to the table root (no prefix
  // directory when the prefix is empty). InvalidArgument for 'p'/'i' or a bad Z85 id.
  Result<std::string> RelativePath() const;

  // 'u': `table_root` + "/" + RelativePath(); 'p': the URI as written. InvalidArgument for 'i'.
  Result<std::string> AbsolutePath(std::string_view table_root) const;

  // Checks the descriptor is usable: known storage type, decodable 'u' id, offset for files,
  // non-negative size and cardinality. Corruption naming the problem otherwise.
  Status Validate() const;
};

// Z85-decodes `text` (length a multiple of 5) into bytes. InvalidArgument on a bad character.
Result<std::string> Z85Decode(std::string_view text);

// Percent-decodes `s` once ("%252F" → "%2F"). InvalidArgument on a malformed escape.
Result<std::string> PercentDecode(std::string_view s);

// Percent-encodes `s` for the path of a URI (RFC 3986): every byte but the unreserved
// characters, the sub-delimiters, ':', '@' and '/' becomes %XX, so "/t/50% off" →
// "/t/50%25%20off". PercentDecode(PercentEncodeUriPath(s)) == s for every s.
std::string PercentEncodeUriPath(std::string_view s);

// Whether the local path `path`, written into a URI as it is, would be read as another path or
// not at all: it holds an ASCII byte PercentEncodeUriPath encodes (' ', '%', '#', '?', '"', ...).
// Non-ASCII bytes do not count: Java's URI, and so Spark, reads them as they are ("München").
bool NeedsPercentEncoding(std::string_view path);

struct Add {
  std::string path;  // as written in the log
  std::string decoded_path;
  bool absolute = false;
  PartitionValues partition_values;
  int64_t size = 0;
  int64_t modification_time = 0;
  bool data_change = true;
  std::optional<std::string> stats;    // the raw stats JSON string
  std::optional<int64_t> num_records;  // stats.numRecords, when stats parse and have it
  std::optional<std::map<std::string, std::optional<std::string>>> tags;
  std::optional<DeletionVectorDescriptor> deletion_vector;
  std::optional<int64_t> base_row_id;
  std::optional<int64_t> default_row_commit_version;
  std::optional<std::string> clustering_provider;
  std::string raw_json;
};

struct Remove {
  std::string path;
  std::string decoded_path;
  bool absolute = false;
  std::optional<int64_t> deletion_timestamp;
  bool data_change = true;
  std::optional<bool> extended_file_metadata;
  std::optional<PartitionValues> partition_values;
  std::optional<int64_t> size;
  std::optional<std::string> stats;
  std::optional<std::map<std::string, std::optional<std::string>>> tags;
  std::optional<DeletionVectorDescriptor> deletion_vector;
  std::optional<int64_t> base_row_id;
  std::optional<int64_t> default_row_commit_version;
  std::string raw_json;
};

struct Cdc {
  std::string path;
  std::string decoded_path;
  bool absolute = false;
  PartitionValues partition_values;
  int64_t size = 0;
  bool data_change = false;
  std::optional<std::map<std::string, std::optional<std::string>>> tags;
  std::string raw_json;
};

struct Metadata {
  std::string id;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::string format_provider = "parquet";
  StringMap format_options;
  std::string schema_string;
  std::vector<std::string> partition_columns;
  StringMap configuration;
  std::optional<int64_t> created_time;
  std::string raw_json;
};

struct Protocol {
  int32_t min_reader_version = 1;
  int32_t min_writer_version = 2;
  std::optional<std::vector<std::string>> reader_features;
  std::optional<std::vector<std::string>> writer_features;
  std::string raw_json;
};

struct Txn {
  std::string app_id;
  int64_t version = 0;
  std::optional<int64_t> last_updated;
  std::string raw_json;
};

// commitInfo is free-form; only the fields lakesync uses are extracted.
struct CommitInfo {
  std::optional<int64_t> timestamp;
  std::optional<int64_t> in_commit_timestamp;
  std::optional<std::string> operation;
  std::string raw_json;
};

struct DomainMetadata {
  std::string domain;
  std::string configuration;  // a JSON string
  bool removed = false;
  std::string raw_json;
};

struct Sidecar {
  std::string path;  // relative to _delta_log/_sidecars/ (or absolute)
  int64_t size_in_bytes = 0;
  int64_t modification_time = 0;
  std::string raw_json;
};

struct CheckpointMetadata {
  int64_t version = 0;
  std::string raw_json;
};

// An action type this version of lakesync does not know: kept (for byte-exact copies),
// ignored for the table state.
struct UnknownAction {
  std::string type;  // the action's key, e.g. "futureAction"
  std::string raw_json;
};

using Action = std::variant<Add, Remove, Cdc, Metadata, Protocol, Txn, CommitInfo, DomainMetadata,
                            Sidecar, CheckpointMetadata, UnknownAction>;

// The original line of a parsed action; empty for an action built in code.
const std::string& RawJson(const Action& action);
// The action's key in the log ("add", "metaData", ... or the unknown type's key).
std::string_view ActionTypeName(const Action& action);

struct Commit {
  int64_t version = 0;
  std::vector<Action> actions;

  // The first commitInfo of the commit, if any.
  const CommitInfo* FindCommitInfo() const;
};

// The number of actions in a commit file: its non-blank lines. Cheap (no parsing), so a caller
// can refuse an enormous commit before spending memory on it.
int64_t CountActions(std::string_view bytes);

// Limits on one commit file (configuration keys runner.max_commit_actions and
// runner.max_commit_bytes). A commit over a limit is refused before it is parsed.
struct CommitLimits {
  static constexpr int64_t kDefaultMaxActions = 1'000'000;
  static constexpr int64_t kDefaultMaxBytes = int64_t{1} << 30;  // 1 GiB
  int64_t max_actions = kDefaultMaxActions;
  int64_t max_bytes = kDefaultMaxBytes;
};

// InvalidArgument when a commit file of `size` bytes is over `limits.max_bytes`, naming `table`
// (a description for messages), the version, the size, the limit and the key to raise.
Status CheckCommitBytes(std::string_view table, int64_t version, int64_t size,
                        const CommitLimits& limits);
// InvalidArgument when `bytes` holds more than `limits.max_actions` actions, naming `table`, the
// version, the count, the limit and the key to raise.
Status CheckCommitActions(std::string_view table, int64_t version, std::string_view bytes,
                          const CommitLimits& limits);

// Streams the actions of one commit file to `visit`, in file order, one at a time: memory is
// that of one action (plus whatever `visit` keeps), however large the commit. Parse errors are
// those of ParseCommit; actions before the error have already been visited, so a caller must
// discard what it gathered when this fails. A non-OK status from `visit` stops the walk and is
// returned unchanged.
Status ForEachAction(int64_t version, std::string_view bytes,
                     const std::function<Status(Action&&)>& visit);

// Parses one commit file: one JSON action per non-empty line (a last line without its
// newline is fine). Errors (Corruption, naming the version and 1-based line number): a line
// that is not valid JSON (e.g. truncated), a line that is not an object with exactly one key,
// a known action missing a required field or with a wrong type, a malformed deletion vector,
// a bad percent escape or a path that climbs out of the table root. Unknown action types and
// unknown fields are not errors.
//
// Not thread-safe per call site only in the sense that each call builds its own parser;
// concurrent calls are fine.
Result<Commit> ParseCommit(int64_t version, std::string_view bytes);

}  // namespace lakesync::delta
