// delta_gen: creates a Delta table, or appends commits to one, for end-to-end tests and
// benchmarks of replication.
//
// Usage:
//   delta_gen --table DIR --commits N --files-per-commit K --file-size BYTES
//             [--remove-every M [--vacuum]] [--dv] [--partitioned] [--seed S]
//
// When DIR holds no Delta table, version 0 gets protocol (1,2) — (3,7) with the
// deletionVectors feature under --dv — and a metaData action (schema `id long`, plus a string
// partition column `k` under --partitioned, a fresh table id). Then N commits are appended;
// each one:
//   - writes K data files of pseudo-random bytes, `[k=<version % 4>/]part-<version>-<i>-<uuid>
//     .parquet`, each with an add (size = the real size, stats {"numRecords":size/8},
//     modificationTime, dataChange:true);
//   - with --remove-every M, when version % M == 0 (and version > 0), removes one earlier live
//     file (and with --vacuum also deletes it, and its deletion-vector file, from disk,
//     as VACUUM would long after the commit);
//   - with --dv (version > 0), gives one earlier live file a new deletion-vector file
//     (remove of the old (path, dv) + add with the new descriptor, DELTA_NOTES §2);
//   - ends with a commitInfo.
// Data files are published (temp file + rename; with --durable Storage::WriteAtomic, which
// also fsyncs) before the commit that references them, and the commit with
// delta::WriteCommit (put-if-absent), as a real writer would.
// Prints the new head version on stdout. Exit 0 success, 1 failure, 2 usage error.
//
// The bytes, names and choices are a function of --seed (default 1) and the version, so a
// run is reproducible; only the table id is random.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_args.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/uri.h"
#include "delta/actions.h"
#include "delta/commit_writer.h"
#include "delta/log_reader.h"
#include "storage/local_storage.h"

namespace lakesync::bench {
namespace {

constexpr std::string_view kUsage =
    "usage: delta_gen --table DIR --commits N --files-per-commit K --file-size BYTES\n"
    "                 [--remove-every M [--vacuum]] [--dv] [--partitioned] [--seed S]\n"
    "                 [--durable]\n";

struct Options {
  std::string table;
  int64_t commits = -1;
  int64_t files_per_commit = -1;
  int64_t file_size = -1;
  int64_t remove_every = 0;
  bool vacuum = false;
  bool dv = false;
  bool partitioned = false;
  bool durable = false;
  uint64_t seed = 1;
};

// Returns an error text, or "" when the arguments are usable.
std::string ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    auto number = [&](int64_t& out) -> std::string {
      auto v = value();
      auto n = v ? ParseInt(*v) : std::nullopt;
      if (!n) return fmt::format("{} needs a non-negative integer", a);
      out = *n;
      return "";
    };
    std::string err;
    if (a == "--table") {
      auto v = value();
      if (!v) return "--table needs a directory";
      o.table = *v;
    } else if (a == "--commits") {
      err = number(o.commits);
    } else if (a == "--files-per-commit") {
      err = number(o.files_per_commit);
    } else if (a == "--file-size") {
      err = number(o.file_size);
    } else if (a == "--remove-every") {
      err = number(o.remove_every);
    } else if (a == "--seed") {
      int64_t s = 0;
      err = number(s);
      o.seed = static_cast<uint64_t>(s);
    } else if (a == "--vacuum") {
      o.vacuum = true;
    } else if (a == "--dv") {
      o.dv = true;
    } else if (a == "--partitioned") {
      o.partitioned = true;
    } else if (a == "--durable") {
      o.durable = true;
    } else {
      return fmt::format("unknown argument '{}'", a);
    }
    if (!err.empty()) return err;
  }
  if (o.table.empty()) return "--table DIR is required";
  if (o.commits < 0) return "--commits N is required";
  if (o.files_per_commit < 0) return "--files-per-commit K is required";
  if (o.file_size < 0) return "--file-size BYTES is required";
  if (o.vacuum && o.remove_every == 0) return "--vacuum needs --remove-every M";
  return "";
}

std::string UuidText(std::mt19937_64& rng) {
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;  // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF,
                     hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

std::array<uint8_t, 16> UuidBytes(std::string_view text) {
  std::array<uint8_t, 16> out{};
  size_t n = 0;
  for (size_t i = 0; i + 1 < text.size() && n < 16;) {
    if (text[i] == '-') {
      ++i;
      continue;
    }
    out[n++] = static_cast<uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

// Z85 (the encoding of DV ids, DELTA_NOTES §2): 4 bytes big-endian → 5 characters.
std::string Z85Encode(const std::array<uint8_t, 16>& bytes) {
  static constexpr std::string_view kChars =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 4) {
    uint32_t acc = (uint32_t{bytes[i]} << 24) | (uint32_t{bytes[i + 1]} << 16) |
                   (uint32_t{bytes[i + 2]} << 8) | uint32_t{bytes[i + 3]};
    char chunk[5];
    for (int k = 4; k >= 0; --k) {
      chunk[k] = kChars[acc % 85];
      acc /= 85;
    }
    out.append(chunk, 5);
  }
  return out;
}

// CRC-32 (IEEE 802.3, as zlib.crc32), for the DV record checksum.
uint32_t Crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void PutBe32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// A deletion-vector file holding one RoaringBitmapArray that deletes rows 0..cardinality-1
// (one 32-bit bitmap, one array container; cardinality ≤ 4096). Layout (DELTA_NOTES §2):
// version byte 1, then at offset 1: size (BE), bitmap, CRC-32 of the bitmap (BE).
std::string DvFile(int64_t cardinality, int32_t* size_in_bytes) {
  std::string body;
  PutLe(body, 1681511377, 4);  // RoaringBitmapArray magic
  PutLe(body, 1, 8);           // number of 32-bit bitmaps
  PutLe(body, 0, 4);           // high 32 bits of this bitmap's keys
  PutLe(body, 12346, 4);       // portable format cookie, no run containers
  PutLe(body, 1, 4);           // containers
  PutLe(body, 0, 2);           // container key
  PutLe(body, static_cast<uint64_t>(cardinality - 1), 2);
  PutLe(body, 16, 4);  // container offset: cookie + count + key/card + this offset
  for (int64_t r = 0; r < cardinality; ++r) PutLe(body, static_cast<uint64_t>(r), 2);
  std::string file(1, '\x01');
  PutBe32(file, static_cast<uint32_t>(body.size()));
  file += body;
  PutBe32(file, Crc32(body));
  *size_in_bytes = static_cast<int32_t>(body.size());
  return file;
}

// Publishes a data or deletion-vector file. --durable: Storage::WriteAtomic (temp file,
// fsync, rename, fsync of the directory), as a real writer would. Otherwise temp file +
// rename without fsync: the file is still never visible half-written, and a test table of
// thousands of files is generated in a second instead of ten (fsync dominates on ext4).
Status PublishFile(storage::LocalStorage& storage, bool durable, const std::string& key,
                   std::string_view bytes) {
  if (durable) return storage.WriteAtomic(key, bytes);
  std::optional<std::string> full = storage.LocalPath(key);
  if (!full) return Status::InvalidArgument(fmt::format("'{}' is not a valid file key", key));
  std::filesystem::path path(*full);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec)
    return Status::IOError(
        fmt::format("creating {}: {}", path.parent_path().string(), ec.message()));
  const std::string tmp =
      path.parent_path().string() + "/.delta_gen-" + path.filename().string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status::FromErrno(errno, "creating " + tmp);
  const bool wrote = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const int err = errno;
  if (std::fclose(f) != 0 || !wrote) {
    std::remove(tmp.c_str());
    return Status::FromErrno(wrote ? errno : err, "writing " + tmp);
  }
  if (std::rename(tmp.c_str(), full->c_str()) != 0) {
    const int rename_err = errno;
    std::remove(tmp.c_str());
    return Status::FromErrno(rename_err, "renaming " + tmp + " to " + *full);
  }
  return Status::OK();
}

std::string RandomBytes(std::mt19937_64& rng, int64_t n) {
  std::string out(static_cast<size_t>(n), '\0');
  size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    uint64_t w = rng();
    std::memcpy(out.data() + i, &w, 8);
  }
  uint64_t w = rng();
  for (; i < out.size(); ++i, w >>= 8) out[i] = static_cast<char>(w & 0xFF);
  return out;
}

Result<int64_t> Generate(const Options& o) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(o.table, ec).lexically_normal().string();
  if (ec) return Status::InvalidArgument(fmt::format("--table {}: {}", o.table, ec.message()));
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  LAKESYNC_ASSIGN_OR_RETURN(Uri root, Uri::LocalPath(abs));
  LAKESYNC_ASSIGN_OR_RETURN(auto storage, storage::LocalStorage::Open(root));
  delta::DeltaLog log(*storage, "");

  const int64_t now_ms = ToUnixMillis(SystemClock::Instance().Now());
  std::vector<delta::Add> live;
  bool partitioned = o.partitioned;
  int64_t next_version = 0;
  auto head = log.HeadVersion();
  if (head.ok()) {
    LAKESYNC_ASSIGN_OR_RETURN(delta::Snapshot snap, log.LoadSnapshot(*head));
    for (const auto& f : snap.files()) live.push_back(f.add);
    partitioned = !snap.metadata().partition_columns.empty();
    if (o.dv && snap.protocol().min_reader_version < 3) {
      return Status::InvalidArgument(fmt::format(
          "{} was created without deletion vectors (reader version {}); drop --dv or generate "
          "a new table with --dv",
          abs, snap.protocol().min_reader_version));
    }
    next_version = *head + 1;
  } else if (head.status().code() != StatusCode::kNotFound) {
    return head.status();
  }

  // Seeded per starting version, so appending to a table never repeats earlier choices.
  std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(next_version));
  const int64_t end = next_version + o.commits;
  for (int64_t v = next_version; v < end; ++v) {
    std::vector<delta::Action> actions;
    if (v == 0) {
      delta::Protocol p;
      if (o.dv) {
        p.min_reader_version = 3;
        p.min_writer_version = 7;
        p.reader_features = std::vector<std::string>{"deletionVectors"};
        p.writer_features = std::vector<std::string>{"deletionVectors"};
      }
      actions.push_back(p);
      delta::Metadata m;
      std::random_device rd;
      std::mt19937_64 id_rng((uint64_t{rd()} << 32) ^ rd());
      m.id = UuidText(id_rng);
      m.schema_string =
          partitioned
              ? R"({"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"k","type":"string","nullable":true,"metadata":{}}]})"
              : R"({"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}}]})";
      if (partitioned) m.partition_columns = {"k"};
      if (o.dv) m.configuration["delta.enableDeletionVectors"] = "true";
      m.created_time = now_ms;
      actions.push_back(m);
    }
    const size_t earlier = live.size();  // files from earlier commits: [0, earlier)

    if (o.remove_every > 0 && v > 0 && v % o.remove_every == 0 && earlier > 0) {
      size_t idx = static_cast<size_t>(rng() % earlier);
      const delta::Add& victim = live[idx];
      delta::Remove r;
      r.path = victim.path;
      r.deletion_timestamp = now_ms;
      r.data_change = true;
      r.extended_file_metadata = true;
      r.partition_values = victim.partition_values;
      r.size = victim.size;
      r.deletion_vector = victim.deletion_vector;
      actions.push_back(r);
      if (o.vacuum) {
        LAKESYNC_RETURN_IF_ERROR(storage->Delete(victim.decoded_path));
        if (victim.deletion_vector && victim.deletion_vector->storage_type == 'u') {
          LAKESYNC_ASSIGN_OR_RETURN(std::string dv_path, victim.deletion_vector->RelativePath());
          Status st = storage->Delete(dv_path);
          if (!st.ok() && st.code() != StatusCode::kNotFound) return st;
        }
      }
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(idx));
    }

    const size_t dv_candidates = std::min(earlier, live.size());
    if (o.dv && v > 0 && dv_candidates > 0) {
      delta::Add& f = live[static_cast<size_t>(rng() % dv_candidates)];
      const int64_t rows = f.num_records.value_or(1);
      const int64_t old_card = f.deletion_vector ? f.deletion_vector->cardinality : 0;
      const int64_t card = std::min<int64_t>({old_card + 1, rows, 4096});
      if (card > old_card) {
        delta::Remove r;
        r.path = f.path;
        r.deletion_timestamp = now_ms;
        r.data_change = true;
        r.partition_values = f.partition_values;
        r.size = f.size;
        r.deletion_vector = f.deletion_vector;
        actions.push_back(r);

        const std::string uuid = UuidText(rng);
        const std::string prefix = fmt::format("{:02x}", static_cast<unsigned>(rng() & 0xFF));
        delta::DeletionVectorDescriptor dv;
        dv.storage_type = 'u';
        dv.path_or_inline_dv = prefix + Z85Encode(UuidBytes(uuid));
        dv.offset = 1;
        dv.cardinality = card;
        std::string bytes = DvFile(card, &dv.size_in_bytes);
        LAKESYNC_ASSIGN_OR_RETURN(std::string dv_path, dv.RelativePath());
        LAKESYNC_RETURN_IF_ERROR(PublishFile(*storage, o.durable, dv_path, bytes));

        f.deletion_vector = dv;
        f.raw_json.clear();  // re-serialise with the new descriptor
        f.modification_time = now_ms;
        actions.push_back(f);
      }
    }

    for (int64_t i = 0; i < o.files_per_commit; ++i) {
      delta::Add a;
      const std::string dir = partitioned ? fmt::format("k={}/", v % 4) : "";
      a.path = fmt::format("{}part-{:05d}-{:03d}-{}.parquet", dir, v, i, UuidText(rng));
      a.decoded_path = a.path;
      if (partitioned) a.partition_values["k"] = std::to_string(v % 4);
      std::string bytes = RandomBytes(rng, o.file_size);
      LAKESYNC_RETURN_IF_ERROR(PublishFile(*storage, o.durable, a.decoded_path, bytes));
      a.size = o.file_size;
      a.modification_time = now_ms;
      a.data_change = true;
      a.num_records = std::max<int64_t>(1, o.file_size / 8);
      a.stats = fmt::format(R"({{"numRecords":{}}})", *a.num_records);
      actions.push_back(a);
      live.push_back(a);
    }

    delta::CommitInfo ci;
    ci.timestamp = ToUnixMillis(SystemClock::Instance().Now());
    ci.operation = "WRITE";
    actions.push_back(ci);
    LAKESYNC_RETURN_IF_ERROR(delta::WriteCommit(*storage, "", v, actions));
  }
  return end - 1;
}

}  // namespace
}  // namespace lakesync::bench

int main(int argc, char** argv) {
  lakesync::bench::Options options;
  std::string err = lakesync::bench::ParseArgs(argc, argv, options);
  if (!err.empty()) {
    std::fprintf(stderr, "delta_gen: %s\n%.*s", err.c_str(),
                 static_cast<int>(lakesync::bench::kUsage.size()), lakesync::bench::kUsage.data());
    return 2;
  }
  auto head = lakesync::bench::Generate(options);
  if (!head.ok()) {
    std::fprintf(stderr, "delta_gen: %s\n", head.status().ToString().c_str());
    return 1;
  }
  std::printf("%lld\n", static_cast<long long>(*head));
  return 0;
}
